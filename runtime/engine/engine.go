package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/catalog"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/state"
)

// Engine is one Pipeline's data plane: a kafkaio Handler that runs the stage
// chain per owned partition and checkpoints state to the changelog.
type Engine struct {
	s       Settings
	log     *slog.Logger
	metrics *Metrics

	client    *kafkaio.Client
	source    kafkaio.Source
	sink      kafkaio.Sink
	changelog kafkaio.Changelog
	catalog   *catalog.Catalog
	// catalogLoad holds transactions back until the catalog's first load
	// (catalog.go).
	catalogLoad *catalogLoad
	validator   *events.Validator

	rulesMu     sync.Mutex
	holders     map[string]*fraud.Holder
	ruleErrors  map[string]string
	ruleList    atomic.Pointer[[]*fraud.Holder]
	partsMu     sync.RWMutex
	parts       map[int32]*owned
	ready       atomic.Bool
	assigned    atomic.Bool
	eventsTotal atomic.Int64
	dlqTotal    atomic.Int64
	rateMu      sync.Mutex
	rate        float64 // events/s, EWMA
	seg         *segmenter
	// erasing keeps customers erased during a Segmentation run out of
	// its results (control_segmentation.go).
	erasing eraseGuard
	lake    *lakeSink // nil without spec.sinks.lake
}

// owned is one owned partition number with its lock.
type owned struct {
	mu   sync.Mutex
	p    *partition
	proc *processor
}

// Options are the engine's dependencies.
type Options struct {
	// Kafka is the connection; Group and Topics are set by the engine.
	Kafka kafkaio.Config
	// Group is the consumer group.
	Group string
	// RuleSets are the initial fraud rule sets.
	RuleSets []v1alpha1.FraudRuleSetConfig
	// Segmentations are the initial Segmentations.
	Segmentations []v1alpha1.SegmentationConfig
	Logger        *slog.Logger
	// Now is the validator's clock; nil is time.Now.
	Now func() time.Time
	// Lake is the data lake (OpenLake); required when the settings have one.
	Lake *lake.Lake
}

// New builds an engine; it does no I/O.
func New(s Settings, o Options) (*Engine, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kc := o.Kafka
	kc.Group = o.Group
	kc.Topics = s.InputTopics()
	client, err := kafkaio.NewClient(kc)
	if err != nil {
		return nil, fmt.Errorf("failed to create the Kafka client: %w", err)
	}
	src, err := client.NewSource()
	if err != nil {
		return nil, fmt.Errorf("failed to create the consumer: %w", err)
	}
	vc := s.Validator
	vc.Now = o.Now
	e := &Engine{
		s: s, log: log, metrics: newMetrics(),
		client: client, source: src, sink: client.NewWriter(), changelog: client.NewChangelog(s.Changelog),
		catalog: catalog.New(), catalogLoad: newCatalogLoad(), validator: events.NewValidator(vc),
		holders: map[string]*fraud.Holder{}, ruleErrors: map[string]string{}, parts: map[int32]*owned{},
	}
	e.ruleList.Store(&[]*fraud.Holder{})
	e.metrics.pipelineGen.Set(float64(s.Generation))
	if errs := e.SetRuleSets(o.RuleSets); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if s.Lake != nil {
		if o.Lake == nil {
			return nil, fmt.Errorf("pipeline.spec.sinks.lake: no lake store was opened")
		}
		e.lake = newLakeSink(&e.s, o.Lake, e.metrics)
	}
	e.seg = newSegmenter(e)
	// An invalid Segmentation does not stop the runtime: it is reported in
	// /v1/status (and so in the Segmentation's status) and not run.
	for _, err := range e.SetSegmentations(o.Segmentations) {
		log.Error("segmentation not applied", "err", err)
	}
	return e, nil
}

// Metrics returns the engine's metrics and registry.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Ready reports whether every assigned partition has been restored.
func (e *Engine) Ready() bool { return e.ready.Load() }

// SetRuleSets installs the fraud rule sets: each is compiled once per
// generation and swapped in atomically; a set that fails to compile keeps its
// previous generation scoring and is reported. Rule sets missing from sets are
// removed.
func (e *Engine) SetRuleSets(sets []v1alpha1.FraudRuleSetConfig) []error {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	var errs []error
	seen := map[string]bool{}
	for _, rs := range sets {
		seen[rs.Name] = true
		h := e.holders[rs.Name]
		if h == nil {
			h = fraud.NewHolder()
		}
		if _, err := h.Update(rs.Name, rs.Generation, rs.Spec); err != nil {
			e.ruleErrors[rs.Name] = fmt.Sprintf("generation %d: %v", rs.Generation, err)
			e.metrics.reloadFailures.WithLabelValues(rs.Name).Inc()
			errs = append(errs, fmt.Errorf("fraudRuleSets[%s]: failed to compile generation %d: %w", rs.Name, rs.Generation, err))
			if h.Current() == nil {
				continue
			}
		} else {
			delete(e.ruleErrors, rs.Name)
		}
		e.holders[rs.Name] = h
		e.metrics.ruleGeneration.WithLabelValues(rs.Name).Set(float64(h.Current().Generation()))
	}
	for name := range e.holders {
		if !seen[name] {
			delete(e.holders, name)
			delete(e.ruleErrors, name)
			e.metrics.ruleGeneration.DeleteLabelValues(name)
		}
	}
	names := make([]string, 0, len(e.holders))
	for n := range e.holders {
		names = append(names, n)
	}
	sort.Strings(names)
	list := make([]*fraud.Holder, len(names))
	for i, n := range names {
		list[i] = e.holders[n]
	}
	e.ruleList.Store(&list)
	return errs
}

func (e *Engine) ruleHolders() []*fraud.Holder { return *e.ruleList.Load() }

// Run consumes until ctx is done, then finishes the batch in flight,
// checkpoints and commits every owned partition and returns nil.
func (e *Engine) Run(ctx context.Context) error {
	defer func() {
		_ = e.sink.Close()
		if c, ok := e.changelog.(*kafkaio.TopicChangelog); ok {
			_ = c.Close()
		}
		_ = e.client.Close()
	}()
	bg, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { e.checkpointLoop(bg) })
	wg.Go(func() { e.rateLoop(bg) })
	wg.Go(func() { e.seg.run(bg) })
	if e.lake != nil {
		wg.Go(func() { e.lakeLoop(bg) })
	}
	if e.s.Catalog {
		wg.Go(func() {
			if err := e.runCatalog(bg); err != nil && bg.Err() == nil {
				e.log.Error("catalog reader stopped", "topic", e.s.ProductUpdates, "err", err)
			}
		})
	}
	return e.source.Run(ctx, e)
}

var _ kafkaio.Handler = (*Engine)(nil)

// OnAssigned restores every owned partition from its changelog partition and
// returns where each input topic-partition resumes: after what the state
// already includes.
func (e *Engine) OnAssigned(ctx context.Context, a kafkaio.Assignment) (map[kafkaio.TopicPartition]int64, error) {
	e.ready.Store(false)
	start := map[kafkaio.TopicPartition]int64{}
	parts := map[int32]*owned{}
	assigned := a.Partitions()
	for i, n := range assigned {
		t0 := time.Now()
		p, err := e.restore(ctx, int32(n))
		if err != nil {
			return nil, err
		}
		// The partitions' checkpoints are spread over the interval, so that
		// their encoding and writes (a burst of CPU on the replica and on
		// the brokers) do not all fall at the same moment.
		p.lastCkpt = p.lastCkpt.Add(-e.s.CheckpointInterval * time.Duration(i) / time.Duration(len(assigned)))
		e.metrics.restoreDuration.Observe(time.Since(t0).Seconds())
		parts[int32(n)] = &owned{p: p, proc: e.newProcessor()}
		txn := kafkaio.TopicPartition{Topic: e.s.Transactions, Partition: n}
		if next := p.store.Meta().NextOffset; next > 0 {
			start[txn] = max(a.Committed[txn], next)
		}
		if e.s.UserEvents != "" && p.nextUE > 0 {
			ue := kafkaio.TopicPartition{Topic: e.s.UserEvents, Partition: n}
			start[ue] = max(a.Committed[ue], p.nextUE)
		}
		if e.s.Feedback != "" && p.nextFB > 0 {
			fb := kafkaio.TopicPartition{Topic: e.s.Feedback, Partition: n}
			start[fb] = max(a.Committed[fb], p.nextFB)
		}
		if e.s.Control != "" && p.nextCtl > 0 {
			ctl := kafkaio.TopicPartition{Topic: e.s.Control, Partition: n}
			start[ctl] = max(a.Committed[ctl], p.nextCtl)
		}
		e.log.Info("partition restored", "partition", n, "customers", p.store.Len(),
			"nextOffset", p.store.Meta().NextOffset, "duration", time.Since(t0))
	}
	if err := e.waitCatalog(ctx); err != nil {
		return nil, err
	}
	e.partsMu.Lock()
	e.parts = parts
	e.partsMu.Unlock()
	e.assigned.Store(true)
	e.ready.Store(true)
	return start, nil
}

func (e *Engine) newProcessor() *processor {
	return &processor{s: &e.s, validator: e.validator, catalog: e.catalog, rules: e.ruleHolders, holder: e.ruleHolder, metrics: e.metrics}
}

// restore rebuilds one partition from changelog partition n.
func (e *Engine) restore(ctx context.Context, n int32) (*partition, error) {
	p, err := newPartition(&e.s, n)
	if err != nil {
		return nil, err
	}
	rc := newRestoreCollector(e.s.Transactions, n)
	if err := e.changelog.Restore(ctx, int(n), rc.add); err != nil {
		return nil, fmt.Errorf("failed to restore partition %d from %s: %w", n, e.s.Changelog, err)
	}
	return finishRestore(&e.s, p, rc, e.log)
}

// finishRestore installs what a restoreCollector gathered into p.
func finishRestore(s *Settings, p *partition, rc *restoreCollector, log *slog.Logger) (*partition, error) {
	if st := rc.restorer.Stores()[p.id]; st != nil {
		p.store = st
	}
	next := p.store.Meta().NextOffset
	blob, slot, seq, ok := rc.snapshot(next)
	fraudSlot := -1
	switch {
	case ok:
		if err := decodeSnapshot(p, blob); err != nil {
			return nil, fmt.Errorf("failed to restore the snapshot of partition %d: %w", p.id, err)
		}
		p.snapSlot, p.snapSeq = 1-slot, seq+1
		fraudSlot = slot
	case next > 0:
		// Only possible if the snapshot format or the changelog was
		// tampered with: customer state is exact, dedup and KPIs restart.
		log.Warn("no snapshot matches the offset marker; dedup and KPI state start empty", "partition", p.id, "nextOffset", next)
		p.snapSeq = max(rc.seq[0], rc.seq[1]) + 1
	}
	for key, at := range rc.fences {
		if at > next {
			if p.fences == nil {
				p.fences = map[string]int64{}
			}
			p.fences[key] = at
		} else {
			p.fencePending = append(p.fencePending, kafka.Message{Key: []byte(key)})
		}
	}
	for s := range 2 {
		for i := range rc.slots[s] {
			p.snapCount[s] = max(p.snapCount[s], i+1)
		}
	}
	// A snapshot that carried fraud states (the layout before fraud
	// records) filled p.fraud already.
	rc.fraud.install(p, fraudSlot, len(p.fraud) > 0)
	p.ckptTxn, p.ckptUE, p.ckptFB, p.ckptCtl, p.lastCkpt = next, p.nextUE, p.nextFB, p.nextCtl, time.Now()
	if rc.errors+rc.fraud.errors > 0 {
		log.Warn("changelog records could not be decoded and were ignored", "partition", p.id, "records", rc.errors+rc.fraud.errors)
	}
	return p, nil
}

// OnBatch runs the chain over one batch, writes its outputs (acks=all) and
// checkpoints when the interval has passed.
func (e *Engine) OnBatch(ctx context.Context, b kafkaio.Batch) error {
	e.partsMu.RLock()
	o := e.parts[int32(b.Partition)]
	e.partsMu.RUnlock()
	if o == nil {
		return fmt.Errorf("batch for partition %d, which is not assigned", b.Partition)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.p
	// The processor's output block and message slice carry over from batch
	// to batch (see output): under a light load a batch writes a few
	// records, and a block of its own each time was a third of what the
	// runtime allocated.
	out := &o.proc.out
	defer out.drop()
	switch b.Topic {
	case e.s.Transactions:
		e.trackCalibrationDays(p)
		o.proc.processTransactions(p, b.Topic, b.Messages, out)
		p.hwmTxn = b.HighWaterMark
		e.metrics.lag.WithLabelValues(b.Topic, strconv.Itoa(b.Partition)).Set(float64(max(0, b.HighWaterMark-b.NextOffset())))
	case e.s.UserEvents:
		o.proc.processUserEvents(p, b.Topic, b.Messages, out)
		p.hwmUE = b.HighWaterMark
		e.metrics.lag.WithLabelValues(b.Topic, strconv.Itoa(b.Partition)).Set(float64(max(0, b.HighWaterMark-b.NextOffset())))
	case e.s.Feedback:
		o.proc.processFeedback(p, b.Topic, b.Messages, out)
		p.hwmFB = b.HighWaterMark
		e.metrics.lag.WithLabelValues(b.Topic, strconv.Itoa(b.Partition)).Set(float64(max(0, b.HighWaterMark-b.NextOffset())))
	case e.s.Control:
		e.processControl(p, o.proc, b.Topic, b.Messages, out)
		p.hwmCtl = b.HighWaterMark
	default:
		return fmt.Errorf("batch of unexpected topic %q", b.Topic)
	}
	e.eventsTotal.Add(int64(len(b.Messages)))
	if err := e.write(ctx, out.msgs); err != nil {
		// The state now includes records whose outputs are not durable:
		// it must never be checkpointed. The process restarts and replays.
		// A write given up (a cancelled context) can leave kafka-go's
		// writer reading the records: their blocks are never reused.
		p.failed = true
		out.abandon()
		return fmt.Errorf("failed to write the outputs of %s/%d: %w", b.Topic, b.Partition, err)
	}
	// Written and acked: the sink holds none of the records any more, and
	// nothing else kept them (the lake copies what it needs from the
	// chain's values), so the blocks they filled can be reused.
	out.written()
	e.metrics.customers.WithLabelValues(strconv.Itoa(b.Partition)).Set(float64(p.store.Len()))
	if err := e.harvest(p, false); err != nil {
		return err
	}
	e.advanceCapture(p, captureBudget)
	e.lakeBackpressure(ctx, p)
	// An erasure is checkpointed at once: until then the changelog still
	// holds the customer.
	if time.Since(p.lastCkpt) >= e.s.CheckpointInterval || p.eraseCkpts == eraseCheckpoints {
		return e.startCheckpoint(ctx, p)
	}
	return nil
}

func (e *Engine) write(ctx context.Context, msgs []kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := e.sink.WriteBatch(ctx, msgs); err != nil {
		return err
	}
	for i := range msgs {
		if msgs[i].Topic == e.s.DeadLetter {
			e.dlqTotal.Add(1)
		}
		e.metrics.outputsWritten.WithLabelValues(msgs[i].Topic).Inc()
	}
	return nil
}

// OnRevoked checkpoints and commits every owned partition.
func (e *Engine) OnRevoked(ctx context.Context, _ []kafkaio.TopicPartition) error {
	e.ready.Store(false)
	e.partsMu.Lock()
	parts := e.parts
	e.parts = map[int32]*owned{}
	e.partsMu.Unlock()
	var errs []error
	for _, o := range parts {
		o.mu.Lock()
		if !o.p.failed && !o.p.revoked {
			if err := e.checkpoint(ctx, o.p); err != nil {
				errs = append(errs, err)
			}
		}
		// The checkpoint timer may still hold this partition: it must not
		// write after the next owner starts restoring.
		o.p.revoked = true
		o.mu.Unlock()
	}
	if ok, _ := e.LakeHealthy(); ok && e.lake != nil {
		// Best effort and bounded, so the hand-over stays quick: whoever
		// restores the partition commits what is left.
		cctx, cancel := context.WithTimeout(ctx, lakeRevokeCommitTimeout)
		for _, o := range parts {
			if err := e.commitLake(cctx, o); err != nil {
				e.log.Warn("lake commit on revoke failed; the next owner commits the staged files", "partition", o.p.id, "err", err)
			}
		}
		cancel()
	}
	e.assigned.Store(false)
	return errors.Join(errs...)
}

// checkpoint writes a checkpoint of p and waits for it (after any one
// still in flight): on revoke and shutdown. The caller holds p's lock.
func (e *Engine) checkpoint(ctx context.Context, p *partition) error {
	if err := e.harvest(p, true); err != nil {
		return err
	}
	if err := e.startCheckpoint(ctx, p); err != nil {
		return err
	}
	return e.harvest(p, true)
}

// inflightCheckpoint is a checkpoint whose records are being written while
// the partition goes on processing.
type inflightCheckpoint struct {
	done chan struct{}
	err  error // set before done is closed

	recs                          []state.Record
	lakeFiles                     []*lakeFile // written before the changelog records
	next, nextUE, nextFB, nextCtl int64
	slot                          int
	eraseSeq                      uint64          // partition.eraseSeq when encoded
	fences                        []kafka.Message // fence records written (control_fence.go)
	live                          int
	started                       time.Time

	// What is written: body (customers, snapshot chunks, fences, then the
	// fraud records once captured), then marker; then offsets are
	// committed.
	body    []kafka.Message
	marker  kafka.Message
	offsets map[kafkaio.TopicPartition]int64
	ctx     context.Context // of the writes: the engine's, without its cancellation
	// capture encodes the fraud records while the partition goes on
	// (advanceCapture); writing is set once it is complete and the
	// checkpoint is being written.
	capture *checkpointCapture
	fraud   [][]kafka.Message // the capture's records, once complete
	writing bool
}

// startCheckpoint encodes p's changed customers, snapshot and offset marker
// under p's lock (the caller holds it) and hands them to a goroutine that
// appends them to changelog partition p.id (records, then, once those are
// acknowledged, the marker) and then commits the input offsets. Processing
// continues meanwhile: the checkpoint describes the state at the offsets it
// was encoded at, and the outputs of everything before those offsets were
// written before. At most one checkpoint per partition is in flight, so the
// changelog sees body, marker, body, marker in order, as the restore
// requires; harvest collects the outcome.
func (e *Engine) startCheckpoint(ctx context.Context, p *partition) error {
	return e.startCheckpointWithin(ctx, p, captureBudget)
}

// startCheckpointWithin is startCheckpoint spending at most budget on the
// fraud capture before it returns (at least one step of it, see
// advanceCapture): tests pass 0 to leave a capture unfinished whatever
// the speed of the machine.
func (e *Engine) startCheckpointWithin(ctx context.Context, p *partition, budget time.Duration) error {
	if p.inflight != nil || p.revoked {
		return nil // the next batch after it finishes checkpoints
	}
	t0 := time.Now()
	// Expiry scans the whole fraud state under the lock: every 25
	// checkpoint intervals, at most every 30 s, not at every checkpoint.
	// Expired windows are ones no rule can read any more. It runs before
	// the check for progress below: a partition that went idle right
	// after its event time moved on still drops what that made stale, and
	// the removals, listed for both slots, are then checkpointed.
	if every := min(25*e.s.CheckpointInterval, 30*time.Second); !p.failed && t0.Sub(p.lastExpire) >= every {
		p.lastExpire = t0
		if n := p.expireFraud(); n > 0 {
			e.metrics.fraudExpired.Add(float64(n))
		}
	}
	next := p.store.Meta().NextOffset
	if p.failed || (next == p.ckptTxn && p.nextUE == p.ckptUE && p.nextFB == p.ckptFB && p.nextCtl == p.ckptCtl &&
		p.store.Dirty() == 0 && p.eraseCkpts == 0 && len(p.fencePending) == 0 && !p.lake.pending() && !p.fraudBook.pending()) {
		p.lastCkpt = time.Now()
		return nil
	}
	if e.lake != nil && p.lake.pending() && e.lake.waiting() {
		// The object store failed recently: the marker must not pass rows
		// the lake does not hold, so no checkpoint until the retry time.
		p.lastCkpt = time.Now()
		return nil
	}
	if e.lake != nil {
		p.lake.cut(e.lake, p.id)
	}
	lakeFiles := p.lake.inflight
	body, live, capture, err := beginCheckpoint(e.s.Transactions, p)
	if err != nil {
		p.lake.done(lakeFiles, false)
		return err
	}
	fences := p.fencePending
	p.fencePending = nil
	body = append(body, fences...)
	e.metrics.checkpointPause.Observe(time.Since(t0).Seconds())
	c := &inflightCheckpoint{done: make(chan struct{}), lakeFiles: lakeFiles, next: next, nextUE: p.nextUE, nextFB: p.nextFB,
		nextCtl: p.nextCtl, slot: p.snapSlot, live: live, started: t0, eraseSeq: p.eraseSeq, fences: fences,
		body: body, capture: capture, offsets: map[kafkaio.TopicPartition]int64{},
		// The writes outlive the batch that started them, not the
		// engine's shutdown, which waits for them (OnRevoked).
		ctx: context.WithoutCancel(ctx)}
	p.inflight = c
	p.lastCkpt = t0
	if next > 0 {
		c.offsets[kafkaio.TopicPartition{Topic: e.s.Transactions, Partition: int(p.id)}] = next
	}
	if e.s.UserEvents != "" && p.nextUE > 0 {
		c.offsets[kafkaio.TopicPartition{Topic: e.s.UserEvents, Partition: int(p.id)}] = p.nextUE
	}
	if e.s.Feedback != "" && p.nextFB > 0 {
		c.offsets[kafkaio.TopicPartition{Topic: e.s.Feedback, Partition: int(p.id)}] = p.nextFB
	}
	if e.s.Control != "" && p.nextCtl > 0 {
		c.offsets[kafkaio.TopicPartition{Topic: e.s.Control, Partition: int(p.id)}] = p.nextCtl
	}
	e.advanceCapture(p, budget)
	return nil
}

// Budgets of the fraud capture (fraudCapture) of a checkpoint in flight:
// what a batch spends on it once its own outputs are written, and what the
// checkpoint timer spends on it for a partition that no batch holds. The
// partition's own goroutine encodes it, between batches: a goroutine of its
// own, taking the partition lock in turns, left every event of the
// partition waiting behind hand-offs of the lock and of the processor for
// the whole capture (about a second, at 10,000 events/s).
const (
	captureBudget     = time.Millisecond
	idleCaptureBudget = 5 * time.Millisecond
)

// advanceCapture encodes, for at most budget, the fraud records p's
// checkpoint in flight still has to capture, and hands the checkpoint to a
// writer goroutine once they are all encoded; time left sweeps the
// fraudBook. The caller holds p's lock.
func (e *Engine) advanceCapture(p *partition, budget time.Duration) {
	deadline := time.Now().Add(budget)
	if c := p.inflight; c != nil && !c.writing {
		for !c.capture.step(p, fraudCaptureStep) {
			if time.Now().After(deadline) {
				return
			}
		}
		c.finishCapture(p)
		go e.writeCheckpoint(p.id, c)
	}
	// Entries that no slot lists any more leave the book, a few at a time.
	for p.fraudBook.sweep(fraudCaptureStep) && time.Now().Before(deadline) {
	}
}

// finishCapture encodes the customer and fraud records c has left to
// capture and makes c ready to be written. The caller holds p's lock.
func (c *inflightCheckpoint) finishCapture(p *partition) {
	c.recs, c.fraud = c.capture.finish(p)
	m := c.recs[len(c.recs)-1]
	c.marker = kafka.Message{Key: m.Key, Value: m.Value}
	c.capture = nil
	c.writing = true
}

// checkpointCapture is what a checkpoint encodes after it is taken, while
// its partition goes on processing: the changed customers
// (state.StoreCapture) and the fraud records (fraudCapture), each
// copy-on-write, so that both hold the state of the moment the checkpoint
// was taken.
type checkpointCapture struct {
	store *state.StoreCapture
	fraud *fraudCapture
}

// step encodes up to n customers, then up to n fraud entries, and reports
// whether none of either is left.
func (c *checkpointCapture) step(p *partition, n int) bool {
	return c.store.Step(n) && c.fraud.step(p, n)
}

// finish encodes what is left and returns the customer records, the
// offset marker last, and the fraud records in chunks.
func (c *checkpointCapture) finish(p *partition) ([]state.Record, [][]kafka.Message) {
	return c.store.Finish(), c.fraud.finish(p)
}

// storeMessages returns the customer records of recs (the marker, last,
// excluded) as messages.
func storeMessages(recs []state.Record) []kafka.Message {
	msgs := make([]kafka.Message, len(recs)-1)
	for i, r := range recs[:len(recs)-1] {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
	}
	return msgs
}

// writeCheckpoint appends c to changelog partition id (its lake files
// first, then its body, then, once those are acknowledged, its marker) and
// commits its input offsets; it closes c.done.
func (e *Engine) writeCheckpoint(id int32, c *inflightCheckpoint) {
	defer close(c.done)
	ctx := c.ctx
	// Lake files first: the snapshot names them, so they must be durable
	// before it is.
	if len(c.lakeFiles) > 0 {
		if err := e.lake.stage(ctx, c.lakeFiles); err != nil {
			c.err = &lakeStageError{err: err}
			return
		}
	}
	// Two appends: the marker must not become durable before everything it
	// covers, and one Append may be split over several produce requests.
	// The customer and fraud records join the body here, off the
	// partition lock.
	c.body = slices.Concat(append([][]kafka.Message{c.body, storeMessages(c.recs)}, c.fraud...)...)
	c.fraud = nil
	if err := e.appendPaced(ctx, id, c.body); err != nil {
		c.err = fmt.Errorf("failed to append the checkpoint of partition %d: %w", id, err)
		return
	}
	if err := e.changelog.Append(ctx, int(id), []kafka.Message{{Key: c.marker.Key, Value: c.marker.Value}}); err != nil {
		c.err = fmt.Errorf("failed to append the offset marker of partition %d: %w", id, err)
		return
	}
	size := len(c.marker.Key) + len(c.marker.Value)
	for _, m := range c.body {
		size += len(m.Key) + len(m.Value)
	}
	e.metrics.checkpointBytes.Add(float64(size))
	if len(c.offsets) > 0 {
		// A failed commit is safe: the marker is durable and the next owner
		// resumes from the greater of the two.
		if err := e.source.Commit(ctx, c.offsets); err != nil {
			e.log.Warn("offset commit failed; the changelog marker covers it", "partition", id, "err", err)
		}
	}
	e.metrics.checkpoint.Observe(time.Since(c.started).Seconds())
}

// Checkpoint records are appended in chunks of checkpointChunk, at most
// checkpointPace apart, spread over no more than a quarter of the
// checkpoint interval. A checkpoint of tens of thousands of records written
// at once keeps the brokers (and the writer's encoding) busy for tens of
// milliseconds, and every partition's outputs and fetches wait behind it;
// in pieces, they pass in between.
const (
	checkpointChunk = 1000
	checkpointPace  = 10 * time.Millisecond
)

// appendPaced appends msgs to changelog partition id in chunks (see
// checkpointChunk).
func (e *Engine) appendPaced(ctx context.Context, id int32, msgs []kafka.Message) error {
	chunks := (len(msgs) + checkpointChunk - 1) / checkpointChunk
	pace := checkpointPace
	if chunks > 1 {
		pace = min(pace, e.s.CheckpointInterval/4/time.Duration(chunks-1))
	}
	for i := 0; i < len(msgs); i += checkpointChunk {
		if i > 0 && pace > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pace):
			}
		}
		if err := e.changelog.Append(ctx, int(id), msgs[i:min(i+checkpointChunk, len(msgs))]); err != nil {
			return err
		}
	}
	return nil
}

// encodeCheckpoint encodes p's checkpoint into the changelog slot
// p.snapSlot at once (beginCheckpoint, then the whole capture), for callers
// that write it synchronously: the body, the offset marker to append once
// the body is durable, the customer records (to requeue if the write
// fails) and the number of snapshot chunks with a value.
func encodeCheckpoint(topic string, p *partition) (body []kafka.Message, marker kafka.Message, recs []state.Record, live int, err error) {
	body, live, capture, err := beginCheckpoint(topic, p)
	if err != nil {
		return nil, marker, nil, 0, err
	}
	recs, fraudRecs := capture.finish(p)
	m := recs[len(recs)-1]
	body = slices.Concat(append([][]kafka.Message{body, storeMessages(recs)}, fraudRecs...)...)
	return body, kafka.Message{Key: m.Key, Value: m.Value}, recs, live, nil
}

// beginCheckpoint takes p's checkpoint into the changelog slot p.snapSlot,
// under p's lock: it encodes the snapshot chunks at once and starts the
// capture of the changed customers and fraud entries, which is encoded
// while the partition goes on (advanceCapture). It returns the chunks and
// the number of them with a value.
func beginCheckpoint(topic string, p *partition) (chunks []kafka.Message, live int, capture *checkpointCapture, err error) {
	blob, err := encodeSnapshot(p)
	if err != nil {
		return nil, 0, nil, err
	}
	// Nothing changes the state between the snapshot and the captures'
	// start: all three describe the same moment.
	capture = &checkpointCapture{store: p.store.StartCheckpoint(), fraud: p.startFraudCapture(topic, p.snapSlot)}
	chunks = snapshotChunks(topic, p, blob)
	return chunks, countLive(chunks), capture, nil
}

// harvest applies the outcome of p's checkpoint in flight, if it finished
// (or, with wait, once it finishes). A failed checkpoint puts its customer
// records back to be written by the next one and is returned. The caller
// holds p's lock.
func (e *Engine) harvest(p *partition, wait bool) error {
	c := p.inflight
	if c == nil {
		return nil
	}
	if wait {
		if !c.writing {
			// The capture is not finished: finish and write it here.
			c.finishCapture(p)
			e.writeCheckpoint(p.id, c)
		}
		<-c.done
	} else {
		select {
		case <-c.done:
		default:
			return nil
		}
	}
	p.inflight = nil
	if c.err != nil {
		p.store.Requeue(c.recs)
		p.fraudFailed(c.slot)
		p.fencePending = append(c.fences, p.fencePending...)
		p.lake.done(c.lakeFiles, false)
		if se := (*lakeStageError)(nil); errors.As(c.err, &se) {
			// Not fatal: rows stay buffered and the checkpoint is retried
			// after a backoff; status and readiness report it.
			e.lake.fail("stage", se.err)
			e.log.Warn("lake write failed; the checkpoint waits for the object store", "lake", e.lake.l.String(), "err", se.err)
			return nil
		}
		return c.err
	}
	p.lake.done(c.lakeFiles, true)
	if e.lake != nil && len(c.lakeFiles) > 0 {
		e.lake.stagedOK()
	}
	p.slotWritten(c.slot, c.live)
	p.ckptTxn, p.ckptUE, p.ckptFB, p.ckptCtl = c.next, c.nextUE, c.nextFB, c.nextCtl
	p.dropFences(c.next)
	if p.eraseCkpts > 0 && c.eraseSeq == p.eraseSeq {
		p.eraseCkpts-- // a checkpoint encoded before the erasure still holds it
	}
	return nil
}

func countLive(msgs []kafka.Message) int {
	n := 0
	for _, m := range msgs {
		if m.Value != nil {
			n++
		}
	}
	return n
}

// checkpointLoop checkpoints partitions that received no batch for a while,
// so that an idle partition's progress is committed too.
func (e *Engine) checkpointLoop(ctx context.Context) {
	every := max(e.s.CheckpointInterval/2, 50*time.Millisecond)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.partsMu.RLock()
		parts := make([]*owned, 0, len(e.parts))
		for _, o := range e.parts {
			parts = append(parts, o)
		}
		e.partsMu.RUnlock()
		capturing := false
		for _, o := range parts {
			if !o.mu.TryLock() {
				continue // a batch is in flight; it checkpoints and captures itself
			}
			if err := e.harvest(o.p, false); err != nil {
				e.log.Warn("checkpoint failed; it is retried", "partition", o.p.id, "err", err)
			}
			// A partition without batches still completes its capture.
			e.advanceCapture(o.p, idleCaptureBudget)
			if time.Since(o.p.lastCkpt) >= e.s.CheckpointInterval {
				if err := e.startCheckpoint(ctx, o.p); err != nil {
					e.log.Warn("checkpoint failed", "partition", o.p.id, "err", err)
				}
			}
			if c := o.p.inflight; c != nil && !c.writing {
				capturing = true
			}
			o.mu.Unlock()
		}
		if capturing {
			// A capture in flight is advanced every few milliseconds: a
			// partition that receives few batches would otherwise take
			// many rounds of the interval to finish its checkpoint.
			t.Reset(idleCaptureBudget)
		} else {
			t.Reset(every)
		}
	}
}

func (e *Engine) rateLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := e.eventsTotal.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.updateRuleGauges()
		cur := e.eventsTotal.Load()
		e.rateMu.Lock()
		// alpha for a one-minute-ish time constant at 1 s ticks
		const alpha = 1 - 0.9200444146293233 // 1 - exp(-1/12)
		e.rate += alpha * (float64(cur-last) - e.rate)
		e.rateMu.Unlock()
		last = cur
		e.catalogMetrics()
	}
}

func (e *Engine) catalogMetrics() {
	e.metrics.catalogProducts.Set(float64(e.catalog.Stats().Products))
	if _, pending := e.CatalogPending(); !pending {
		e.metrics.catalogLoaded.Set(1)
	}
}

// ProductFromUpdate maps a product_update event onto a catalog product.
func ProductFromUpdate(u *events.ProductUpdate) catalog.Product {
	p := catalog.Product{ID: u.ProductID, Name: u.Name, Category: u.Category, Brand: u.Brand, Currency: u.Currency, UpdatedAt: u.EventTime}
	if u.Price != nil {
		p.Price = *u.Price
	}
	// An absent cost is taken as 0: catalog.Product cannot say "unknown"
	// yet, so such products overstate the margin.
	if u.Cost != nil {
		p.Cost = *u.Cost
	}
	if u.Stock != nil {
		p.Stock = *u.Stock
	}
	return p
}
