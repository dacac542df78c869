package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/state"
)

// fraudLogLocal is a partition worker whose rule set keeps every kind of
// fraud entry (keepEveryFraudEntry).
func fraudLogLocal(t *testing.T) *Local {
	t.Helper()
	rc := testRuntimeConfig([]string{"unused:9092"})
	keepEveryFraudEntry(rc)
	s, err := Resolve(rc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(s, rc.FraudRuleSets)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// keepEveryFraudEntry gives rc's rule set features and a rule that keep
// every kind of fraud entry: customer and card windows, merchants, alerts
// and tallies.
func keepEveryFraudEntry(rc *v1alpha1.RuntimeConfig) {
	rc.FraudRuleSets[0].Spec.Features = []v1alpha1.VelocityFeature{
		{Name: "card_txns_10m", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "10m"},
		{Name: "customer_spend_1h", Aggregation: v1alpha1.AggregationSum, KeyBy: v1alpha1.KeyCustomer, Field: "amount", Window: "1h"},
	}
	rc.FraudRuleSets[0].Spec.Rules = append(rc.FraudRuleSets[0].Spec.Rules,
		v1alpha1.FraudRule{Name: "card-burst", Expression: "features.card_txns_10m >= 2", Score: 100})
}

// restoreLocal restores partition 0 of a fraudLogLocal from the changelog
// records in log, as an owner does on assignment.
func restoreLocal(t *testing.T, log []kafka.Message) *Local {
	t.Helper()
	l := fraudLogLocal(t)
	rc := newRestoreCollector(l.s.Transactions, 0)
	for _, m := range log {
		if err := rc.add(m.Key, m.Value); err != nil {
			t.Fatal(err)
		}
	}
	p, err := finishRestore(&l.s, l.p, rc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	l.p = p
	return l
}

// txnMessages generates n transactions of 300 customers over the last two
// hours, as the records at offsets 0 to n-1 of a partition.
func txnMessages(seed uint64, n int) []kafka.Message {
	gen := enginetest.NewGenerator(seed, 300, 40, time.Now().Add(-2*time.Hour), 200*time.Millisecond)
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		x := gen.Next()
		msgs[i] = kafka.Message{Offset: int64(i), Key: x.Key, Value: x.Value}
	}
	return msgs
}

// fraudImage is every fraud state of p in its snapshot encoding.
func fraudImage(t *testing.T, p *partition) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for n, st := range p.fraud {
		b, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != (fraud.StateSize{}) {
			out[n] = b
		}
	}
	return out
}

// TestFraudRecordsRestoreExactlyTheMarkersState: fraud entries are
// changelog records in two alternating slots. A checkpoint cut short by a
// crash (part of its records written, no offset marker) must not leak into
// the restored state, even after the restarted owner goes another way (it
// replays less input before its next checkpoint than the crashed one had
// processed), and the next restore must see exactly that next checkpoint.
func TestFraudRecordsRestoreExactlyTheMarkersState(t *testing.T) {
	msgs := txnMessages(5, 4000)
	const c1, c2, crash, replayed = 1000, 2000, 3500, 2600
	ref := fraudLogLocal(t)
	ref.ProcessTransactions(msgs[:c2])
	atC2 := fraudImage(t, ref.p)
	ref.ProcessTransactions(msgs[c2:replayed])
	atReplayed := fraudImage(t, ref.p)
	if len(atC2) == 0 {
		t.Fatal("the rule set kept no fraud state")
	}

	var log []kafka.Message
	checkpoint := func(l *Local, bodyPrefix int) {
		body, marker, _, live, err := encodeCheckpoint(l.s.Transactions, l.p)
		if err != nil {
			t.Fatal(err)
		}
		if bodyPrefix >= 0 { // crash part way through the body
			log = append(log, body[:min(bodyPrefix, len(body))]...)
			return
		}
		log = append(log, body...)
		log = append(log, marker)
		l.p.slotWritten(l.p.snapSlot, live)
	}
	restore := func() *Local { return restoreLocal(t, log) }
	same := func(what string, got, want map[string][]byte) {
		t.Helper()
		if !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("%s: restored fraud state differs from the reference (%d vs %d rule sets)", what, len(got), len(want))
		}
	}

	l := fraudLogLocal(t)
	l.ProcessTransactions(msgs[:c1])
	checkpoint(l, -1) // slot 0
	l.ProcessTransactions(msgs[c1:c2])
	checkpoint(l, -1) // slot 1, marker at c2
	l.ProcessTransactions(msgs[c2:crash])
	before := len(log)
	checkpoint(l, 40000) // slot 0, cut short
	partial := 0
	for _, m := range log[before:] {
		if bytes.HasPrefix(m.Key, []byte(fraudPrefix)) {
			partial++
		}
	}
	if partial == 0 {
		t.Fatal("the cut checkpoint wrote no fraud records")
	}

	r := restore()
	if got := r.p.store.Meta().NextOffset; got != c2 {
		t.Fatalf("restored marker at %d, want %d", got, c2)
	}
	same("after the crash", fraudImage(t, r.p), atC2)

	// The new owner replays less than the crashed one had processed, so
	// some of slot 0's leftover records describe a future that never
	// happens; its next checkpoint into slot 0 must overwrite them all.
	r.ProcessTransactions(msgs[:replayed]) // offsets below the marker are skipped
	checkpoint(r, -1)
	log = append(log[:0:0], log...)
	r2 := restore()
	same("after the next checkpoint", fraudImage(t, r2.p), atReplayed)

	// And the slot after that (1) stays exact too.
	r2.ProcessTransactions(msgs)
	checkpoint(r2, -1)
	ref.ProcessTransactions(msgs[replayed:])
	same("two checkpoints later", fraudImage(t, restore().p), fraudImage(t, ref.p))

	keys := map[string]bool{}
	for _, m := range log {
		if slot, set, entry, ok := parseFraudKey(m.Key, "txns", 0); ok {
			keys[fmt.Sprint(slot, set, entry)] = true
		}
	}
	if n := len(slices.Collect(maps.Keys(keys))); n < 100 {
		t.Fatalf("only %d distinct fraud records", n)
	}
}

// customerImage is p's customer state, each customer in its record
// encoding.
func customerImage(p *partition) map[string][]byte {
	out := map[string][]byte{}
	p.store.Range(func(id string, c *state.Customer) bool {
		out[id], _ = c.AppendBinary(nil)
		return true
	})
	return out
}

// TestCaptureWhileProcessingIsTheCheckpointsState: a checkpoint's customer
// and fraud records are encoded while the partition goes on processing, a
// step at a time and, for an entry about to change, just before the
// change. Restoring each checkpoint must give exactly the state at the
// moment it was taken, over several checkpoints into both slots.
func TestCaptureWhileProcessingIsTheCheckpointsState(t *testing.T) {
	msgs := txnMessages(7, 6000)
	l, ref := fraudLogLocal(t), fraudLogLocal(t)
	var log []kafka.Message
	next, early, encoded := 0, 0, 0
	for round := range 4 {
		cut := next + 700
		l.ProcessTransactions(msgs[next:cut])
		ref.ProcessTransactions(msgs[next:cut])
		want, wantCustomers := fraudImage(t, ref.p), customerImage(ref.p)
		body, live, capture, err := beginCheckpoint(l.s.Transactions, l.p)
		if err != nil {
			t.Fatal(err)
		}
		// Small batches between small steps, as a partition's batches
		// advance its capture.
		for next = cut; !capture.step(l.p, 40); next += 10 {
			l.ProcessTransactions(msgs[next : next+10])
		}
		early += capture.fraud.early
		recs, fraudChunks := capture.finish(l.p)
		fraudRecs := slices.Concat(fraudChunks...)
		encoded += len(fraudRecs)
		log = append(log, body...)
		log = append(log, storeMessages(recs)...)
		log = append(log, fraudRecs...)
		log = append(log, kafka.Message{Key: recs[len(recs)-1].Key, Value: recs[len(recs)-1].Value})
		l.p.slotWritten(l.p.snapSlot, live)
		r := restoreLocal(t, log)
		if got := fraudImage(t, r.p); !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("checkpoint %d (slot %d): the restored fraud state is not the state at the checkpoint", round, 1-l.p.snapSlot)
		}
		if got := customerImage(r.p); !maps.EqualFunc(got, wantCustomers, bytes.Equal) || len(got) == 0 {
			t.Fatalf("checkpoint %d: the restored customers (%d) are not those at the checkpoint (%d)", round, len(got), len(wantCustomers))
		}
		if next == cut {
			t.Fatalf("checkpoint %d: nothing was processed during the capture", round)
		}
		ref.ProcessTransactions(msgs[cut:next])
	}
	t.Logf("%d fraud records, %d of them encoded before a change", encoded, early)
	if early == 0 {
		t.Fatal("no entry was encoded copy-on-write")
	}
}

// legacySnapshot encodes p's snapshot as the layout before fraud records
// did: the fraud states in full, in the blob.
func legacySnapshot(t *testing.T, p *partition) []byte {
	t.Helper()
	blob, err := encodeSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	// The layout ends with a fraud-state count of 0, then the feedback and
	// control offsets and the staged lake files; splice the states in
	// before them.
	lakeData, err := p.lake.encode()
	if err != nil {
		t.Fatal(err)
	}
	after := binary.AppendVarint(nil, p.nextFB)
	after = binary.AppendVarint(after, p.nextCtl)
	after = binary.AppendUvarint(after, uint64(len(lakeData)))
	after = append(after, lakeData...)
	tail := append(binary.AppendUvarint(nil, 0), after...)
	if !bytes.HasSuffix(blob, tail) {
		t.Fatal("unexpected snapshot layout")
	}
	out := slices.Clone(blob[:len(blob)-len(tail)])
	names := slices.Sorted(maps.Keys(p.fraud))
	out = binary.AppendUvarint(out, uint64(len(names)))
	for _, n := range names {
		data, err := p.fraud[n].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = binary.AppendUvarint(out, uint64(len(n)))
		out = append(out, n...)
		out = binary.AppendUvarint(out, uint64(len(data)))
		out = append(out, data...)
	}
	return append(out, after...)
}

// TestFraudStateFromLegacySnapshotMovesToRecords: a partition checkpointed
// by a runtime that kept fraud state in the snapshot restores it from
// there, and the next two checkpoints write it as records into both slots,
// so that later restores, which no longer find it in any snapshot, are
// exact.
func TestFraudStateFromLegacySnapshotMovesToRecords(t *testing.T) {
	gen := enginetest.NewGenerator(9, 200, 30, time.Now().Add(-time.Hour), 300*time.Millisecond)
	msgs := make([]kafka.Message, 1500)
	for i := range msgs {
		x := gen.Next()
		msgs[i] = kafka.Message{Offset: int64(i), Key: x.Key, Value: x.Value}
	}
	old := fraudLogLocal(t)
	old.ProcessTransactions(msgs[:1000])
	want := fraudImage(t, old.p)
	recs := old.p.store.Checkpoint()
	var log []kafka.Message
	for _, r := range recs {
		log = append(log, kafka.Message{Key: r.Key, Value: r.Value})
	}
	marker := log[len(log)-1]
	log = append(log[:len(log)-1], snapshotChunks("txns", old.p, legacySnapshot(t, old.p))...)
	log = append(log, marker)

	restore := func() *Local { return restoreLocal(t, log) }
	l := restore()
	if got := fraudImage(t, l.p); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatal("fraud state from the legacy snapshot differs")
	}
	for range 2 {
		body, marker, _, live, err := encodeCheckpoint(l.s.Transactions, l.p)
		if err != nil {
			t.Fatal(err)
		}
		log = append(append(log, body...), marker)
		l.p.slotWritten(l.p.snapSlot, live)
		if got := fraudImage(t, restore().p); !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatal("fraud state restored from records differs")
		}
	}
	l.ProcessTransactions(msgs)
	old.ProcessTransactions(msgs)
	body, marker, _, _, err := encodeCheckpoint(l.s.Transactions, l.p)
	if err != nil {
		t.Fatal(err)
	}
	log = append(append(log, body...), marker)
	if got := fraudImage(t, restore().p); !maps.EqualFunc(got, fraudImage(t, old.p), bytes.Equal) {
		t.Fatal("fraud state after more input differs")
	}
}

// BenchmarkFraudRecords: the checkpoint's fraud records, encoded under the
// partition lock, per record (every entry of a 20,000-customer partition
// pending).
func BenchmarkFraudRecords(b *testing.B) {
	t := &testing.T{}
	l := fraudLogLocal(t)
	gen := enginetest.NewGenerator(1, 20_000, 500, time.Now().Add(-30*time.Minute), time.Millisecond)
	msgs := make([]kafka.Message, 40_000)
	for i := range msgs {
		x := gen.Next()
		msgs[i] = kafka.Message{Offset: int64(i), Key: x.Key, Value: x.Value}
	}
	l.ProcessTransactions(msgs)
	records := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for n, st := range l.p.fraud {
			st.Keys(func(r fraud.EntryRef) { l.p.noteFraud(1, fraudEntry{n, r}) })
		}
		b.StartTimer()
		recs := l.p.fraudRecords("txns", 0)
		records += len(recs)
		l.p.fraudWritten(0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(records)/float64(b.N), "records")
}

// BenchmarkFraudCheckpointEncode compares, side by side on one partition,
// what a checkpoint encodes under the partition lock for its fraud state:
// the full snapshot the engine wrote before (MarshalBinary) and the
// records of the entries changed since the slot's previous checkpoint
// (fraudRecords), for a partition of 50,000 customers after 2,500 more
// transactions (one checkpoint interval at 500 events/s).
func BenchmarkFraudCheckpointEncode(b *testing.B) {
	t := &testing.T{}
	l := fraudLogLocal(t)
	gen := enginetest.NewGenerator(3, 50_000, 500, time.Now().Add(-3*time.Hour), 20*time.Millisecond)
	next := int64(0)
	batch := func(n int) {
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			x := gen.Next()
			msgs[i] = kafka.Message{Offset: next, Key: x.Key, Value: x.Value}
			next++
		}
		l.ProcessTransactions(msgs)
	}
	batch(150_000)
	// Two checkpoints: both slots current, as in steady state.
	for range 2 {
		if _, err := l.CheckpointBytes(); err != nil {
			b.Fatal(err)
		}
	}
	var full, incr time.Duration
	var fullBytes, incrRecords int
	for range b.N {
		b.StopTimer()
		batch(2_500)
		b.StartTimer()
		t0 := time.Now()
		for _, st := range l.p.fraud {
			blob, err := st.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			fullBytes += len(blob)
		}
		t1 := time.Now()
		recs := l.p.fraudRecords(l.s.Transactions, l.p.snapSlot)
		t2 := time.Now()
		incrRecords += len(recs)
		l.p.fraudWritten(l.p.snapSlot)
		l.p.snapSlot = 1 - l.p.snapSlot
		full += t1.Sub(t0)
		incr += t2.Sub(t1)
	}
	b.ReportMetric(float64(full.Microseconds())/1000/float64(b.N), "full-ms/checkpoint")
	b.ReportMetric(float64(incr.Microseconds())/1000/float64(b.N), "incremental-ms/checkpoint")
	b.ReportMetric(float64(fullBytes)/float64(b.N), "full-bytes/checkpoint")
	b.ReportMetric(float64(incrRecords)/float64(b.N), "records/checkpoint")
}

// TestEngineCompletesFraudCaptures: the engine encodes a checkpoint's fraud
// records between batches. A partition that receives no more batches
// still completes its checkpoint (the checkpoint timer advances the
// capture), and a synchronous checkpoint (revoke, shutdown) that finds a
// capture unfinished finishes and writes it itself. Each time the
// changelog restores exactly the partition's fraud state.
func TestEngineCompletesFraudCaptures(t *testing.T) {
	env := newTestEnv(t)
	keepEveryFraudEntry(env.rc) // so that a capture is large
	e, stop := env.run()
	defer stop()
	gen := enginetest.NewGenerator(9, 8000, 60, time.Now().Add(-time.Hour), 50*time.Millisecond)
	var txns []enginetest.Txn
	for range 6000 {
		txns = append(txns, gen.Next())
	}
	produceTxns(t, env.cluster, txns)
	waitCaughtUp(t, e, int64(len(txns)))

	// Idle partitions: every marker reaches the partition's offset.
	restoredImage := func(n int32) (map[string][]byte, int64) {
		rc := newRestoreCollector(env.s.Transactions, n)
		for _, r := range env.cluster.ReadPartition(t, env.s.Changelog, int(n)) {
			if err := rc.add(r.Key, r.Value); err != nil {
				t.Fatal(err)
			}
		}
		p, _ := newPartition(&env.s, n)
		p, err := finishRestore(&env.s, p, rc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return fraudImage(t, p), p.store.Meta().NextOffset
	}
	for _, o := range e.owned() {
		o.mu.Lock()
		id, next := o.p.id, o.p.store.Meta().NextOffset
		o.mu.Unlock()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, at := restoredImage(id)
			if at == next {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: changelog marker at %d after 10 s without batches, state at %d", id, at, next)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A capture that a synchronous checkpoint finds unfinished.
	o := e.owned()[0]
	o.mu.Lock()
	p := o.p
	if err := e.harvest(p, true); err != nil {
		t.Fatal(err)
	}
	for n, st := range p.fraud {
		st.Keys(func(r fraud.EntryRef) { p.noteFraud(3, fraudEntry{n, r}) })
	}
	p.lastCkpt = time.Time{}
	// No budget: one step of the capture, fraudCaptureStep entries, and no
	// more, so that the capture is unfinished on a fast machine too (with
	// the batch's millisecond it sometimes was not).
	if err := e.startCheckpointWithin(context.Background(), p, 0); err != nil {
		t.Fatal(err)
	}
	if p.inflight == nil || p.inflight.writing {
		o.mu.Unlock()
		t.Fatalf("the capture of every fraud entry finished in one step of %d entries; the test needs a larger state", fraudCaptureStep)
	}
	want := fraudImage(t, p)
	err := e.checkpoint(context.Background(), p)
	o.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := restoredImage(p.id); !maps.EqualFunc(got, want, bytes.Equal) || len(want) == 0 {
		t.Fatalf("partition %d: the restored fraud state differs from the partition's (%d vs %d rule sets)", p.id, len(got), len(want))
	}
}

// TestFraudBookAfterAFailedCheckpoint: a checkpoint whose write failed
// lists its fraud entries again, so the next checkpoint into the slot
// carries them even if they did not change since; once both slots hold
// every entry, the book forgets them all.
func TestFraudBookAfterAFailedCheckpoint(t *testing.T) {
	msgs := txnMessages(13, 2000)
	l := fraudLogLocal(t)
	l.ProcessTransactions(msgs[:1500])
	_, _, recs, _, err := encodeCheckpoint(l.s.Transactions, l.p) // slot 0, never written
	if err != nil {
		t.Fatal(err)
	}
	l.p.store.Requeue(recs)
	l.p.fraudFailed(l.p.snapSlot)
	l.ProcessTransactions(msgs[1500:1510]) // a few entries change again
	body, marker, _, live, err := encodeCheckpoint(l.s.Transactions, l.p)
	if err != nil {
		t.Fatal(err)
	}
	l.p.slotWritten(l.p.snapSlot, live)
	ref := fraudLogLocal(t)
	ref.ProcessTransactions(msgs[:1510])
	if got, want := fraudImage(t, restoreLocal(t, append(body, marker)).p), fraudImage(t, ref.p); !maps.EqualFunc(got, want, bytes.Equal) || len(want) == 0 {
		t.Fatal("the checkpoint after a failed one does not restore the whole fraud state")
	}
	// Slot 1 has everything to receive; then nothing is pending anywhere.
	if _, _, _, live, err = encodeCheckpoint(l.s.Transactions, l.p); err != nil {
		t.Fatal(err)
	}
	l.p.slotWritten(l.p.snapSlot, live)
	if l.p.fraudBook.pending() {
		t.Fatal("entries still listed after both slots were written")
	}
	for l.p.fraudBook.sweep(100) {
	}
	if n := len(l.p.fraudBook.tombs); n != 0 {
		t.Fatalf("the book still holds %d entries that both slots have", n)
	}
}

// TestFraudBookRecreatedEntries: entries removed and created again (a
// customer erased who pays again), within one checkpoint interval and
// across a failed checkpoint, are listed without the book's lookup and
// written once with their latest value: each restored checkpoint is the
// state of its moment.
func TestFraudBookRecreatedEntries(t *testing.T) {
	msgs := txnMessages(17, 3400)
	l, ref := fraudLogLocal(t), fraudLogLocal(t)
	both := func(from, to int) {
		l.ProcessTransactions(msgs[from:to])
		ref.ProcessTransactions(msgs[from:to])
	}
	forget := func(every int) int {
		n := 0
		for name, st := range l.p.fraud {
			for i, id := range st.InactiveCustomers(time.Now().Add(24 * time.Hour)) {
				if i%every == 0 && st.ForgetCustomer(id) {
					ref.p.fraud[name].ForgetCustomer(id)
					n++
				}
			}
		}
		return n
	}
	var log []kafka.Message
	checkpoint := func(step string, fail bool) {
		t.Helper()
		body, marker, recs, live, err := encodeCheckpoint(l.s.Transactions, l.p)
		if err != nil {
			t.Fatal(err)
		}
		if fail {
			l.p.store.Requeue(recs)
			l.p.fraudFailed(l.p.snapSlot)
			return
		}
		l.p.slotWritten(l.p.snapSlot, live)
		log = append(append(log, body...), marker)
		if got, want := fraudImage(t, restoreLocal(t, log).p), fraudImage(t, ref.p); !maps.EqualFunc(got, want, bytes.Equal) || len(want) == 0 {
			t.Fatalf("%s: the restored fraud state is not the state at the checkpoint", step)
		}
	}
	both(0, 800)
	checkpoint("first", false)
	if forget(3) == 0 {
		t.Fatal("no customer to forget")
	}
	both(800, 1200) // many forgotten customers pay again
	forget(2)
	both(1200, 1400) // and again, within the same interval
	checkpoint("after re-creations", false)
	forget(4)
	both(1400, 1700)
	checkpoint("failed", true)
	forget(5)
	both(1700, 2000)
	checkpoint("after the failed one", false)
	both(2000, 2400)
	checkpoint("last", false)

	// Removed and created again while a capture is being encoded: the
	// capture must still hold the values of its moment.
	want := fraudImage(t, ref.p)
	body, live, capture, err := beginCheckpoint(l.s.Transactions, l.p)
	if err != nil {
		t.Fatal(err)
	}
	next := 2400
	for ; !capture.step(l.p, 20); next += 20 {
		for _, st := range l.p.fraud {
			for i, id := range st.InactiveCustomers(time.Now().Add(24 * time.Hour)) {
				if i%7 == next%7 {
					st.ForgetCustomer(id)
				}
			}
		}
		l.ProcessTransactions(msgs[next : next+20])
	}
	recs, fraudChunks := capture.finish(l.p)
	log = append(append(append(log, body...), storeMessages(recs)...), slices.Concat(fraudChunks...)...)
	log = append(log, kafka.Message{Key: recs[len(recs)-1].Key, Value: recs[len(recs)-1].Value})
	l.p.slotWritten(l.p.snapSlot, live)
	if next == 2400 {
		t.Fatal("nothing was processed during the capture")
	}
	if got := fraudImage(t, restoreLocal(t, log).p); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatal("a capture with entries removed and created again during it is not the state of its moment")
	}
}

// BenchmarkBeforeFraudChange lists fraud entries in the book as the state's
// hooks do per event: an entry created (an alert, no capture in flight),
// a known entry's first change after a checkpoint started, and an entry
// removed (an alert evicted: its mark becomes a tombstone). Each entry
// keeps its own fraud.Mark, as the state's entries do.
func BenchmarkBeforeFraudChange(b *testing.B) {
	refs := make([]fraud.EntryRef, 1<<16)
	for i := range refs {
		refs[i], _ = fraud.ParseEntryKey(fmt.Sprintf("a/%032x", i))
	}
	b.Run("create", func(b *testing.B) {
		p := &partition{}
		marks := make([]fraud.Mark, len(refs))
		i := 0
		for b.Loop() {
			if i%len(refs) == 0 {
				p.fraudBook = fraudBook{} // a checkpoint's worth, then the book is swept
				clear(marks)
			}
			p.beforeFraudCreate("card", refs[i%len(refs)], &marks[i%len(refs)])
			i++
		}
	})
	b.Run("create-checkpointed", func(b *testing.B) {
		// As create, but each slot's list is taken by a checkpoint that is
		// written and swept, as in a running engine: the lists filled next
		// reuse its chunks.
		p := &partition{}
		marks := make([]fraud.Mark, len(refs))
		i := 0
		for b.Loop() {
			if i%len(refs) == 0 {
				for s := range 2 {
					p.fraudBook.take(s)
					p.fraudWritten(s)
				}
				for p.fraudBook.sweep(math.MaxInt) {
				}
				clear(marks)
			}
			p.beforeFraudCreate("card", refs[i%len(refs)], &marks[i%len(refs)])
			i++
		}
	})
	b.Run("change", func(b *testing.B) {
		p := &partition{}
		marks := make([]fraud.Mark, len(refs))
		for i, r := range refs {
			p.beforeFraudCreate("card", r, &marks[i])
		}
		i := 0
		for b.Loop() {
			if i%len(refs) == 0 {
				p.fraudBook.take(i / len(refs) % 2) // a new generation: every entry is noted again
			}
			p.beforeFraudChange("card", refs[i%len(refs)], &marks[i%len(refs)])
			i++
		}
	})
	b.Run("remove", func(b *testing.B) {
		p := &partition{}
		marks := make([]fraud.Mark, len(refs))
		i := 0
		for b.Loop() {
			if i%len(refs) == 0 {
				b.StopTimer()
				p.fraudBook = fraudBook{} // a checkpoint's worth, then the book is swept
				clear(marks)
				for j, r := range refs {
					p.beforeFraudCreate("card", r, &marks[j])
				}
				p.fraudBook.take(i / len(refs) % 2)
				b.StartTimer()
			}
			p.beforeFraudRemove("card", refs[i%len(refs)], &marks[i%len(refs)])
			i++
		}
		if n := len(p.fraudBook.tombs); n == 0 {
			b.Fatal("no tombstones")
		}
	})
}
