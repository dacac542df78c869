// Package embedkafka runs an in-process Kafka cluster (franz-go's kfake)
// that speaks the real wire protocol on loopback TCP ports, so kafka-go and
// any other client talk to it unchanged.
//
// It is what `ecap dev` starts instead of a real cluster, and what the test
// helpers in runtime/kafkatest wrap. It imports no testing package, so the
// production binary can link it without the test helpers.
//
// Semantics worth knowing (they differ from a real Kafka):
//   - Every broker listens on 127.0.0.1 only.
//   - With DataDir set, topics, records, committed offsets and group state
//     survive Close and a later Start on the same directory. Clients cache
//     broker addresses, so a restart should reuse the same Port.
//   - Writes are not fsynced per batch (like Kafka's defaults); a clean Close
//     flushes everything, a killed process can lose the newest batches.
//   - Compaction runs on a timer (log.cleaner.backoff.ms) or on Compact.
package embedkafka

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configures an embedded cluster. The zero value is one in-memory
// broker on a random port.
type Options struct {
	// Brokers is the number of brokers, default 1. A topic created with
	// replication factor -1 gets min(3, Brokers) replicas.
	Brokers int
	// DataDir, when set, persists the cluster's state there and reloads it
	// on start. Empty keeps everything in memory.
	DataDir string
	// Port is the first broker's port; broker i listens on Port+i. Zero picks
	// random free ports.
	Port int
	// GroupMinSessionTimeout lowers the smallest consumer group session
	// timeout the cluster accepts (kfake's default is 6s, like Kafka).
	GroupMinSessionTimeout time.Duration
	// Logger receives the cluster's warnings and errors; nil discards them.
	Logger *slog.Logger
	// Extra are further kfake options, applied after the ones above.
	Extra []kfake.Opt
}

// Cluster is a running embedded cluster. It is safe for concurrent use.
type Cluster struct {
	kc       *kfake.Cluster
	addrs    []string
	stopOnce sync.Once
	stop     chan struct{}
}

// Start starts a cluster and returns once every broker accepts connections.
// The cluster stops on Close or when ctx is done, whichever comes first.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Brokers == 0 {
		o.Brokers = 1
	}
	if o.Brokers < 0 {
		return nil, fmt.Errorf("invalid broker count %d", o.Brokers)
	}
	opts := []kfake.Opt{kfake.NumBrokers(o.Brokers)}
	if o.Port != 0 {
		ports := make([]int, o.Brokers)
		for i := range ports {
			ports[i] = o.Port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("failed to create kafka data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(o.GroupMinSessionTimeout))
	}
	if o.Logger != nil {
		opts = append(opts, kfake.WithLogger(slogAdapter{o.Logger}))
	}
	opts = append(opts, o.Extra...)

	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to start embedded kafka: %w", err)
	}
	c := &Cluster{kc: kc, addrs: kc.ListenAddrs(), stop: make(chan struct{})}
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				c.Close()
			case <-c.stop:
			}
		}()
	}
	return c, nil
}

// Addrs returns the brokers' host:port addresses, for bootstrap lists.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Close stops the cluster, flushing its state to DataDir if one is set. It
// is idempotent.
func (c *Cluster) Close() {
	c.stopOnce.Do(func() {
		close(c.stop)
		c.kc.Close()
	})
}

// Compact compacts every topic whose cleanup.policy includes compact and
// applies retention to every topic, now rather than on the cleaner's timer.
func (c *Cluster) Compact() { c.kc.Compact() }

// Kfake returns the underlying kfake cluster, for fault injection
// (ControlKey, MoveTopicPartition, ...) in tests.
func (c *Cluster) Kfake() *kfake.Cluster { return c.kc }

// slogAdapter forwards kfake's printf-style log lines to slog. kfake's info
// and debug levels log every request; only warnings and errors pass.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	default:
		return
	}
	a.l.Log(context.Background(), l, "embedded kafka", "msg", fmt.Sprintf(format, args...))
}
