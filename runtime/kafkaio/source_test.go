package kafkaio_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func TestSourceConsumesCoPartitionedTopics(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Brokers(3))
	c.CreateTopic(t, "tx", 4, nil)
	c.CreateTopic(t, "ue", 4, nil)
	c.Produce(t, "tx", keyed(300, "tx")...)
	c.Produce(t, "ue", keyed(200, "ue")...)

	cl := newClient(t, testConfig(c, "consume", "tx", "ue"))
	src, err := cl.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder("a", src, true)
	stop := runSource(t, src, rec)
	waitFor(t, "all 500 records", func() bool { return rec.distinctValues() == 500 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.overlaps != 0 {
		t.Errorf("OnBatch ran concurrently for one partition number %d times", rec.overlaps)
	}
	if len(rec.commitErrs) != 0 {
		t.Errorf("commit errors: %v", rec.commitErrs)
	}
	for v, n := range rec.values {
		if n != 1 {
			t.Errorf("record %s delivered %d times", v, n)
		}
	}
	for tp, offs := range rec.offsets {
		if !slices.IsSorted(offs) {
			t.Errorf("%s offsets out of order: %v", tp, offs)
		}
	}
	if len(rec.assignments) != 1 || len(rec.assignments[0].Committed) != 8 {
		t.Fatalf("assignments = %+v, want one with 8 topic-partitions", rec.assignments)
	}
	if got := rec.assignments[0].Partitions(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("Partitions() = %v", got)
	}
	for tp, off := range rec.assignments[0].Committed {
		if off != kafka.FirstOffset {
			t.Errorf("fresh group: %s committed %d, want FirstOffset", tp, off)
		}
	}
	if len(rec.revocations) != 1 || len(rec.revocations[0]) != 8 {
		t.Errorf("revocations = %v, want one of all 8 partitions", rec.revocations)
	}

	total, per, err := cl.Lag(context.Background(), "consume", []string{"tx", "ue"})
	if err != nil {
		t.Fatal(err)
	}
	if total != 0 || len(per) != 8 {
		t.Errorf("lag after consuming everything = %d %v, want 0 over 8 partitions", total, per)
	}
}

func TestSourceRebalance(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "tx", 4, nil)
	c.CreateTopic(t, "ue", 4, nil)
	cfg := testConfig(c, "rebalance", "tx", "ue")

	srcA, _ := newClient(t, cfg).NewSource()
	a := newRecorder("a", srcA, true)
	stopA := runSource(t, srcA, a)
	waitFor(t, "member a's first assignment", func() bool { _, n := a.lastAssignment(); return n == 1 })

	srcB, _ := newClient(t, cfg).NewSource()
	b := newRecorder("b", srcB, true)
	stopB := runSource(t, srcB, b)
	waitFor(t, "both members in the second generation", func() bool {
		aa, na := a.lastAssignment()
		bb, nb := b.lastAssignment()
		return na == 2 && nb == 1 && aa.Generation == bb.Generation
	})

	a.mu.Lock()
	if len(a.revocations) != 1 || len(a.revocations[0]) != 8 {
		t.Errorf("member a revocations = %v, want all 8 partitions once", a.revocations)
	}
	a.mu.Unlock()
	aa, _ := a.lastAssignment()
	bb, _ := b.lastAssignment()
	pa, pb := aa.Partitions(), bb.Partitions()
	if len(pa) != 2 || len(pb) != 2 {
		t.Fatalf("partition numbers a=%v b=%v, want two each", pa, pb)
	}
	if all := slices.Sorted(slices.Values(append(slices.Clone(pa), pb...))); !slices.Equal(all, []int{0, 1, 2, 3}) {
		t.Fatalf("partition numbers a=%v b=%v, want a split of 0..3", pa, pb)
	}
	for _, as := range []kafkaio.Assignment{aa, bb} {
		if len(as.Committed) != 4 {
			t.Errorf("assignment %v: want both topics of each partition number", as.Committed)
		}
	}

	// Records produced now reach the owner of their partition number.
	c.Produce(t, "tx", keyed(100, "tx")...)
	c.Produce(t, "ue", keyed(100, "ue")...)
	waitFor(t, "200 records over both members", func() bool { return a.distinctValues()+b.distinctValues() == 200 })
	b.mu.Lock()
	for tp := range b.offsets {
		if !slices.Contains(pb, tp.Partition) {
			t.Errorf("member b got %s, not among its partitions %v", tp, pb)
		}
	}
	b.mu.Unlock()

	// b leaves: a gets everything back and keeps what it had (sticky).
	if err := stopB(); err != nil {
		t.Fatalf("member b Run: %v", err)
	}
	waitFor(t, "member a's third assignment", func() bool { _, n := a.lastAssignment(); return n == 3 })
	a3, _ := a.lastAssignment()
	if got := a3.Partitions(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("after b left, a owns %v", got)
	}
	// b committed what it processed, so a resumes there.
	b.mu.Lock()
	for tp, offs := range b.offsets {
		want := offs[len(offs)-1] + 1
		if got := a3.Committed[tp]; got != want {
			t.Errorf("%s: a resumes at %d, b committed up to %d", tp, got, want)
		}
	}
	b.mu.Unlock()
	if err := stopA(); err != nil {
		t.Fatalf("member a Run: %v", err)
	}
}

func TestSourceResumesAtCommittedOffset(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "in", 1, nil)
	var recs []kafkatest.Record
	for range 100 {
		recs = append(recs, kafkatest.Record{Value: []byte("x")})
	}
	c.ProduceTo(t, "in", 0, recs...)
	cfg := testConfig(c, "resume", "in")
	cl := newClient(t, cfg)
	tp := kafkaio.TopicPartition{Topic: "in", Partition: 0}

	// First member processes everything but commits offset 40 only, as
	// if the outputs past 40 were not yet durable when it stopped.
	src, _ := cl.NewSource()
	first := &committingAt{src: src, tp: tp, at: 40, seen: make(chan struct{})}
	stop := runSource(t, src, first)
	<-first.seen
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A new member (a restart) resumes at the committed offset.
	src2, _ := cl.NewSource()
	second := newRecorder("second", src2, false)
	stop2 := runSource(t, src2, second)
	waitFor(t, "records after restart", func() bool {
		second.mu.Lock()
		defer second.mu.Unlock()
		return len(second.offsets[tp]) == 60
	})
	_ = stop2()
	second.mu.Lock()
	if got := second.assignments[0].Committed[tp]; got != 40 {
		t.Errorf("committed offset seen on restart = %d, want 40", got)
	}
	if got := second.offsets[tp][0]; got != 40 {
		t.Errorf("restart resumed at %d, want 40", got)
	}
	second.mu.Unlock()

	// A handler whose restored state already includes offsets up to 70
	// starts there instead.
	src3, _ := cl.NewSource()
	third := newRecorder("third", src3, false)
	third.start = map[kafkaio.TopicPartition]int64{tp: 70}
	stop3 := runSource(t, src3, third)
	waitFor(t, "records after the state marker", func() bool {
		third.mu.Lock()
		defer third.mu.Unlock()
		return len(third.offsets[tp]) == 30
	})
	_ = stop3()
	if got := third.offsets[tp][0]; got != 70 {
		t.Errorf("started at %d, want the handler's 70", got)
	}
}

// committingAt commits tp at offset `at` once it has seen it, and signals
// seen once the whole partition was delivered.
type committingAt struct {
	src       kafkaio.Source
	tp        kafkaio.TopicPartition
	at        int64
	committed bool
	seen      chan struct{}
}

func (h *committingAt) OnAssigned(context.Context, kafkaio.Assignment) (map[kafkaio.TopicPartition]int64, error) {
	return nil, nil
}

func (h *committingAt) OnBatch(ctx context.Context, b kafkaio.Batch) error {
	if !h.committed && b.NextOffset() >= h.at {
		h.committed = true
		if err := h.src.Commit(ctx, map[kafkaio.TopicPartition]int64{h.tp: h.at}); err != nil {
			return err
		}
	}
	if b.NextOffset() == 100 {
		close(h.seen)
	}
	return nil
}

func (h *committingAt) OnRevoked(context.Context, []kafkaio.TopicPartition) error { return nil }

func TestSourceHandlerErrorStopsRun(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "in", 2, nil)
	c.Produce(t, "in", keyed(10, "v")...)
	src, _ := newClient(t, testConfig(c, "failing", "in")).NewSource()
	boom := errors.New("boom")
	h := &failing{err: boom}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := src.Run(ctx, h)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	if !h.revoked {
		t.Error("OnRevoked was not called after the failure")
	}
}

type failing struct {
	err     error
	revoked bool
}

func (h *failing) OnAssigned(context.Context, kafkaio.Assignment) (map[kafkaio.TopicPartition]int64, error) {
	return nil, nil
}
func (h *failing) OnBatch(context.Context, kafkaio.Batch) error { return h.err }
func (h *failing) OnRevoked(context.Context, []kafkaio.TopicPartition) error {
	h.revoked = true
	return nil
}

func TestSourceBadBrokerAddress(t *testing.T) {
	cl := newClient(t, kafkaio.Config{Brokers: []string{"127.0.0.1:1"}, Group: "g", Topics: []string{"t"}, DialTimeout: 2 * time.Second})
	src, _ := cl.NewSource()
	err := src.Run(context.Background(), newRecorder("x", src, false))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Run = %v, want an error naming 127.0.0.1:1", err)
	}
}

func TestSourceChecksTopics(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "tx", 4, nil)
	c.CreateTopic(t, "ue", 2, nil)
	for _, tc := range []struct {
		topics []string
		want   string
	}{
		{[]string{"tx", "missing"}, `topic "missing"`},
		{[]string{"tx", "ue"}, `not co-partitioned: "tx" has 4 partitions, "ue" has 2`},
	} {
		src, _ := newClient(t, testConfig(c, "check", tc.topics...)).NewSource()
		err := src.Run(context.Background(), newRecorder("x", src, false))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run on %v = %v, want an error containing %s", tc.topics, err, tc.want)
		}
	}
}

func TestCommitOutsideGeneration(t *testing.T) {
	c := kafkatest.Start(t)
	src, _ := newClient(t, testConfig(c, "g", "t")).NewSource()
	err := src.Commit(context.Background(), map[kafkaio.TopicPartition]int64{{Topic: "t", Partition: 0}: 1})
	if !errors.Is(err, kafkaio.ErrNotAssigned) {
		t.Fatalf("Commit = %v, want ErrNotAssigned", err)
	}
}

// TestSourceRebalanceDuringRestore: a rebalance while OnAssigned is still
// restoring cancels its ctx; the Source moves on to the next generation
// without OnRevoked (nothing was fetched).
func TestSourceRebalanceDuringRestore(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "in", 2, nil)
	cfg := testConfig(c, "slow-restore", "in")

	srcA, _ := newClient(t, cfg).NewSource()
	a := &slowRestore{recorder: newRecorder("a", srcA, false), restoring: make(chan struct{})}
	runSource(t, srcA, a)
	<-a.restoring

	srcB, _ := newClient(t, cfg).NewSource()
	b := newRecorder("b", srcB, false)
	runSource(t, srcB, b)
	waitFor(t, "both members in a new generation", func() bool {
		aa, na := a.lastAssignment()
		bb, nb := b.lastAssignment()
		return na == 2 && nb >= 1 && aa.Generation == bb.Generation
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.revocations) != 0 {
		t.Errorf("OnRevoked called %d times for a generation whose OnAssigned did not finish", len(a.revocations))
	}
	if a.restoreErr == nil {
		t.Error("first OnAssigned's ctx was not cancelled")
	}
}

// slowRestore blocks its first OnAssigned until ctx is cancelled.
type slowRestore struct {
	*recorder
	restoring  chan struct{}
	calls      int
	restoreErr error
}

func (h *slowRestore) OnAssigned(ctx context.Context, as kafkaio.Assignment) (map[kafkaio.TopicPartition]int64, error) {
	start, _ := h.recorder.OnAssigned(ctx, as)
	h.mu.Lock()
	h.calls++
	first := h.calls == 1
	h.mu.Unlock()
	if !first {
		return start, nil
	}
	close(h.restoring)
	<-ctx.Done()
	h.mu.Lock()
	h.restoreErr = ctx.Err()
	h.mu.Unlock()
	return nil, ctx.Err()
}

// TestSourceIdleMember: a member without partitions (more members than
// partitions) holds its generation instead of rejoining in a loop.
func TestSourceIdleMember(t *testing.T) {
	c := kafkatest.Start(t)
	c.CreateTopic(t, "in", 1, nil)
	cfg := testConfig(c, "idle", "in")
	var recs []*recorder
	for _, name := range []string{"a", "b"} {
		src, _ := newClient(t, cfg).NewSource()
		r := newRecorder(name, src, false)
		recs = append(recs, r)
		runSource(t, src, r)
		waitFor(t, "member "+name+" assigned", func() bool { _, n := r.lastAssignment(); return n >= 1 })
	}
	waitFor(t, "a common generation", func() bool {
		a, _ := recs[0].lastAssignment()
		b, _ := recs[1].lastAssignment()
		return a.Generation == b.Generation
	})
	_, before := recs[1].lastAssignment()
	time.Sleep(time.Second) // ten heartbeats
	a, _ := recs[0].lastAssignment()
	b, after := recs[1].lastAssignment()
	if after != before {
		t.Fatalf("member b went through %d more generations while idle", after-before)
	}
	if len(a.Committed)+len(b.Committed) != 1 {
		t.Fatalf("assignments %v and %v, want the one partition once", a.Committed, b.Committed)
	}
}
