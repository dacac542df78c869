package ctxtime

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	if !Sleep(ctx, 20*time.Millisecond) {
		t.Fatal("Sleep on a live context reported it ended")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("Sleep returned after %v, want at least 20ms", waited)
	}
	if !Sleep(ctx, 0) {
		t.Fatal("Sleep(0) on a live context reported it ended")
	}
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	start = time.Now()
	if Sleep(ctx, time.Minute) {
		t.Fatal("Sleep reported a cancelled context alive")
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("Sleep waited %v after the context ended", waited)
	}
	if Sleep(ctx, 0) {
		t.Fatal("Sleep(0) reported a cancelled context alive")
	}
}
