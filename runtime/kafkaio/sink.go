package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

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
	// Once it returns nil, nothing may read msgs' bytes any more: the
	// engine reuses the blocks they live in for the next batch. After an
	// error they are never reused.
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
	h := &hashedPartitions{c: c}
	return &Writer{w: c.newBatchWriters("", func() kafka.Balancer { return &kafka.Murmur2Balancer{} }, h.most)}
}

// batchWriters are kafka.Writers that differ only in BatchSize, and a call
// goes to the smallest one whose batches hold the most records the call
// sends to one topic partition.
//
// kafka-go allocates each batch's message slice at its full BatchSize
// capacity, 152 bytes a record: 300 KB at the default 2,000, even for a
// batch of one record. Under a light load the engine writes a few records
// per input batch, and one writer would then allocate hundreds of MB/s (it
// was 70% of everything the fraud latency measurement allocated), which the
// garbage collector pays for in the latency tail. Under a heavy load a call
// of 1,000 records spread over four partitions needs batches of about 250,
// not 2,000. Batching across concurrent calls works as before within each
// writer; records of one call keep their order, since one call goes to one
// writer (and a partition's batches are sent in order).
type batchWriters struct {
	ws []*kafka.Writer
	// perPartition returns the most records msgs send to one topic
	// partition, or an estimate of it.
	perPartition func(ctx context.Context, msgs []kafka.Message) int
}

// smallBatchSizes are the BatchSizes of the writers for smaller calls.
var smallBatchSizes = []int{32, 128, 512}

func (c *Client) newBatchWriters(topic string, balancer func() kafka.Balancer, perPartition func(context.Context, []kafka.Message) int) batchWriters {
	var ws []*kafka.Writer
	for _, n := range smallBatchSizes {
		if n < c.cfg.BatchSize {
			w := c.newKafkaWriter(topic, balancer())
			w.BatchSize = n
			ws = append(ws, w)
		}
	}
	return batchWriters{ws: append(ws, c.newKafkaWriter(topic, balancer())), perPartition: perPartition}
}

// write writes msgs with the smallest writer whose batches hold them. A
// call whose estimate falls short is still written whole: kafka-go starts
// a second batch for the partition.
func (b batchWriters) write(ctx context.Context, msgs []kafka.Message) error {
	n := b.perPartition(ctx, msgs)
	w := b.ws[len(b.ws)-1]
	for _, s := range b.ws[:len(b.ws)-1] {
		if n <= s.BatchSize {
			w = s
			break
		}
	}
	return w.WriteMessages(ctx, msgs...)
}

// mostPerExplicitPartition counts exactly, for records whose Partition
// field is their partition.
func mostPerExplicitPartition(_ context.Context, msgs []kafka.Message) int {
	type tp struct {
		topic     string
		partition int
	}
	if len(msgs) <= smallBatchSizes[0] {
		return len(msgs)
	}
	counts := map[tp]int{}
	most := 0
	for i := range msgs {
		k := tp{msgs[i].Topic, msgs[i].Partition}
		counts[k]++
		most = max(most, counts[k])
	}
	return most
}

// hashedPartitions estimates, for records spread over partitions by a hash
// of their keys, the most any partition receives: the topic's records over
// its partitions plus four standard deviations. Partition counts are asked
// of a broker once per topic and kept for partitionCountTTL; without one
// the estimate is the topic's whole count.
type hashedPartitions struct {
	c     *Client
	mu    sync.Mutex
	known map[string]partitionCount
}

type partitionCount struct {
	n  int
	at time.Time
}

const partitionCountTTL = time.Minute

func (h *hashedPartitions) most(ctx context.Context, msgs []kafka.Message) int {
	if len(msgs) <= smallBatchSizes[0] {
		return len(msgs)
	}
	type topicCount struct {
		topic string
		n     int
	}
	var buf [8]topicCount
	counts := buf[:0] // a call names a few topics
	for i := range msgs {
		k := 0
		for k < len(counts) && counts[k].topic != msgs[i].Topic {
			k++
		}
		if k == len(counts) {
			counts = append(counts, topicCount{topic: msgs[i].Topic})
		}
		counts[k].n++
	}
	most := 0
	for _, tc := range counts {
		est := tc.n
		if parts := h.partitions(ctx, tc.topic); parts > 1 {
			mean := float64(tc.n) / float64(parts)
			est = min(tc.n, int(mean+4*math.Sqrt(mean))+1)
		}
		most = max(most, est)
	}
	return most
}

func (h *hashedPartitions) partitions(ctx context.Context, topic string) int {
	h.mu.Lock()
	pc, ok := h.known[topic]
	h.mu.Unlock()
	if ok && time.Since(pc.at) < partitionCountTTL {
		return pc.n
	}
	counts, err := h.c.partitionCounts(ctx, topic)
	if err != nil {
		return 0 // unknown: the caller takes the whole count
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.known == nil {
		h.known = map[string]partitionCount{}
	}
	h.known[topic] = partitionCount{n: counts[topic], at: time.Now()}
	return counts[topic]
}

func (b batchWriters) Close() error {
	var errs []error
	for _, w := range b.ws {
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

// allToOnePartition is perPartition for a writer whose calls each go to a
// single partition (a changelog's appends).
func allToOnePartition(_ context.Context, msgs []kafka.Message) int { return len(msgs) }
