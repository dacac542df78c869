package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/audit"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// ErrKafkaUnreachable wraps failures to reach the Pipeline's brokers.
var ErrKafkaUnreachable = errors.New("kafka unreachable")

// ErrNotAcknowledged is returned when the runtime did not acknowledge every
// request within the ack timeout.
var ErrNotAcknowledged = errors.New("not every request was acknowledged")

// Topics are the Pipeline topics a run uses (engine.Settings resolves
// their defaults).
type Topics struct {
	Transactions string
	Control      string
	Audit        string
	// Profiles are the compacted topics keyed by customer ID that erasure
	// tombstones directly.
	Profiles []string
}

// Channel sends retention requests to a Pipeline's runtime and collects
// their acknowledgements; it also writes the run's own audit records and
// tombstones.
type Channel struct {
	client     *kafkaio.Client
	topics     Topics
	partitions int // of transactions and control
	auditParts int
	writer     *kafkaio.Writer // explicit partitions
	hashed     *kafkaio.Writer // murmur2 on the key
	// AckTimeout bounds how long a target waits for acknowledgements.
	AckTimeout time.Duration
}

// Dial checks that the brokers answer within timeout and that the control
// and audit topics exist, the control topic co-partitioned with
// transactions. Unreachable brokers give an error wrapping
// ErrKafkaUnreachable; missing or mismatched topics an error naming the
// Pipeline field.
func Dial(ctx context.Context, cfg kafkaio.Config, topics Topics, timeout time.Duration) (*Channel, error) {
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 250 * time.Millisecond
	}
	if cfg.DialTimeout == 0 || cfg.DialTimeout > timeout {
		cfg.DialTimeout = timeout
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	cl, err := kafkaio.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.Ping(tctx); err != nil {
		_ = cl.Close()
		return nil, fmt.Errorf("%w: %v", ErrKafkaUnreachable, err)
	}
	counts := map[string]int{}
	for _, t := range []struct{ name, field string }{
		{topics.Transactions, "spec.topics.transactions"}, {topics.Control, "spec.topics.control"}, {topics.Audit, "spec.topics.audit"},
	} {
		c, err := cl.PartitionCounts(tctx, t.name)
		if err != nil {
			_ = cl.Close()
			if errors.Is(err, kafka.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("pipeline %s: topic %s does not exist (the runtime creates it when it starts): %w", t.field, t.name, err)
			}
			return nil, fmt.Errorf("%w: %v", ErrKafkaUnreachable, err)
		}
		counts[t.name] = c[t.name]
	}
	if counts[topics.Control] != counts[topics.Transactions] {
		_ = cl.Close()
		return nil, fmt.Errorf("pipeline spec.topics.control: topic %s has %d partitions, transactions %s has %d; they must be equal",
			topics.Control, counts[topics.Control], topics.Transactions, counts[topics.Transactions])
	}
	return &Channel{client: cl, topics: topics, partitions: counts[topics.Control], auditParts: counts[topics.Audit],
		writer: cl.NewPartitionWriter(), hashed: cl.NewWriter(), AckTimeout: 2 * time.Minute}, nil
}

// Close releases the channel's connections.
func (c *Channel) Close() error {
	return errors.Join(c.writer.Close(), c.hashed.Close(), c.client.Close())
}

// Partitions returns the control topic's partition count.
func (c *Channel) Partitions() int { return c.partitions }

// partitionOf is the partition of key under the default partitioner
// (murmur2), the one transactions are produced with.
func partitionOf(key []byte, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: key}, parts...)
}

// request is one control record with the partition it goes to.
type request struct {
	rec       engine.ControlRecord
	key       []byte
	partition int
}

// Acks are the runtime's acknowledgements of one request ID, by seq.
type Acks map[int]audit.Record

// Totals sums the customers and entries of the acknowledgements.
func (a Acks) Totals() (customers, entries int64) {
	for _, r := range a {
		customers += r.Customers
		entries += r.Entries
	}
	return customers, entries
}

// send writes reqs (all of one request ID) to the control topic and waits
// up to AckTimeout for an acknowledgement of each. It returns those that
// arrived; err wraps ErrNotAcknowledged when some did not.
func (c *Channel) send(ctx context.Context, requestID string, reqs []request) (Acks, error) {
	ackPart := partitionOf([]byte(requestID), c.auditParts)
	_, from, err := c.client.OffsetRange(ctx, c.topics.Audit, ackPart)
	if err != nil {
		return nil, fmt.Errorf("%w: failed to read the offsets of %s: %v", ErrKafkaUnreachable, c.topics.Audit, err)
	}
	msgs := make([]kafka.Message, len(reqs))
	for i, r := range reqs {
		b, err := json.Marshal(r.rec)
		if err != nil {
			return nil, err
		}
		msgs[i] = kafka.Message{Topic: c.topics.Control, Partition: r.partition, Key: r.key, Value: b}
	}
	if err := c.writer.WriteBatch(ctx, msgs); err != nil {
		return nil, fmt.Errorf("%w: failed to send the requests to %s: %v", ErrKafkaUnreachable, c.topics.Control, err)
	}
	acks := Acks{}
	wctx, cancel := context.WithTimeout(ctx, c.AckTimeout)
	defer cancel()
	for next := from; len(acks) < len(reqs); {
		recs, n, err := c.client.FetchFrom(wctx, c.topics.Audit, ackPart, next)
		if wctx.Err() != nil {
			break
		}
		if err != nil {
			// Transient: the broker may be electing a leader. Wait a bit.
			select {
			case <-wctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		next = n
		for _, m := range recs {
			if string(m.Key) != requestID {
				continue
			}
			var a audit.Record
			if json.Unmarshal(m.Value, &a) != nil || a.RequestID != requestID || a.Source != audit.SourceRuntime {
				continue
			}
			// A replay after a runtime crash may acknowledge twice, with
			// the same counts: the first one counts.
			if _, dup := acks[a.Seq]; !dup {
				acks[a.Seq] = a
			}
		}
	}
	if len(acks) < len(reqs) {
		return acks, fmt.Errorf("%w: %d of %d requests acknowledged within %s", ErrNotAcknowledged, len(acks), len(reqs), c.AckTimeout)
	}
	return acks, nil
}

// Erase sends one EraseCustomer request per ID, keyed by it.
func (c *Channel) Erase(ctx context.Context, run *Run, ids []string) (Acks, error) {
	reqs := make([]request, len(ids))
	for i, id := range ids {
		reqs[i] = request{key: []byte(id), partition: partitionOf([]byte(id), c.partitions), rec: engine.ControlRecord{
			RequestID: run.RequestID + "/erasure", Seq: i, Action: engine.ControlEraseCustomer, CustomerID: id,
			Policy: &run.Policy, DryRun: run.DryRun}}
	}
	return c.send(ctx, run.RequestID+"/erasure", reqs)
}

// ForgetInactive sends one ForgetInactive request to every partition.
func (c *Channel) ForgetInactive(ctx context.Context, run *Run, cutoff time.Time) (Acks, error) {
	id := run.RequestID + "/customer-state"
	reqs := make([]request, c.partitions)
	for p := range reqs {
		reqs[p] = request{key: []byte(id), partition: p, rec: engine.ControlRecord{
			RequestID: id, Seq: p, Action: engine.ControlForgetInactive, InactiveBefore: &cutoff,
			Policy: &run.Policy, DryRun: run.DryRun}}
	}
	return c.send(ctx, id, reqs)
}

// Tombstone writes a tombstone for each ID to a compacted topic keyed by
// customer ID, partitioned by murmur2 on the key like the records it
// deletes.
func (c *Channel) Tombstone(ctx context.Context, topic string, ids []string) error {
	msgs := make([]kafka.Message, len(ids))
	for i, id := range ids {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte(id)}
	}
	if err := c.hashed.WriteBatch(ctx, msgs); err != nil {
		return fmt.Errorf("failed to write tombstones to %s: %w", topic, err)
	}
	return nil
}

// Audit writes one of the run's own audit records, keyed by its request ID.
func (c *Channel) Audit(ctx context.Context, rec audit.Record) error {
	msg := kafka.Message{Topic: c.topics.Audit, Key: []byte(rec.RequestID), Value: rec.Marshal()}
	if err := c.hashed.WriteBatch(ctx, []kafka.Message{msg}); err != nil {
		return fmt.Errorf("failed to write the audit record to %s: %w", c.topics.Audit, err)
	}
	return nil
}
