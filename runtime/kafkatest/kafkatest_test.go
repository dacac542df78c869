package kafkatest_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func ptr(s string) *string { return &s }

func TestProduceReadAll(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "orders", 3, nil)

	var recs []kafkatest.Record
	for i := range 30 {
		recs = append(recs, kafkatest.Record{
			Key:     []byte("cus-" + strconv.Itoa(i%7)),
			Value:   []byte(strconv.Itoa(i)),
			Headers: []kafka.Header{{Key: "h", Value: []byte("v" + strconv.Itoa(i))}},
		})
	}
	c.Produce(t, "orders", recs...)
	c.ProduceTo(t, "orders", 2, kafkatest.Record{Value: []byte("explicit")})

	got := c.ReadAll(t, "orders")
	if len(got) != 31 {
		t.Fatalf("ReadAll returned %d records, want 31", len(got))
	}
	keyPartition := map[string]int{}
	for _, r := range got {
		if r.Key == nil {
			if string(r.Value) != "explicit" || r.Partition != 2 {
				t.Errorf("unkeyed record %q landed on partition %d", r.Value, r.Partition)
			}
			continue
		}
		if p, ok := keyPartition[string(r.Key)]; ok && p != r.Partition {
			t.Errorf("key %s on partitions %d and %d", r.Key, p, r.Partition)
		}
		keyPartition[string(r.Key)] = r.Partition
		if len(r.Headers) != 1 || string(r.Headers[0].Value) != "v"+string(r.Value) {
			t.Errorf("record %s has headers %v", r.Value, r.Headers)
		}
	}
}

// TestKafkaGoFeatures checks, on a three-broker cluster, the kafka-go
// features the runtime and the operator rely on.
func TestKafkaGoFeatures(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Brokers(3))
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cl := c.Client()

	t.Run("WriterAcksAll", func(t *testing.T) {
		c.CreateTopic(t, "acks", 4, nil)
		w := &kafka.Writer{
			Addr: kafka.TCP(c.Addrs()...), Topic: "acks",
			RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
			Balancer: &kafka.Murmur2Balancer{},
		}
		defer w.Close()
		var msgs []kafka.Message
		for i := range 200 {
			msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(i)), Value: []byte("x")})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		if got := len(c.ReadAll(t, "acks")); got != 200 {
			t.Fatalf("read %d records, want 200", got)
		}
	})

	t.Run("ListOffsets", func(t *testing.T) {
		c.CreateTopic(t, "offsets", 2, nil)
		c.ProduceTo(t, "offsets", 1, kafkatest.Record{Value: []byte("a")}, kafkatest.Record{Value: []byte("b")})
		resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			"offsets": {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0), kafka.FirstOffsetOf(1), kafka.LastOffsetOf(1)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int][2]int64{}
		for _, p := range resp.Topics["offsets"] {
			if p.Error != nil {
				t.Fatal(p.Error)
			}
			got[p.Partition] = [2]int64{p.FirstOffset, p.LastOffset}
		}
		if got[0] != [2]int64{0, 0} || got[1] != [2]int64{0, 2} {
			t.Fatalf("offsets = %v, want p0 [0 0], p1 [0 2]", got)
		}
	})

	t.Run("CompactedTopicConfigs", func(t *testing.T) {
		c.CreateTopic(t, "state", 2, map[string]*string{"cleanup.policy": ptr("compact")})
		if v := describe(ctx, t, cl, "state", "cleanup.policy"); v != "compact" {
			t.Fatalf("cleanup.policy = %q, want compact", v)
		}
		resp, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
			Resources: []kafka.IncrementalAlterConfigsRequestResource{{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: "state",
				Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "retention.ms", Value: "3600000", ConfigOperation: kafka.ConfigOperationSet}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Resources {
			if r.Error != nil {
				t.Fatal(r.Error)
			}
		}
		if v := describe(ctx, t, cl, "state", "retention.ms"); v != "3600000" {
			t.Fatalf("retention.ms = %q after IncrementalAlterConfigs", v)
		}
		// AlterConfigs (non-incremental) replaces the whole set: the
		// cleanup policy must be restated.
		aresp, err := cl.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: "state",
			Configs: []kafka.AlterConfigRequestConfig{{Name: "cleanup.policy", Value: "compact"}, {Name: "retention.ms", Value: "7200000"}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range aresp.Errors {
			if e != nil {
				t.Fatal(e)
			}
		}
		if v := describe(ctx, t, cl, "state", "retention.ms"); v != "7200000" {
			t.Fatalf("retention.ms = %q after AlterConfigs", v)
		}
	})

	t.Run("ReaderGroupCommit", func(t *testing.T) {
		c.CreateTopic(t, "grp", 2, nil)
		for i := range 10 {
			c.ProduceTo(t, "grp", i%2, kafkatest.Record{Value: []byte(strconv.Itoa(i))})
		}
		newReader := func() *kafka.Reader {
			return kafka.NewReader(kafka.ReaderConfig{
				Brokers: c.Addrs(), GroupID: "g1", Topic: "grp",
				MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
				HeartbeatInterval: 200 * time.Millisecond, SessionTimeout: 2 * time.Second,
				StartOffset: kafka.FirstOffset,
			})
		}
		r := newReader()
		var last []kafka.Message
		for range 6 {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			last = append(last, m)
		}
		if err := r.CommitMessages(ctx, last...); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		committed := committedOffsets(ctx, t, cl, "g1", "grp", 2)
		if committed[0]+committed[1] != 6 {
			t.Fatalf("committed %v, want 6 records in total", committed)
		}
		r = newReader()
		defer r.Close()
		seen := map[string]bool{}
		for range 4 {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Offset < committed[m.Partition] {
				t.Errorf("resumed at partition %d offset %d, below committed %d", m.Partition, m.Offset, committed[m.Partition])
			}
			seen[string(m.Value)] = true
		}
		if len(seen) != 4 {
			t.Fatalf("second reader saw %v", seen)
		}
	})

	t.Run("ConsumerGroupRebalance", func(t *testing.T) {
		c.CreateTopic(t, "rb", 4, nil)
		join := func() (*kafka.ConsumerGroup, <-chan *kafka.Generation) {
			g, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
				ID: "g2", Brokers: c.Addrs(), Topics: []string{"rb"},
				HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 2 * time.Second,
				RebalanceTimeout: 5 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			gens := make(chan *kafka.Generation, 8)
			go func() {
				for {
					gen, err := g.Next(ctx)
					if err != nil {
						if ctx.Err() != nil || err == kafka.ErrGroupClosed {
							return
						}
						continue
					}
					// Hold the generation until it ends, like a real
					// consumer would.
					gen.Start(func(gctx context.Context) { <-gctx.Done() })
					gens <- gen
				}
			}()
			return g, gens
		}
		g1, gens1 := join()
		defer g1.Close()
		first := <-gens1
		if n := len(first.Assignments["rb"]); n != 4 {
			t.Fatalf("single member got %d partitions, want 4", n)
		}
		g2, gens2 := join()
		defer g2.Close()
		a, b := <-gens1, <-gens2
		if a.ID != b.ID {
			t.Fatalf("members in generations %d and %d", a.ID, b.ID)
		}
		var all []int
		for _, gen := range []*kafka.Generation{a, b} {
			if n := len(gen.Assignments["rb"]); n != 2 {
				t.Errorf("member %s got %d partitions, want 2", gen.MemberID, n)
			}
			for _, pa := range gen.Assignments["rb"] {
				all = append(all, pa.ID)
			}
		}
		sort.Ints(all)
		if fmt.Sprint(all) != "[0 1 2 3]" {
			t.Fatalf("partitions assigned %v, want each of 0..3 once", all)
		}
		if err := a.CommitOffsets(map[string]map[int]int64{"rb": {a.Assignments["rb"][0].ID: 1}}); err != nil {
			t.Fatalf("commit within generation: %v", err)
		}
	})
}

func describe(ctx context.Context, t *testing.T, cl *kafka.Client, topic, name string) string {
	t.Helper()
	resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue
			}
		}
	}
	return ""
}

func committedOffsets(ctx context.Context, t *testing.T, cl *kafka.Client, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Error != nil {
		t.Fatal(resp.Error)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

func TestDataDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	c := kafkatest.Start(t, kafkatest.DataDir(dir), kafkatest.Port(port))
	c.CreateTopic(t, "durable", 2, map[string]*string{"cleanup.policy": ptr("compact")})
	c.Produce(t, "durable", kafkatest.Record{Key: []byte("k"), Value: []byte("v1")}, kafkatest.Record{Key: []byte("j"), Value: []byte("v2")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := c.Client()
	resp, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: "dev", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"durable": {{Partition: 0, Offset: 1}}},
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
	cl.Transport.(*kafka.Transport).CloseIdleConnections()
	c.Close()

	c2 := kafkatest.Start(t, kafkatest.DataDir(dir), kafkatest.Port(port))
	if got := c2.ReadAll(t, "durable"); len(got) != 2 {
		t.Fatalf("after restart ReadAll = %d records, want 2", len(got))
	}
	cl2 := c2.Client()
	if got := committedOffsets(ctx, t, cl2, "dev", "durable", 2); got[0] != 1 {
		t.Fatalf("after restart committed = %v, want partition 0 at 1", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	// Two consecutive free ports are not guaranteed; one broker needs one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
