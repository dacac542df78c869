package embedkafka_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/kafkatest/embedkafka"
)

func TestStartStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, err := embedkafka.Start(ctx, embedkafka.Options{Brokers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := c.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("Addrs = %v, want 3 brokers", addrs)
	}
	for _, a := range addrs {
		conn, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			t.Fatalf("broker %s not listening: %v", a, err)
		}
		conn.Close()
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addrs[0], time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("cluster still listening after its ctx was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close() // idempotent
}

func TestStartInvalidOptions(t *testing.T) {
	if _, err := embedkafka.Start(context.Background(), embedkafka.Options{Brokers: -1}); err == nil {
		t.Fatal("Start accepted -1 brokers")
	}
}
