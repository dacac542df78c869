package kafkaio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/cputime"
)

// ConsumeThroughput is what MeasureRawConsume measured.
type ConsumeThroughput struct {
	// Records and Bytes (keys plus values) read.
	Records int64
	Bytes   int64
	// Join is the time from Run to the partitions being assigned.
	Join time.Duration
	// Elapsed is the time from assignment to the last record delivered.
	Elapsed time.Duration
	// CPU is the CPU time the whole process used during Elapsed (an
	// in-process kfake broker included). On a shared machine, Records/CPU
	// is steadier than Records/Elapsed. Zero where not measured.
	CPU time.Duration
}

// RecordsPerCPUSec is Records over CPU.
func (t ConsumeThroughput) RecordsPerCPUSec() float64 {
	if t.CPU <= 0 {
		return 0
	}
	return float64(t.Records) / t.CPU.Seconds()
}

// RecordsPerSec is Records over Elapsed.
func (t ConsumeThroughput) RecordsPerSec() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Records) / t.Elapsed.Seconds()
}

// MBPerSec is Bytes (in MB of 10^6 bytes) over Elapsed.
func (t ConsumeThroughput) MBPerSec() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Bytes) / 1e6 / t.Elapsed.Seconds()
}

// MeasureRawConsume reads topic from its log start to the end offsets found
// when it starts, through a GroupSource exactly as the runtime consumes
// (its own throwaway consumer group, no processing, no commits), and
// reports the throughput. cfg's connection and fetch tuning are used;
// Group, Topics and StartOffset are overridden. This is the
// raw_consume_events_per_sec baseline that end-to-end figures compare to.
func MeasureRawConsume(ctx context.Context, cfg Config, topic string) (ConsumeThroughput, error) {
	cfg.Group = fmt.Sprintf("ecap-raw-consume-%d", time.Now().UnixNano())
	cfg.Topics = []string{topic}
	cfg.StartOffset = kafka.FirstOffset
	cfg.GroupBalancers = nil
	c, err := NewClient(cfg)
	if err != nil {
		return ConsumeThroughput{}, err
	}
	defer c.Close()

	counts, err := c.partitionCounts(ctx, topic)
	if err != nil {
		return ConsumeThroughput{}, err
	}
	ends := map[int]int64{}
	for p := range counts[topic] {
		first, end, err := c.offsetRange(ctx, topic, p)
		if err != nil {
			return ConsumeThroughput{}, fmt.Errorf("failed to list offsets of %s/%d: %w", topic, p, err)
		}
		if end > first {
			ends[p] = end
		}
	}
	src, err := c.NewSource()
	if err != nil {
		return ConsumeThroughput{}, err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	h := &countingHandler{ends: ends, done: stop, start: time.Now()}
	if len(ends) == 0 {
		return ConsumeThroughput{}, nil
	}
	if err := src.Run(runCtx, h); err != nil {
		return ConsumeThroughput{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ends) > 0 {
		return ConsumeThroughput{}, fmt.Errorf("raw consume of %s stopped with %d partitions unfinished: %w", topic, len(h.ends), ctx.Err())
	}
	return h.result, nil
}

// countingHandler counts what a Source delivers and stops it once every
// partition reached its end offset.
type countingHandler struct {
	mu       sync.Mutex
	ends     map[int]int64
	done     func()
	start    time.Time
	assigned time.Time
	cpu      time.Duration
	result   ConsumeThroughput
}

func (h *countingHandler) OnAssigned(context.Context, Assignment) (map[TopicPartition]int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.assigned.IsZero() {
		h.assigned = time.Now()
		h.cpu = cputime.Process()
		h.result.Join = h.assigned.Sub(h.start)
	}
	return nil, nil
}

func (h *countingHandler) OnBatch(_ context.Context, b Batch) error {
	var n int64
	for i := range b.Messages {
		n += int64(len(b.Messages[i].Key) + len(b.Messages[i].Value))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.result.Records += int64(len(b.Messages))
	h.result.Bytes += n
	if end, ok := h.ends[b.Partition]; ok && b.NextOffset() >= end {
		delete(h.ends, b.Partition)
		if len(h.ends) == 0 {
			h.result.Elapsed = time.Since(h.assigned)
			h.result.CPU = cputime.Process() - h.cpu
			h.done()
		}
	}
	return nil
}

func (h *countingHandler) OnRevoked(context.Context, []TopicPartition) error { return nil }
