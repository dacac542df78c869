package retention

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/audit"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func TestDialChecksTopics(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "txns", 4, nil)
	c.CreateTopic(t, "audit", 2, nil)
	cfg := kafkaio.Config{Brokers: c.Addrs()}
	topics := Topics{Transactions: "txns", Control: "control", Audit: "audit"}
	ctx := context.Background()

	_, err := Dial(ctx, cfg, topics, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "spec.topics.control: topic control does not exist") {
		t.Fatalf("missing control topic: %v", err)
	}
	c.CreateTopic(t, "control", 3, nil)
	_, err = Dial(ctx, cfg, topics, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "spec.topics.control: topic control has 3 partitions") {
		t.Fatalf("control not co-partitioned: %v", err)
	}

	t0 := time.Now()
	_, err = Dial(ctx, kafkaio.Config{Brokers: []string{"127.0.0.1:1"}}, topics, time.Second)
	if !errors.Is(err, ErrKafkaUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable brokers: %v", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("Dial took %s with a 1s timeout", d)
	}
}

// TestAcknowledgementsAreBoundedAndCounted: without a runtime the wait ends
// after AckTimeout with ErrNotAcknowledged; acknowledgements count once
// per request even when a replay repeats them, and records of other
// requests or from the job are ignored.
func TestAcknowledgementsAreBoundedAndCounted(t *testing.T) {
	c := kafkatest.Start(t)
	for _, topic := range []string{"txns", "control"} {
		c.CreateTopic(t, topic, 4, nil)
	}
	c.CreateTopic(t, "audit", 3, nil)
	ctx := context.Background()
	ch, err := Dial(ctx, kafkaio.Config{Brokers: c.Addrs()}, Topics{Transactions: "txns", Control: "control", Audit: "audit"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	ch.AckTimeout = time.Second
	run := &Run{Policy: audit.Policy{Namespace: "ns", Name: "p"}, RequestID: "ns/p/1", Now: time.Now()}

	t0 := time.Now()
	acks, err := ch.ForgetInactive(ctx, run, time.Now().Add(-time.Hour))
	if !errors.Is(err, ErrNotAcknowledged) || len(acks) != 0 {
		t.Fatalf("without a runtime: %d acks, %v", len(acks), err)
	}
	if d := time.Since(t0); d < time.Second || d > 10*time.Second {
		t.Errorf("waited %s for a 1s ack timeout", d)
	}
	if n := len(c.ReadAll(t, "control")); n != 4 {
		t.Errorf("%d control records, want one per partition", n)
	}

	// A stand-in runtime acknowledges partitions 0 and 1 of the next
	// request, 1 twice (a replay), plus noise.
	id := run.RequestID + "/customer-state"
	part := func(p int32) *int32 { return &p }
	ack := func(r audit.Record) kafkatest.Record {
		return kafkatest.Record{Key: []byte(r.RequestID), Value: r.Marshal()}
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		c.Produce(t, "audit",
			ack(audit.Record{RequestID: id, Seq: 0, Source: audit.SourceRuntime, Partition: part(0), Customers: 3, Entries: 6}),
			ack(audit.Record{RequestID: id, Seq: 1, Source: audit.SourceRuntime, Partition: part(1), Customers: 2, Entries: 4}),
			ack(audit.Record{RequestID: id, Seq: 1, Source: audit.SourceRuntime, Partition: part(1), Customers: 2, Entries: 4}),
			ack(audit.Record{RequestID: id, Seq: 2, Source: audit.SourceJob, Customers: 100}),
			ack(audit.Record{RequestID: "other", Seq: 3, Source: audit.SourceRuntime, Customers: 100}))
	}()
	acks, err = ch.ForgetInactive(ctx, run, time.Now().Add(-time.Hour))
	if !errors.Is(err, ErrNotAcknowledged) || !strings.Contains(err.Error(), "2 of 4 requests acknowledged") {
		t.Fatalf("partial acknowledgement: %v", err)
	}
	if customers, entries := acks.Totals(); len(acks) != 2 || customers != 5 || entries != 10 {
		t.Errorf("acks %v: %d customers, %d entries; want 2 acks, 5 and 10", acks, customers, entries)
	}
}
