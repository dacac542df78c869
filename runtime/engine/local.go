package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/catalog"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// Local runs the stage chain of one partition in process, without Kafka:
// the engine's benchmarks drive it, and it shows what one partition worker
// does per record.
type Local struct {
	s    Settings
	p    *partition
	proc *processor
	out  output
}

// NewLocal returns a Local for partition 0 with the given rule sets.
func NewLocal(s Settings, ruleSets []v1alpha1.FraudRuleSetConfig) (*Local, error) {
	p, err := newPartition(&s, 0)
	if err != nil {
		return nil, err
	}
	var holders []*fraud.Holder
	for _, rs := range ruleSets {
		h := fraud.NewHolder()
		if _, err := h.Update(rs.Name, rs.Generation, rs.Spec); err != nil {
			return nil, err
		}
		holders = append(holders, h)
	}
	l := &Local{s: s, p: p}
	l.proc = &processor{s: &l.s, validator: events.NewValidator(s.Validator), catalog: catalog.New(),
		rules: func() []*fraud.Holder { return holders }, metrics: newMetrics()}
	return l, nil
}

// DiscardOutput drops the records processing produced and has not handed
// out, as writing them would, and the full blocks kept for reuse (the
// current one stays): StateBytesPerCustomer counts the partition's state,
// not the output's spare blocks.
func (l *Local) DiscardOutput() { l.out.msgs, l.out.filled, l.out.spare = nil, nil, nil }

// dropOutput drops the records of the previous call, as the engine's write
// does once they are acked (OnBatch): nothing outside the Local ever sees
// them, so the blocks they filled can be reused.
func (l *Local) dropOutput() {
	l.out.drop()
	l.out.written()
}

// Catalog is the Local's product catalog.
func (l *Local) Catalog() *catalog.Catalog { return l.proc.catalog }

// ProcessTransactions runs msgs (with increasing offsets) through the chain
// and returns the number of output records produced.
func (l *Local) ProcessTransactions(msgs []kafka.Message) int {
	l.dropOutput()
	l.proc.processTransactions(l.p, l.s.Transactions, msgs, &l.out)
	return len(l.out.msgs)
}

// ProcessUserEvents runs msgs (with increasing offsets) through the
// user-events chain and returns the number of output records produced.
func (l *Local) ProcessUserEvents(msgs []kafka.Message) int {
	l.dropOutput()
	l.proc.processUserEvents(l.p, l.s.UserEvents, msgs, &l.out)
	return len(l.out.msgs)
}

// Metrics returns the Local's metrics and registry.
func (l *Local) Metrics() *Metrics { return l.proc.metrics }

// Customers is the number of customers in the state.
func (l *Local) Customers() int { return l.p.store.Len() }

// CheckpointBytes encodes a checkpoint (changed customers, changed fraud
// entries, snapshot and marker) as if it were written, and returns its size
// in bytes. The first one after processing from empty state holds every
// customer and fraud entry.
func (l *Local) CheckpointBytes() (int, error) {
	body, marker, _, live, err := encodeCheckpoint(l.s.Transactions, l.p)
	if err != nil {
		return 0, err
	}
	l.p.slotWritten(l.p.snapSlot, live)
	for l.p.fraudBook.sweep(math.MaxInt) {
	}
	n := len(marker.Key) + len(marker.Value)
	for _, m := range body {
		n += len(m.Key) + len(m.Value)
	}
	return n, nil
}

// RestoreResult is what RestorePartition read.
type RestoreResult struct {
	Records   int
	Bytes     int64
	Customers int
	Elapsed   time.Duration
}

// RestorePartition restores changelog partition n through Kafka, as an
// owner does on assignment, and reports what it read.
func RestorePartition(ctx context.Context, kcfg kafkaio.Config, s *Settings, n int32) (RestoreResult, error) {
	cl, err := kafkaio.NewClient(kcfg)
	if err != nil {
		return RestoreResult{}, err
	}
	defer cl.Close()
	log := cl.NewChangelog(s.Changelog)
	defer log.Close()
	t0 := time.Now()
	rc := newRestoreCollector(s.Transactions, n)
	if err := log.Restore(ctx, int(n), rc.add); err != nil {
		return RestoreResult{}, fmt.Errorf("failed to restore partition %d: %w", n, err)
	}
	p, err := newPartition(s, n)
	if err != nil {
		return RestoreResult{}, err
	}
	if p, err = finishRestore(s, p, rc, slog.New(slog.DiscardHandler)); err != nil {
		return RestoreResult{}, err
	}
	return RestoreResult{Records: rc.records, Bytes: rc.bytes, Customers: p.store.Len(), Elapsed: time.Since(t0)}, nil
}
