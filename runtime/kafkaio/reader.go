package kafkaio

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// NewPartitionReader returns a reader of one partition of topic, outside
// any consumer group, with the client's connection settings (TLS, SASL)
// and fetch tuning. The caller sets its start with SetOffset and closes it.
func (c *Client) NewPartitionReader(topic string, partition int) *kafka.Reader {
	info, errLog := c.kafkaLoggers("reader")
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:         c.cfg.Brokers,
		Topic:           topic,
		Partition:       partition,
		Dialer:          c.dialer,
		MinBytes:        1,
		MaxBytes:        c.cfg.MaxBytes,
		MaxWait:         c.cfg.MaxWait,
		ReadBackoffMin:  50 * time.Millisecond,
		ReadBackoffMax:  time.Second,
		ReadLagInterval: -1,
		Logger:          info,
		ErrorLogger:     errLog,
	})
}

// PartitionCount returns the number of partitions of topic, asking a broker
// directly rather than the metadata cache.
func (c *Client) PartitionCount(ctx context.Context, topic string) (int, error) {
	counts, err := c.partitionCounts(ctx, topic)
	if err != nil {
		return 0, err
	}
	return counts[topic], nil
}
