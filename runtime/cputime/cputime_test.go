package cputime

import (
	"runtime"
	"testing"
	"time"
)

func TestProcessAdvancesWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Fatalf("ECAP supports unix platforms only, not %s", runtime.GOOS)
	}
	start := Process()
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	if got := Process() - start; got <= 0 {
		t.Fatalf("CPU time did not advance over 50ms of busy work (%d iterations): %v", x, got)
	}
}
