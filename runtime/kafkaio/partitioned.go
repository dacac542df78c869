package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/segmentio/kafka-go"
)

// PartitionCounts returns the partition count of each topic, asking a
// broker directly; a missing topic is an error wrapping
// kafka.UnknownTopicOrPartition, unreachable brokers an error naming each.
func (c *Client) PartitionCounts(ctx context.Context, topics ...string) (map[string]int, error) {
	return c.partitionCounts(ctx, topics...)
}

// OffsetRange returns the log start offset and the high watermark of a
// topic partition.
func (c *Client) OffsetRange(ctx context.Context, topic string, partition int) (first, end int64, err error) {
	return c.offsetRange(ctx, topic, partition)
}

// NewPartitionWriter returns a Sink that writes each record to the
// partition its Partition field names (not a hash of its key), with the
// client's writer tuning (acks=all): for records that must reach every
// partition, or whose partition the caller computed.
func (c *Client) NewPartitionWriter() *Writer {
	return &Writer{w: c.newBatchWriters("", func() kafka.Balancer { return explicitPartition{} }, mostPerExplicitPartition)}
}

// FetchFrom returns the records of a topic partition from offset on, as far
// as one fetch of at most Config.MaxWait brings them, and the offset to
// fetch next. An empty result means nothing new arrived within MaxWait.
func (c *Client) FetchFrom(ctx context.Context, topic string, partition int, offset int64) ([]kafka.Message, int64, error) {
	resp, err := c.admin.Fetch(ctx, &kafka.FetchRequest{
		Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: int64(c.cfg.MaxBytes), MaxWait: c.cfg.MaxWait,
	})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, offset, fmt.Errorf("failed to fetch %s/%d at offset %d: %w", topic, partition, offset, err)
	}
	var out []kafka.Message
	next := offset
	for {
		r, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, next, fmt.Errorf("failed to fetch %s/%d at offset %d: %w", topic, partition, next, err)
		}
		if r.Offset < next {
			continue // a fetch may start before the requested offset
		}
		key, err := kafka.ReadAll(r.Key)
		if err != nil {
			return out, next, err
		}
		value, err := kafka.ReadAll(r.Value)
		if err != nil {
			return out, next, err
		}
		out = append(out, kafka.Message{Topic: topic, Partition: partition, Offset: r.Offset, Key: key, Value: value, Time: r.Time})
		next = r.Offset + 1
	}
	return out, next, nil
}
