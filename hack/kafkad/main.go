// Command kafkad runs the embedded Kafka (kfake) as a process of its own
// and prints its broker addresses, comma-separated, on the first line of
// stdout. It stops when stdin closes or on SIGTERM.
//
// The fraud latency measurement uses it so that the broker is not in the
// measured process, as it is not in a deployment: kfake keeps every record
// in memory, and with it in the engine's process the garbage collector
// marks the whole broker log, which shows as a tail of about 100 ms on its
// own.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ecap-dev/ecap/runtime/kafkatest/embedkafka"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := embedkafka.Start(ctx, embedkafka.Options{GroupMinSessionTimeout: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkad:", err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Println(strings.Join(c.Addrs(), ","))
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
}
