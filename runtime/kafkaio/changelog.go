package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/segmentio/kafka-go"
)

// Changelog is a compacted topic holding per-partition state, the Kafka
// Streams pattern: partition n of the changelog holds the state derived
// from partition n of the input topics, so a member that is assigned input
// partition n restores changelog partition n.
type Changelog interface {
	// Append writes records to changelog partition `partition`, in order,
	// and returns nil only once all are acknowledged by all in-sync
	// replicas. A nil Value is a tombstone (compaction removes the key).
	// Only the Key, Value, Headers and Time of records are used, and the
	// records are rewritten in place with those fields only (no copy of a
	// checkpoint's tens of thousands of records). On error
	// any subset may have been written; appending the same records again
	// is harmless, since a restore keeps the last value per key.
	Append(ctx context.Context, partition int, records []kafka.Message) error

	// Restore reads changelog partition `partition` from its log start to
	// the high watermark observed when Restore starts, calling fn for each
	// record in offset order (value nil for tombstones). Applying the calls
	// in order (last write wins per key) yields the state whether or not
	// the broker has compacted the partition yet. fn's error stops Restore
	// and is returned.
	Restore(ctx context.Context, partition int, fn func(key, value []byte) error) error
}

// TopicChangelog is the Changelog on one topic.
type TopicChangelog struct {
	c     *Client
	topic string
	w     batchWriters
}

var _ Changelog = (*TopicChangelog)(nil)

// NewChangelog returns the Changelog on topic. Create the topic with
// EnsureTopics and CompactedTopic, with as many partitions as the inputs.
func (c *Client) NewChangelog(topic string) *TopicChangelog {
	return &TopicChangelog{c: c, topic: topic, w: c.newBatchWriters(topic, func() kafka.Balancer { return explicitPartition{} }, allToOnePartition)}
}

// Topic returns the changelog topic name.
func (l *TopicChangelog) Topic() string { return l.topic }

// Append implements Changelog.
func (l *TopicChangelog) Append(ctx context.Context, partition int, records []kafka.Message) error {
	if partition < 0 {
		return fmt.Errorf("failed to append to changelog %s: invalid partition %d", l.topic, partition)
	}
	if len(records) == 0 {
		return nil
	}
	for i, r := range records {
		records[i] = kafka.Message{Partition: partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Time: r.Time}
	}
	if err := l.w.write(ctx, records); err != nil {
		return fmt.Errorf("changelog %s/%d: %w", l.topic, partition, writeErr(err, records))
	}
	return nil
}

// Close waits for appends in flight and releases the writer.
func (l *TopicChangelog) Close() error { return l.w.Close() }

// Restore implements Changelog.
func (l *TopicChangelog) Restore(ctx context.Context, partition int, fn func(key, value []byte) error) error {
	first, end, err := l.c.offsetRange(ctx, l.topic, partition)
	if err != nil {
		return fmt.Errorf("failed to restore changelog %s/%d: %w", l.topic, partition, err)
	}
	for next := first; next < end; {
		resp, err := l.c.admin.Fetch(ctx, &kafka.FetchRequest{
			Topic: l.topic, Partition: partition, Offset: next,
			MinBytes: 1, MaxBytes: int64(l.c.cfg.MaxBytes), MaxWait: l.c.cfg.MaxWait,
		})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return fmt.Errorf("failed to restore changelog %s/%d at offset %d: %w", l.topic, partition, next, err)
		}
		read := 0
		for {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("failed to restore changelog %s/%d at offset %d: %w", l.topic, partition, next, err)
			}
			// A fetch can begin with records before the requested offset
			// and end with records appended after Restore started.
			if r.Offset < next || r.Offset >= end {
				continue
			}
			key, err := kafka.ReadAll(r.Key)
			if err != nil {
				return err
			}
			value, err := kafka.ReadAll(r.Value)
			if err != nil {
				return err
			}
			if err := fn(key, value); err != nil {
				return err
			}
			next = r.Offset + 1
			read++
		}
		if read == 0 {
			// The broker has nothing from next on below end: the tail was
			// compacted away (tombstones past delete.retention.ms).
			break
		}
	}
	return nil
}

// offsetRange returns the log start offset and the high watermark of a
// partition, asking the partition leader (not the metadata cache).
func (c *Client) offsetRange(ctx context.Context, topic string, partition int) (first, end int64, err error) {
	resp, err := c.admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(partition), kafka.LastOffsetOf(partition)},
	}})
	if err != nil {
		return 0, 0, err
	}
	for _, po := range resp.Topics[topic] {
		if po.Partition != partition {
			continue
		}
		if po.Error != nil {
			return 0, 0, po.Error
		}
		return po.FirstOffset, po.LastOffset, nil
	}
	return 0, 0, fmt.Errorf("partition %d: %w", partition, kafka.UnknownTopicOrPartition)
}
