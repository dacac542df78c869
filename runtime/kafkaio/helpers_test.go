package kafkaio_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// testConfig has short group timings so that rebalances take well under a
// second on kfake.
func testConfig(c *kafkatest.Cluster, group string, topics ...string) kafkaio.Config {
	return kafkaio.Config{
		Brokers:           c.Addrs(),
		Group:             group,
		Topics:            topics,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    2 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		MaxWait:           100 * time.Millisecond,
	}
}

func newClient(t testing.TB, cfg kafkaio.Config) *kafkaio.Client {
	t.Helper()
	c, err := kafkaio.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder is a Handler that records what it is given and, if commit is
// set, commits each batch right after it.
type recorder struct {
	name   string
	src    kafkaio.Source
	commit bool
	// start overrides the start offsets returned by OnAssigned.
	start map[kafkaio.TopicPartition]int64

	mu          sync.Mutex
	assignments []kafkaio.Assignment
	revocations [][]kafkaio.TopicPartition
	offsets     map[kafkaio.TopicPartition][]int64
	values      map[string]int
	inflight    map[int]bool
	overlaps    int
	commitErrs  []error
}

func newRecorder(name string, src kafkaio.Source, commit bool) *recorder {
	return &recorder{name: name, src: src, commit: commit,
		offsets: map[kafkaio.TopicPartition][]int64{}, values: map[string]int{}, inflight: map[int]bool{}}
}

func (r *recorder) OnAssigned(_ context.Context, a kafkaio.Assignment) (map[kafkaio.TopicPartition]int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.assignments = append(r.assignments, a)
	return r.start, nil
}

func (r *recorder) OnBatch(ctx context.Context, b kafkaio.Batch) error {
	r.mu.Lock()
	if r.inflight[b.Partition] {
		r.overlaps++
	}
	r.inflight[b.Partition] = true
	tp := kafkaio.TopicPartition{Topic: b.Topic, Partition: b.Partition}
	for _, m := range b.Messages {
		r.offsets[tp] = append(r.offsets[tp], m.Offset)
		r.values[string(m.Value)]++
	}
	r.mu.Unlock()
	// Give a concurrent batch of the same partition number a chance to
	// show up.
	time.Sleep(time.Millisecond)
	var err error
	if r.commit {
		err = r.src.Commit(ctx, map[kafkaio.TopicPartition]int64{tp: b.NextOffset()})
	}
	r.mu.Lock()
	r.inflight[b.Partition] = false
	if err != nil {
		r.commitErrs = append(r.commitErrs, err)
	}
	r.mu.Unlock()
	return nil
}

func (r *recorder) OnRevoked(_ context.Context, ps []kafkaio.TopicPartition) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revocations = append(r.revocations, slices.Clone(ps))
	return nil
}

func (r *recorder) distinctValues() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.values)
}

func (r *recorder) lastAssignment() (kafkaio.Assignment, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.assignments) == 0 {
		return kafkaio.Assignment{}, 0
	}
	return r.assignments[len(r.assignments)-1], len(r.assignments)
}

// runSource runs src with h in the background; the returned stop cancels
// it and returns Run's error.
func runSource(t testing.TB, src kafkaio.Source, h kafkaio.Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				err = fmt.Errorf("Run did not return within 20s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func keyed(n int, prefix string) []kafkatest.Record {
	recs := make([]kafkatest.Record, n)
	for i := range recs {
		recs[i] = kafkatest.Record{
			Key:   fmt.Appendf(nil, "cus-%d", i%17),
			Value: fmt.Appendf(nil, "%s-%d", prefix, i),
		}
	}
	return recs
}

func message(topic, key, value string) kafka.Message {
	return kafka.Message{Topic: topic, Key: []byte(key), Value: []byte(value)}
}
