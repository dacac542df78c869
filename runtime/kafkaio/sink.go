package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"
)

// Sink writes output records (dead letters, alerts, KPI records, enriched
// transactions, profiles).
//
// WriteBatch returns nil only once every record is acknowledged by all
// in-sync replicas (acks=all). On error, any subset of the records may have
// been written: the caller writes the whole batch again, so outputs are
// at-least-once and carry deterministic keys/IDs derived from their input
// so that consumers can drop duplicates. Records of one WriteBatch call
// that share a topic and key keep their order.
type Sink interface {
	// WriteBatch writes msgs; each message names its Topic. Key, Value,
	// Headers and Time are written as given; Partition is chosen by
	// hashing Key (murmur2, like the Java client's default partitioner).
	WriteBatch(ctx context.Context, msgs []kafka.Message) error
	// Close waits for writes in flight and releases the writer.
	Close() error
}

// Writer is the Sink on kafka.Writers shared by all output topics.
type Writer struct {
	w batchWriters
}

var _ Sink = (*Writer)(nil)

// NewWriter returns a Sink with the client's writer tuning: acks=all,
// murmur2 partitioning, Config.BatchTimeout/BatchSize/BatchBytes,
// Config.Compression, and Config.MaxAttempts tries per batch.
func (c *Client) NewWriter() *Writer {
	return &Writer{w: c.newBatchWriters("", func() kafka.Balancer { return &kafka.Murmur2Balancer{} })}
}

// batchWriters are kafka.Writers that differ only in BatchSize, and a call
// goes to the smallest one whose batches hold all of its records.
//
// kafka-go allocates each batch's message slice at its full BatchSize
// capacity, 152 bytes a record: 300 KB at the default 2,000, even for a
// batch of one record. Under a light load the engine writes a few records
// per input batch, and one writer would then allocate hundreds of MB/s (it
// was 70% of everything the fraud latency measurement allocated), which the
// garbage collector pays for in the latency tail. Batching across
// concurrent calls works as before within each writer; records of one call
// keep their order, since one call goes to one writer.
type batchWriters []*kafka.Writer

// smallBatchSizes are the BatchSizes of the writers for small calls.
var smallBatchSizes = []int{32, 256}

func (c *Client) newBatchWriters(topic string, balancer func() kafka.Balancer) batchWriters {
	var ws batchWriters
	for _, n := range smallBatchSizes {
		if n < c.cfg.BatchSize {
			w := c.newKafkaWriter(topic, balancer())
			w.BatchSize = n
			ws = append(ws, w)
		}
	}
	return append(ws, c.newKafkaWriter(topic, balancer()))
}

// write writes msgs with the smallest writer whose batches hold them.
func (ws batchWriters) write(ctx context.Context, msgs []kafka.Message) error {
	w := ws[len(ws)-1]
	for _, s := range ws[:len(ws)-1] {
		if len(msgs) <= s.BatchSize {
			w = s
			break
		}
	}
	return w.WriteMessages(ctx, msgs...)
}

func (ws batchWriters) Close() error {
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}

func (c *Client) newKafkaWriter(topic string, balancer kafka.Balancer) *kafka.Writer {
	cfg := c.cfg
	codec, _ := compressionCodec(cfg.Compression) // checked by NewClient
	info, errLog := c.kafkaLoggers("writer")
	return &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        topic,
		Balancer:     balancer,
		MaxAttempts:  cfg.MaxAttempts,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: cfg.BatchTimeout,
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
		RequiredAcks: kafka.RequireAll,
		Compression:  codec,
		Transport:    c.transport,
		Logger:       info,
		ErrorLogger:  errLog,
	}
}

// WriteBatch implements Sink.
func (w *Writer) WriteBatch(ctx context.Context, msgs []kafka.Message) error {
	for i := range msgs {
		if msgs[i].Topic == "" {
			return fmt.Errorf("failed to write batch: message %d has no topic", i)
		}
	}
	return writeErr(w.w.write(ctx, msgs), msgs)
}

// Close implements Sink.
func (w *Writer) Close() error { return w.w.Close() }

// writeErr condenses kafka-go's per-message WriteErrors into one error
// that says how many records failed and why, naming their topics.
func writeErr(err error, msgs []kafka.Message) error {
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if !errors.As(err, &werrs) {
		return fmt.Errorf("failed to write %d records to %v: %w", len(msgs), topicsOf(msgs), err)
	}
	var first error
	topics := map[string]bool{}
	for i, e := range werrs {
		if e == nil {
			continue
		}
		if first == nil {
			first = e
		}
		topics[msgs[i].Topic] = true
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	return fmt.Errorf("failed to write %d of %d records (topics %v): %w", werrs.Count(), len(msgs), names, first)
}

func topicsOf(msgs []kafka.Message) []string {
	var out []string
	for i := range msgs {
		if !slices.Contains(out, msgs[i].Topic) {
			out = append(out, msgs[i].Topic)
		}
	}
	return out
}
