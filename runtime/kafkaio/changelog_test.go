package kafkaio_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func kv(key, value string) kafka.Message {
	m := kafka.Message{Key: []byte(key)}
	if value != "" {
		m.Value = []byte(value)
	}
	return m
}

func restore(t *testing.T, l kafkaio.Changelog, partition int) (map[string]string, int) {
	t.Helper()
	state := map[string]string{}
	calls := 0
	err := l.Restore(context.Background(), partition, func(key, value []byte) error {
		calls++
		if value == nil {
			delete(state, string(key))
		} else {
			state[string(key)] = string(value)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state, calls
}

func TestChangelogAppendRestore(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Brokers(3))
	cl := newClient(t, kafkaio.Config{Brokers: c.Addrs()})
	ctx := context.Background()
	if err := cl.EnsureTopics(ctx, kafkaio.CompactedTopic("state", 4, 3)); err != nil {
		t.Fatal(err)
	}
	l := cl.NewChangelog("state")
	defer l.Close()

	appends := []struct {
		partition int
		records   []kafka.Message
	}{
		{2, []kafka.Message{kv("k1", "v1"), kv("k2", "v1"), kv("k1", "v2")}},
		{1, []kafka.Message{kv("k1", "other")}},
		{2, []kafka.Message{kv("k2", ""), kv("k3", "v3")}}, // k2 tombstone
		{2, []kafka.Message{kv("k4", "v4"), kv("k4", "v5")}},
	}
	for _, a := range appends {
		if err := l.Append(ctx, a.partition, a.records); err != nil {
			t.Fatal(err)
		}
	}

	// Records land on the partition asked for, not a hashed one.
	if got := c.ReadPartition(t, "state", 2); len(got) != 7 {
		t.Fatalf("partition 2 holds %d records, want 7", len(got))
	}
	if got := c.ReadPartition(t, "state", 1); len(got) != 1 || string(got[0].Value) != "other" {
		t.Fatalf("partition 1 holds %v, want the one record", got)
	}

	want := map[string]string{"k1": "v2", "k3": "v3", "k4": "v5"}
	got, calls := restore(t, l, 2)
	if !maps.Equal(got, want) {
		t.Fatalf("restored %v, want %v", got, want)
	}
	if calls != 7 {
		t.Errorf("restore made %d calls before compaction, want 7", calls)
	}
	if got, _ := restore(t, l, 3); len(got) != 0 {
		t.Errorf("empty partition restored %v", got)
	}

	// After the broker compacts, the restored state is the same and fewer
	// records are read.
	c.Compact()
	got, calls = restore(t, l, 2)
	if !maps.Equal(got, want) {
		t.Fatalf("restored %v after compaction, want %v", got, want)
	}
	t.Logf("restore after compaction read %d records", calls)

	// A handler error stops the restore.
	boom := errors.New("corrupt")
	if err := l.Restore(ctx, 2, func([]byte, []byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Restore = %v, want the callback's error", err)
	}
	if err := l.Restore(ctx, 9, func([]byte, []byte) error { return nil }); err == nil {
		t.Fatal("Restore of a partition that does not exist succeeded")
	}
}

func TestEnsureTopics(t *testing.T) {
	c := kafkatest.Start(t)
	cl := newClient(t, kafkaio.Config{Brokers: c.Addrs()})
	ctx := context.Background()
	specs := []kafkaio.TopicSpec{
		{Name: "tx", Partitions: 4},
		kafkaio.CompactedTopic("tx-state", 4, 0),
	}
	for range 2 {
		if err := cl.EnsureTopics(ctx, specs...); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	if n := c.Partitions(t, "tx-state"); n != 4 {
		t.Fatalf("tx-state has %d partitions", n)
	}
	if v := topicConfig(t, c, "tx-state", "cleanup.policy"); v != "compact" {
		t.Fatalf("cleanup.policy = %q", v)
	}

	// A topic someone created with the delete policy is switched to
	// compact; the partition count is checked, never changed.
	c.CreateTopic(t, "profiles", 4, nil)
	if err := cl.EnsureTopics(ctx, kafkaio.CompactedTopic("profiles", 4, 0)); err != nil {
		t.Fatal(err)
	}
	if v := topicConfig(t, c, "profiles", "cleanup.policy"); v != "compact" {
		t.Fatalf("profiles cleanup.policy = %q after EnsureTopics", v)
	}
	err := cl.EnsureTopics(ctx, kafkaio.TopicSpec{Name: "tx", Partitions: 8})
	if err == nil || !strings.Contains(err.Error(), "has 4 partitions, want 8") {
		t.Fatalf("EnsureTopics with another partition count = %v", err)
	}
}

func topicConfig(t *testing.T, c *kafkatest.Cluster, topic, name string) string {
	t.Helper()
	resp, err := c.Client().DescribeConfigs(context.Background(), &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue
			}
		}
	}
	return ""
}

func TestLag(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "a", 3, nil)
	c.CreateTopic(t, "b", 1, nil)
	for p, n := range []int{10, 5, 0} {
		for i := range n {
			c.ProduceTo(t, "a", p, kafkatest.Record{Value: fmt.Appendf(nil, "%d", i)})
		}
	}
	c.ProduceTo(t, "b", 0, kafkatest.Record{Value: []byte("x")}, kafkatest.Record{Value: []byte("y")})
	cl := newClient(t, kafkaio.Config{Brokers: c.Addrs()})
	ctx := context.Background()

	total, per, err := cl.Lag(ctx, "nobody-yet", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[kafkaio.TopicPartition]int64{{"a", 0}: 10, {"a", 1}: 5, {"a", 2}: 0, {"b", 0}: 2}
	if total != 17 || !maps.Equal(per, want) {
		t.Fatalf("lag before any commit = %d %v, want 17 %v", total, per, want)
	}

	// Commit as a group with no live member would (the operator's view of
	// a scaled-down pipeline).
	resp, err := c.Client().OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: "nobody-yet", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"a": {{Partition: 0, Offset: 4}, {Partition: 1, Offset: 5}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatal(p.Error)
			}
		}
	}
	total, per, err = cl.Lag(ctx, "nobody-yet", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want = map[kafkaio.TopicPartition]int64{{"a", 0}: 6, {"a", 1}: 0, {"a", 2}: 0, {"b", 0}: 2}
	if total != 8 || !maps.Equal(per, want) {
		t.Fatalf("lag after commit = %d %v, want 8 %v", total, per, want)
	}

	if _, _, err := cl.Lag(ctx, "g", []string{"nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("Lag of a missing topic = %v, want an error naming it", err)
	}
}
