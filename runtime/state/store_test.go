package state

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/cputime"
)

const topic = "transactions"

func purchases(rng *rand.Rand, n, customers int, firstOffset int64) []Purchase {
	out := make([]Purchase, n)
	clock := at(0, 0)
	for i := range out {
		clock = clock.Add(time.Duration(rng.Int64N(int64(10 * time.Minute))))
		out[i] = Purchase{
			Offset:     firstOffset + int64(i),
			CustomerID: fmt.Sprintf("cust-%05d", rng.IntN(customers)),
			EventTime:  clock.Add(-time.Duration(rng.Int64N(int64(48 * time.Hour)))),
			Amount:     float64(rng.IntN(50_000)) / 100,
			DeviceID:   fmt.Sprintf("dev-%d", rng.IntN(7)),
			Country:    []string{"DE", "FR", "US"}[rng.IntN(3)],
		}
	}
	return out
}

func mustApply(t testing.TB, s *Store, ps []Purchase) {
	t.Helper()
	for _, p := range ps {
		if _, err := s.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
}

// sameState compares two stores' customers and metadata.
func sameState(t *testing.T, got, want *Store) {
	t.Helper()
	if got.Meta() != want.Meta() {
		t.Fatalf("meta = %+v, want %+v", got.Meta(), want.Meta())
	}
	if got.Len() != want.Len() {
		t.Fatalf("%d customers, want %d", got.Len(), want.Len())
	}
	for id, w := range want.customers {
		g := got.customers[id]
		if g == nil {
			t.Fatalf("customer %s missing", id)
		}
		gc, wc := *g, *w
		gc.listed, wc.listed = 0, 0
		if !reflect.DeepEqual(gc.frozen, wc.frozen) {
			t.Fatalf("customer %s: frozen summaries\n got  %+v\n want %+v", id, gc.frozen, wc.frozen)
		}
		gc.frozen, wc.frozen = nil, nil
		if gc != wc {
			t.Fatalf("customer %s:\n got  %+v\n want %+v", id, gc, wc)
		}
	}
}

func TestApplySkipsWhatTheStateHolds(t *testing.T) {
	s := NewStore(topic, 0)
	p := Purchase{Offset: 10, CustomerID: "c1", EventTime: at(0, 0), Amount: 5}
	if ok, err := s.Apply(p); !ok || err != nil {
		t.Fatalf("Apply = %v, %v", ok, err)
	}
	if ok, _ := s.Apply(p); ok {
		t.Fatal("the same offset applied twice")
	}
	p.Offset = 9
	if ok, _ := s.Apply(p); ok {
		t.Fatal("an earlier offset was applied")
	}
	s.Advance(20)
	s.Advance(15)
	if s.Meta().NextOffset != 20 {
		t.Fatalf("next offset %d, want 20", s.Meta().NextOffset)
	}
	c, _ := s.Get("c1")
	if c.Transactions() != 1 || c.LastOffset() != 10 {
		t.Fatalf("customer %+v", c)
	}
	if st := s.Stats(); st.Applied != 1 || st.Skipped != 2 {
		t.Fatalf("stats %+v", st)
	}
	for _, bad := range []Purchase{
		{Offset: 30, CustomerID: "", EventTime: at(0, 0)},
		{Offset: 30, CustomerID: "\x00offsets/x/1", EventTime: at(0, 0)},
		{Offset: -1, CustomerID: "c", EventTime: at(0, 0)},
		{Offset: 30, CustomerID: "c", EventTime: at(0, 0), Amount: -1},
		{Offset: 30, CustomerID: "c", EventTime: at(0, 0), Amount: math.NaN()},
		{Offset: 30, CustomerID: "c", EventTime: at(0, 0), Amount: math.Inf(1)},
		{Offset: 30, CustomerID: "c", EventTime: time.Date(40000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := s.Apply(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Apply(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if s.Meta().NextOffset != 20 || s.Len() != 1 {
		t.Fatal("a refused purchase changed the store")
	}
}

func TestCheckpointContents(t *testing.T) {
	s := NewStore(topic, 3)
	mustApply(t, s, []Purchase{
		{Offset: 0, CustomerID: "b", EventTime: at(0, 0), Amount: 1},
		{Offset: 1, CustomerID: "a", EventTime: at(0, 0), Amount: 2},
		{Offset: 2, CustomerID: "b", EventTime: at(1, 0), Amount: 3},
	})
	if s.Dirty() != 2 {
		t.Fatalf("dirty %d, want 2", s.Dirty())
	}
	recs := s.Checkpoint()
	var keys []string
	for _, r := range recs {
		keys = append(keys, string(r.Key))
	}
	if want := []string{"a", "b", "\x00offsets/transactions/3"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	if n, err := decodeMarker(recs[2].Value); err != nil || n != 3 {
		t.Fatalf("marker %d, %v", n, err)
	}
	b, _ := DecodeCustomer(recs[1].Value)
	if b.Transactions() != 2 || b.MonetaryTotal() != 4 {
		t.Fatalf("b = %+v", b)
	}

	// Nothing changed: only the marker.
	if recs := s.Checkpoint(); len(recs) != 1 || recs[0].Key[0] != 0 {
		t.Fatalf("clean checkpoint = %q", recs)
	}

	// Forget writes a tombstone; re-creating before the checkpoint writes
	// the new state instead.
	if !s.Forget("a") || s.Forget("zz") {
		t.Fatal("Forget reported the wrong presence")
	}
	s.Forget("b")
	mustApply(t, s, []Purchase{{Offset: 7, CustomerID: "b", EventTime: at(2, 0), Amount: 9}})
	recs = s.Checkpoint()
	got := map[string][]byte{}
	for _, r := range recs {
		got[string(r.Key)] = r.Value
	}
	if v, ok := got["a"]; !ok || v != nil {
		t.Fatalf("a: want a tombstone, got %v", v)
	}
	if v, ok := got["zz"]; !ok || v != nil {
		t.Fatal("zz: want a tombstone")
	}
	if c, err := DecodeCustomer(got["b"]); err != nil || c.Transactions() != 1 || c.MonetaryTotal() != 9 {
		t.Fatalf("b re-created: %+v, %v", c, err)
	}

	// A failed write is requeued and written again.
	mustApply(t, s, []Purchase{{Offset: 8, CustomerID: "c", EventTime: at(2, 0), Amount: 1}})
	s.Forget("b")
	failed := s.Checkpoint()
	s.Requeue(failed)
	again := s.Checkpoint()
	if len(again) != len(failed) {
		t.Fatalf("requeued checkpoint has %d records, want %d", len(again), len(failed))
	}
	for i := range again {
		if !bytes.Equal(again[i].Key, failed[i].Key) || !bytes.Equal(again[i].Value, failed[i].Value) {
			t.Fatalf("record %d differs after requeue", i)
		}
	}
}

// changelog keeps every record written, as a topic does before
// compaction.
type changelog []Record

func (l *changelog) write(recs []Record) {
	for _, r := range recs {
		*l = append(*l, Record{Key: slices.Clone(r.Key), Value: bytes.Clone(r.Value)})
	}
}

// compacted keeps the last record per key, in order of their last write.
func (l changelog) compacted() []Record {
	last := map[string]int{}
	for i, r := range l {
		last[string(r.Key)] = i
	}
	var out []Record
	for i, r := range l {
		if last[string(r.Key)] == i {
			out = append(out, r)
		}
	}
	return out
}

func TestCheckpointRestoreRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	s := NewStore(topic, 2)
	var log changelog
	ps := purchases(rng, 5000, 400, 100)
	for i := 0; i < len(ps); i += 700 {
		mustApply(t, s, ps[i:min(i+700, len(ps))])
		if i%1400 == 0 {
			s.Forget(fmt.Sprintf("cust-%05d", rng.IntN(400)))
		}
		log.write(s.Checkpoint())
	}
	s.Advance(ps[len(ps)-1].Offset + 50)
	log.write(s.Checkpoint())

	for name, recs := range map[string][]Record{"full": log, "compacted": log.compacted()} {
		t.Run(name, func(t *testing.T) {
			r, meta, err := Restore(topic, 2, recs)
			if err != nil {
				t.Fatal(err)
			}
			if meta != s.Meta() || meta.NextOffset != ps[len(ps)-1].Offset+50 {
				t.Fatalf("meta %+v, want %+v", meta, s.Meta())
			}
			sameState(t, r, s)
			if r.Dirty() != 0 {
				t.Fatal("a restored store should be clean")
			}
		})
	}
}

// TestCrashReplayIsExact crashes in the middle of writing a checkpoint
// (some customer records written, no marker), restores and replays the
// input from the last marker: the result must equal an uninterrupted run.
func TestCrashReplayIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	ps := purchases(rng, 6000, 300, 0)
	want := NewStore(topic, 0)
	mustApply(t, want, ps)

	for _, tc := range []struct{ crashAt, written int }{{1000, 0}, {3000, 17}, {4999, 1 << 30}} {
		s := NewStore(topic, 0)
		var log changelog
		for i := 0; i < tc.crashAt; i += 250 {
			mustApply(t, s, ps[i:min(i+250, tc.crashAt)])
			recs := s.Checkpoint()
			if i+250 >= tc.crashAt {
				// The crash: only the first records of the batch get out,
				// never its marker.
				recs = recs[:min(tc.written, len(recs)-1)]
			}
			log.write(recs)
		}
		r, meta, err := Restore(topic, 0, log)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps[meta.NextOffset:] {
			if _, err := r.Apply(p); err != nil {
				t.Fatal(err)
			}
		}
		sameState(t, r, want)
	}
}

func TestRestoreSeveralPartitionsFromOneChangelog(t *testing.T) {
	partitionOf := func(id string) int32 {
		h := fnv.New32a()
		h.Write([]byte(id))
		return int32(h.Sum32() % 3)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	stores := map[int32]*Store{}
	var log changelog
	for _, p := range purchases(rng, 3000, 200, 0) {
		q := partitionOf(p.CustomerID)
		if stores[q] == nil {
			stores[q] = NewStore(topic, q)
		}
		mustApply(t, stores[q], []Purchase{p})
		if p.Offset%500 == 0 {
			for q := range int32(3) {
				if stores[q] != nil {
					log.write(stores[q].Checkpoint())
				}
			}
		}
	}
	for q := range int32(3) {
		log.write(stores[q].Checkpoint())
	}
	r := NewMultiRestorer(topic, partitionOf)
	for _, rec := range log {
		if err := r.Add(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.Stores()) != 3 {
		t.Fatalf("%d stores restored", len(r.Stores()))
	}
	for q, s := range r.Stores() {
		sameState(t, s, stores[q])
	}

	// The single-partition restorer refuses a mixed changelog.
	if _, _, err := Restore(topic, 0, log); !errors.Is(err, ErrForeignMarker) {
		t.Fatalf("want ErrForeignMarker, got %v", err)
	}
}

func TestRestoreRejectsCorruptRecords(t *testing.T) {
	for name, rec := range map[string]Record{
		"empty key":      {Key: nil, Value: []byte{1}},
		"bad customer":   {Key: []byte("c"), Value: []byte{1, 2, 3}},
		"bad marker key": {Key: []byte("\x00whatever"), Value: []byte{1, 0}},
		"bad marker":     {Key: MarkerKey(topic, 0), Value: []byte{9, 0}},
		"other topic":    {Key: MarkerKey("other", 0), Value: []byte{1, 0}},
	} {
		if _, _, err := Restore(topic, 0, []Record{rec}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestExpire(t *testing.T) {
	s := NewStore(topic, 0)
	mustApply(t, s, []Purchase{
		{Offset: 0, CustomerID: "old", EventTime: at(0, 0)},
		{Offset: 1, CustomerID: "new", EventTime: at(40, 0)},
	})
	s.Checkpoint()
	if n := s.Expire(at(30, 0)); n != 1 {
		t.Fatalf("expired %d", n)
	}
	recs := s.Checkpoint()
	if len(recs) != 2 || string(recs[0].Key) != "old" || recs[0].Value != nil {
		t.Fatalf("checkpoint after expiry: %q", recs)
	}
}

// BenchmarkApply applies purchases of 100,000 customers (checkpoints are
// measured separately).
func BenchmarkApply(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	ps := purchases(rng, 1<<16, 100_000, 0)
	s := NewStore(topic, 0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for i := range b.N {
		p := ps[i&(len(ps)-1)]
		p.Offset = int64(i)
		if _, err := s.Apply(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
}

func populated(customers int) *Store {
	rng := rand.New(rand.NewPCG(3, 4))
	s := NewStore(topic, 0)
	for i := range customers {
		id := fmt.Sprintf("cust-%08d", i)
		c := typicalCustomer(rng)
		s.customers[id] = c
		s.markDirty(id, c)
	}
	s.Advance(50_000_000)
	return s
}

// BenchmarkCheckpoint encodes 10,000 changed customers per checkpoint.
func BenchmarkCheckpoint(b *testing.B) {
	s := populated(10_000)
	ids := make([]string, 0, s.Len())
	for id := range s.customers {
		ids = append(ids, id)
	}
	var size int64
	for _, r := range s.Checkpoint() {
		size += int64(len(r.Key) + len(r.Value))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		for _, id := range ids {
			s.markDirty(id, s.customers[id])
		}
		b.StartTimer()
		start := cputime.Process()
		s.Checkpoint()
		cpu += cputime.Process() - start
	}
	b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "customers/s")
	b.ReportMetric(float64(size)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
}

// BenchmarkRestore rebuilds a store of 100,000 customers.
func BenchmarkRestore(b *testing.B) {
	s := populated(100_000)
	recs := s.Checkpoint()
	var size int64
	for _, r := range recs {
		size += int64(len(r.Key) + len(r.Value))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for range b.N {
		if _, _, err := Restore(topic, 0, recs); err != nil {
			b.Fatal(err)
		}
	}
	cpuSeconds := (cputime.Process() - cpu).Seconds()
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(size)*float64(b.N)/cpuSeconds/1e6, "cpu-MB/s")
}

// BenchmarkStateBytesPerCustomer measures the heap a Store needs per
// typical customer (five devices, two countries, a year of purchases): the
// map, the key string and the Customer, after a checkpoint, as a live-heap
// difference over 100,000 customers. It also reports the encoded size.
func BenchmarkStateBytesPerCustomer(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(5, 6))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("cust-%08d", i) // 13 bytes, like a short UUID-less ID
	}
	var perCustomer, wire float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := NewStore(topic, 0)
		off := int64(0)
		for _, id := range ids {
			for i := range 12 {
				ts := at(0, time.Duration(rng.Int64N(int64(365*24*time.Hour))))
				if _, err := s.Apply(Purchase{Offset: off, CustomerID: string([]byte(id)), EventTime: ts,
					Amount: float64(500+rng.IntN(20000)) / 100, DeviceID: fmt.Sprintf("device-%08x", i%5), Country: []string{"DE", "AT"}[i%2]}); err != nil {
					b.Fatal(err)
				}
				off++
			}
		}
		size := 0
		for _, r := range s.Checkpoint() {
			if r.Key[0] != 0 {
				size += len(r.Value)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perCustomer = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		wire = float64(size) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perCustomer, "state_bytes_per_customer")
	b.ReportMetric(wire, "wire_bytes_per_customer")
}

// TestCaptureIsTheStateAtItsStart: a checkpoint encoded a few customers at
// a time while purchases and erasures go on (StartCheckpoint, Step,
// Finish) holds exactly the records of a checkpoint taken at the moment it
// started, checkpoint after checkpoint, across the wrap of the change-list
// generation.
func TestCaptureIsTheStateAtItsStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	s, ref := NewStore(topic, 1), NewStore(topic, 1)
	ps := purchases(rng, 300*600, 500, 0)
	next, early := 0, 0
	for round := range 300 { // more rounds than generations (255)
		cut := next + 150
		mustApply(t, s, ps[next:cut])
		mustApply(t, ref, ps[next:cut])
		if round%7 == 3 {
			id := fmt.Sprintf("cust-%05d", rng.IntN(500))
			s.Forget(id)
			ref.Forget(id)
		}
		want := ref.Checkpoint()
		c := s.StartCheckpoint()
		for next = cut; !c.Step(3); next += 5 {
			mustApply(t, s, ps[next:next+5])
			if next%40 == 0 {
				s.Forget(ps[next].CustomerID)
			}
		}
		early += c.early
		got := c.Finish()
		// The same records as the reference's checkpoint at the start.
		body := got[:len(got)-1]
		slices.SortFunc(body, func(a, b Record) int { return bytes.Compare(a.Key, b.Key) })
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: the capture has %d records, the state at its start %d, or they differ", round, len(got), len(want))
		}
		// The reference catches up with what happened during the capture.
		for i := cut; i < next; i += 5 {
			mustApply(t, ref, ps[i:i+5])
			if i%40 == 0 {
				ref.Forget(ps[i].CustomerID)
			}
		}
	}
	if early == 0 {
		t.Fatal("no customer was encoded before a change")
	}
	t.Logf("%d customers encoded copy-on-write", early)
}
