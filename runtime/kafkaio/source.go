package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Batch is a run of consecutive records of one topic-partition, in offset
// order. It holds what one or more fetches returned, up to
// Config.MaxBatchRecords.
type Batch struct {
	Topic     string
	Partition int
	Messages  []kafka.Message
	// HighWaterMark is the partition's end offset as of the last fetch;
	// HighWaterMark - NextOffset() is the partition's lag.
	HighWaterMark int64
}

// NextOffset is the offset to commit once everything derived from the batch
// is durable: the last record's offset plus one.
func (b Batch) NextOffset() int64 {
	if len(b.Messages) == 0 {
		return -1
	}
	return b.Messages[len(b.Messages)-1].Offset + 1
}

// Assignment is what a member owns for one group generation.
type Assignment struct {
	// Generation is the group generation ID.
	Generation int32
	// Committed holds every input topic-partition the member owns and the
	// group's committed offset for it: the next offset to read, or
	// kafka.FirstOffset / kafka.LastOffset (Config.StartOffset) when the
	// group has never committed one.
	Committed map[TopicPartition]int64
}

// Partitions returns the owned partition numbers (the units of state:
// partition n of every input topic and of the changelog), ascending.
func (a Assignment) Partitions() []int {
	var out []int
	for tp := range a.Committed {
		if !slices.Contains(out, tp.Partition) {
			out = append(out, tp.Partition)
		}
	}
	sort.Ints(out)
	return out
}

// Handler is the engine side of a Source. The Source calls it from several
// goroutines; the order guarantees are on each method.
type Handler interface {
	// OnAssigned is called at the start of every group generation, before
	// any fetch, with everything this member owns in the generation. The
	// handler restores the state of those partitions and returns the
	// offset each topic-partition should be read from: normally the
	// greater of the committed offset and the offset marker recorded in
	// the restored state, so that a replay skips what the state already
	// includes. Missing entries start at the committed offset.
	//
	// ctx is done if the generation ends during the restore (another
	// rebalance; ctx.Err() is then kafka.ErrGenerationEnded) or Run's ctx
	// is done; the Source then moves on without calling OnRevoked. Any
	// other error stops Run.
	OnAssigned(ctx context.Context, a Assignment) (start map[TopicPartition]int64, err error)

	// OnBatch processes one batch. Calls for the same partition number
	// (all input topics of partition n) are sequential and each topic's
	// batches arrive in offset order; calls for different partition
	// numbers run concurrently. Nothing is committed on the handler's
	// behalf: it calls Source.Commit once the batch's outputs and
	// changelog records are durable.
	//
	// ctx is not cancelled by a rebalance or by Run's ctx: a started batch
	// is finished so that OnRevoked can commit it. It is cancelled when
	// another OnBatch call failed. An error stops Run.
	OnBatch(ctx context.Context, b Batch) error

	// OnRevoked is called at the end of every generation whose OnAssigned
	// succeeded (rebalance, Run's ctx done, or a failed OnBatch), after
	// every OnBatch call has returned and before the member rejoins or
	// leaves the group. The handler makes everything it processed durable
	// and commits it; once OnRevoked returns the partitions may be handed
	// to another member. It must finish within Config.RebalanceTimeout;
	// ctx expires then. An error stops Run.
	OnRevoked(ctx context.Context, partitions []TopicPartition) error
}

// Source consumes the input topics as a member of a consumer group and
// hands each owned partition's records to a Handler.
//
// Delivery is at-least-once: after a crash or a rebalance, records past the
// last committed offset are delivered again (to this member or another).
// Combined with the handler's offset markers in its state, that gives
// effectively-once state.
type Source interface {
	// Run joins the group and serves generations until ctx is done (it
	// then returns nil after OnRevoked and leaving the group) or a handler
	// call fails (it returns that error). It fails fast with a clear error
	// if no broker is reachable at start, an input topic does not exist,
	// or the input topics' partition counts differ; later connection
	// trouble is retried and logged.
	Run(ctx context.Context, h Handler) error

	// Commit stores offsets in the consumer group: for each partition, the
	// next offset to read (last processed + 1). Call it only once all
	// outputs and changelog records derived from those records are
	// acknowledged. Offsets of partitions this member does not own in the
	// current generation are refused with ErrNotAssigned; an error
	// wrapping kafka.IllegalGeneration, kafka.RebalanceInProgress or
	// kafka.UnknownMemberId means the generation ended and the partitions
	// may move; the new owner replays from the last successful commit.
	// Safe for concurrent use; bounded by the coordinator timeout (5s).
	Commit(ctx context.Context, offsets map[TopicPartition]int64) error
}

// ErrNotAssigned is returned by Commit for a partition this member does not
// own in the current generation.
var ErrNotAssigned = errors.New("partition not assigned to this member")

// GroupSource is the Source on kafka-go's ConsumerGroup and Generation API.
// Each generation gets one goroutine per owned partition number, which
// calls OnBatch; each owned topic-partition gets a kafka.Reader (no group;
// explicit partition and offset) that prefetches its records.
type GroupSource struct {
	c        *Client
	group    string
	topics   []string
	sticky   *CopartitionBalancer
	running  atomic.Bool
	mu       sync.Mutex
	gen      *kafka.Generation
	assigned map[TopicPartition]bool
}

var _ Source = (*GroupSource)(nil)

// NewSource returns a Source for the client's Config.Group and Config.Topics.
func (c *Client) NewSource() (*GroupSource, error) {
	if c.cfg.Group == "" {
		return nil, errors.New("kafka source: no consumer group configured")
	}
	if len(c.cfg.Topics) == 0 {
		return nil, errors.New("kafka source: no input topics configured")
	}
	return &GroupSource{c: c, group: c.cfg.Group, topics: slices.Clone(c.cfg.Topics)}, nil
}

func (s *GroupSource) groupConfig() kafka.ConsumerGroupConfig {
	cfg := s.c.cfg
	balancers := cfg.GroupBalancers
	if len(balancers) == 0 {
		s.sticky = &CopartitionBalancer{}
		balancers = []kafka.GroupBalancer{s.sticky, kafka.RangeGroupBalancer{}}
	}
	info, errLog := s.c.kafkaLoggers("consumer-group")
	return kafka.ConsumerGroupConfig{
		ID:                s.group,
		Brokers:           cfg.Brokers,
		Dialer:            s.c.dialer,
		Topics:            s.topics,
		GroupBalancers:    balancers,
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		JoinGroupBackoff:  cfg.JoinGroupBackoff,
		StartOffset:       cfg.StartOffset,
		Logger:            info,
		ErrorLogger:       errLog,
	}
}

// Run implements Source.
func (s *GroupSource) Run(ctx context.Context, h Handler) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("kafka source: Run called twice")
	}
	defer s.running.Store(false)
	if err := s.checkTopics(ctx); err != nil {
		return err
	}
	cg, err := kafka.NewConsumerGroup(s.groupConfig())
	if err != nil {
		return fmt.Errorf("failed to create consumer group %q: %w", s.group, err)
	}
	closed := make(chan struct{})
	var closeOnce sync.Once
	leave := func() {
		closeOnce.Do(func() {
			go func() {
				cg.Close() // leaves the group once the generation has ended
				close(closed)
			}()
		})
	}
	defer func() {
		leave()
		<-closed
	}()

	for {
		gen, err := cg.Next(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed):
			return nil
		case err != nil:
			// kafka-go rejoins by itself after a backoff.
			s.c.log.Warn("failed to join consumer group", "group", s.group, "err", err)
			continue
		}
		done := make(chan error, 1)
		gen.Start(func(genCtx context.Context) {
			err := s.serveGeneration(ctx, genCtx, gen, h)
			if err != nil || ctx.Err() != nil {
				// Leave before this function returns: kafka-go would
				// otherwise rejoin as soon as the generation ends, and
				// the group would rebalance twice.
				leave()
				<-genCtx.Done()
			}
			done <- err
		})
		if err := <-done; err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// checkTopics fails fast, with a clear error, when no broker answers, an
// input topic is missing, or the input topics are not co-partitioned.
func (s *GroupSource) checkTopics(ctx context.Context) error {
	counts, err := s.c.partitionCounts(ctx, s.topics...)
	if err != nil {
		return fmt.Errorf("failed to check input topics: %w", err)
	}
	for _, t := range s.topics[1:] {
		if counts[t] != counts[s.topics[0]] {
			return fmt.Errorf("input topics are not co-partitioned: %q has %d partitions, %q has %d", s.topics[0], counts[s.topics[0]], t, counts[t])
		}
	}
	return nil
}

// serveGeneration runs one generation: assign, fetch and process until the
// generation or Run ends, then revoke.
func (s *GroupSource) serveGeneration(runCtx, genCtx context.Context, gen *kafka.Generation, h Handler) error {
	a := Assignment{Generation: gen.ID, Committed: map[TopicPartition]int64{}}
	for topic, pas := range gen.Assignments {
		for _, pa := range pas {
			a.Committed[TopicPartition{topic, pa.ID}] = pa.Offset
		}
	}
	owned := make([]TopicPartition, 0, len(a.Committed))
	assigned := make(map[TopicPartition]bool, len(a.Committed))
	for tp := range a.Committed {
		owned = append(owned, tp)
		assigned[tp] = true
	}
	sort.Slice(owned, func(i, j int) bool {
		if owned[i].Partition != owned[j].Partition {
			return owned[i].Partition < owned[j].Partition
		}
		return owned[i].Topic < owned[j].Topic
	})
	if s.sticky != nil {
		s.sticky.setOwned(gen.ID, a.Partitions())
	}
	s.c.log.Info("consumer group generation started", "group", s.group, "generation", gen.ID,
		"member", gen.MemberID, "partitions", a.Partitions())

	// stop ends fetching: the generation ended, Run's ctx is done, or a
	// handler failed.
	stopCtx, stop := context.WithCancel(genCtx)
	defer stop()
	unwatch := context.AfterFunc(runCtx, stop)
	defer unwatch()

	start, err := h.OnAssigned(stopCtx, a)
	if err != nil {
		if stopCtx.Err() != nil && runCtx.Err() == nil {
			s.c.log.Info("generation ended during OnAssigned", "group", s.group, "generation", gen.ID, "err", err)
			return nil
		}
		if runCtx.Err() != nil {
			return nil
		}
		return fmt.Errorf("failed to assign partitions %v: %w", owned, err)
	}

	s.mu.Lock()
	s.gen, s.assigned = gen, assigned
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.gen, s.assigned = nil, nil
		s.mu.Unlock()
	}()

	// Group the topic-partitions by partition number: one processing
	// goroutine per number.
	byNumber := map[int]map[string]int64{}
	for tp, off := range a.Committed {
		if o, ok := start[tp]; ok {
			off = o
		}
		if byNumber[tp.Partition] == nil {
			byNumber[tp.Partition] = map[string]int64{}
		}
		byNumber[tp.Partition][tp.Topic] = off
	}

	procCtx, failProc := context.WithCancel(context.WithoutCancel(runCtx))
	defer failProc()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for p, offsets := range byNumber {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.servePartition(stopCtx, procCtx, p, offsets, h); err != nil {
				errOnce.Do(func() {
					firstErr = err
					failProc()
					stop()
				})
			}
		}()
	}
	// Hold the generation even with nothing assigned: returning would end
	// it and make kafka-go rejoin, a rebalance loop for the whole group.
	<-stopCtx.Done()
	wg.Wait()

	revokeCtx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), s.c.cfg.RebalanceTimeout)
	defer cancel()
	if err := h.OnRevoked(revokeCtx, owned); err != nil {
		return errors.Join(firstErr, fmt.Errorf("failed to revoke partitions %v: %w", owned, err))
	}
	s.c.log.Info("consumer group generation ended", "group", s.group, "generation", gen.ID)
	return firstErr
}

// servePartition fetches every topic's partition p and calls OnBatch with
// what arrives, one batch at a time, until stopCtx is done.
func (s *GroupSource) servePartition(stopCtx, procCtx context.Context, p int, offsets map[string]int64, h Handler) error {
	fetchCtx, stopFetch := context.WithCancel(stopCtx)
	var fetchers sync.WaitGroup
	defer fetchers.Wait()
	defer stopFetch()
	batches := make(chan Batch, len(offsets))
	for topic, off := range offsets {
		r := s.newPartitionReader(topic, p)
		if err := r.SetOffset(off); err != nil {
			r.Close()
			return fmt.Errorf("failed to seek %s/%d to %d: %w", topic, p, off, err)
		}
		fetchers.Add(1)
		go func() {
			defer fetchers.Done()
			defer r.Close()
			s.fetch(fetchCtx, r, topic, p, batches)
		}()
	}
	for {
		select {
		case <-fetchCtx.Done():
			return nil
		case b := <-batches:
			if fetchCtx.Err() != nil {
				// Not processed, not committed: the next owner reads it.
				return nil
			}
			if err := h.OnBatch(procCtx, b); err != nil {
				return fmt.Errorf("failed to process %s/%d at offset %d: %w", b.Topic, b.Partition, b.Messages[0].Offset, err)
			}
		}
	}
}

func (s *GroupSource) newPartitionReader(topic string, p int) *kafka.Reader {
	cfg := s.c.cfg
	info, errLog := s.c.kafkaLoggers("reader")
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Brokers,
		Topic:          topic,
		Partition:      p,
		Dialer:         s.c.dialer,
		MinBytes:       cfg.MinBytes,
		MaxBytes:       cfg.MaxBytes,
		MaxWait:        cfg.MaxWait,
		QueueCapacity:  cfg.MaxBatchRecords,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		// The default (1m) dials every partition's leader once a minute
		// to refresh a lag statistic we do not use.
		ReadLagInterval: -1,
		Logger:          info,
		ErrorLogger:     errLog,
	})
}

// fetch reads r into batches: the first record blocks, the rest of a batch
// is taken while the reader reports more records below the high watermark,
// at most MaxBatchRecords and at most MaxWait of waiting.
func (s *GroupSource) fetch(ctx context.Context, r *kafka.Reader, topic string, p int, out chan<- Batch) {
	maxRecords, linger := s.c.cfg.MaxBatchRecords, s.c.cfg.MaxWait
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The reader retries by itself; it reports what persists.
			s.c.log.Warn("failed to fetch", "topic", topic, "partition", p, "err", err)
			continue
		}
		// Sized from the records the reader knows are waiting: a fetch of
		// a few records under a light load must not allocate room for
		// hundreds (152 bytes each).
		lag := r.Lag()
		msgs := make([]kafka.Message, 1, max(1, min(int64(maxRecords), lag+1)))
		msgs[0] = m
		if lag > 0 {
			lctx, cancel := context.WithTimeout(ctx, linger)
			for len(msgs) < maxRecords && r.Lag() > 0 {
				m, err := r.FetchMessage(lctx)
				if err != nil {
					if lctx.Err() == nil {
						s.c.log.Warn("failed to fetch", "topic", topic, "partition", p, "err", err)
					}
					break
				}
				msgs = append(msgs, m)
			}
			cancel()
		}
		b := Batch{Topic: topic, Partition: p, Messages: msgs, HighWaterMark: msgs[len(msgs)-1].HighWaterMark}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
	}
}

// Commit implements Source.
func (s *GroupSource) Commit(ctx context.Context, offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	gen, assigned := s.gen, s.assigned
	s.mu.Unlock()
	req := map[string]map[int]int64{}
	for tp, off := range offsets {
		if gen == nil || !assigned[tp] {
			return fmt.Errorf("failed to commit %s: %w", tp, ErrNotAssigned)
		}
		if off < 0 {
			return fmt.Errorf("failed to commit %s: invalid offset %d", tp, off)
		}
		if req[tp.Topic] == nil {
			req[tp.Topic] = map[int]int64{}
		}
		req[tp.Topic][tp.Partition] = off
	}
	if err := gen.CommitOffsets(req); err != nil {
		return fmt.Errorf("failed to commit offsets of group %q generation %d: %w", s.group, gen.ID, err)
	}
	return nil
}
