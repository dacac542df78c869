package dedup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func newFilter(t testing.TB, cfg Config) *Filter {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// admit calls f.Admit and fails the test if the answer is not want.
func admit(t *testing.T, f *Filter, id string, at time.Time, want bool) {
	t.Helper()
	if got := f.Admit(id, at); got != want {
		t.Fatalf("Admit(%q, %s) = %v, want %v", id, at.Format(time.TimeOnly), got, want)
	}
}

func TestDuplicatesInsideWindowDropped(t *testing.T) {
	f := newFilter(t, Config{Window: time.Hour, Buckets: 12})
	admit(t, f, "a", t0, true)
	admit(t, f, "a", t0, false)
	admit(t, f, "b", t0.Add(59*time.Minute), true)
	// Same ID with another event time (a producer that restamps on retry)
	// is still a duplicate.
	admit(t, f, "a", t0.Add(30*time.Minute), false)
	// The watermark is now t0+59m: "a" (t0) is 59 minutes behind it.
	admit(t, f, "a", t0.Add(time.Minute), false)
	if s := f.Stats(); s.Admitted != 2 || s.Duplicates != 3 || s.Late != 0 {
		t.Errorf("stats = %+v", s)
	}
	if f.Len() != 2 {
		t.Errorf("Len = %d, want 2", f.Len())
	}
}

func TestOutsideWindowAdmitted(t *testing.T) {
	f := newFilter(t, Config{Window: time.Hour, Buckets: 12}) // 5-minute buckets
	admit(t, f, "a", t0, true)
	// The bucket [t0, t0+5m) expires when the watermark reaches t0+65m.
	admit(t, f, "b", t0.Add(64*time.Minute), true)
	admit(t, f, "a", t0.Add(64*time.Minute), false)
	admit(t, f, "c", t0.Add(65*time.Minute), true)
	if s := f.Stats(); s.Expired != 1 {
		t.Fatalf("Expired = %d, want 1", s.Expired)
	}
	// "a" is forgotten; at its old time it is late and admitted unremembered.
	admit(t, f, "a", t0, true)
	admit(t, f, "a", t0, true)
	if s := f.Stats(); s.Late != 2 {
		t.Errorf("Late = %d, want 2", s.Late)
	}
	// At a current time it is admitted and remembered again.
	admit(t, f, "a", t0.Add(65*time.Minute), true)
	admit(t, f, "a", t0.Add(65*time.Minute), false)
	if wm, ok := f.Watermark(); !ok || !wm.Equal(t0.Add(65*time.Minute)) {
		t.Errorf("Watermark = %v, %v", wm, ok)
	}
}

func TestLateEventWithinWindowRemembered(t *testing.T) {
	f := newFilter(t, Config{Window: time.Hour, Buckets: 4})
	admit(t, f, "new", t0.Add(time.Hour), true)
	// 50 minutes behind the watermark: late, but inside the window.
	admit(t, f, "old", t0.Add(10*time.Minute), true)
	admit(t, f, "old", t0.Add(10*time.Minute), false)
	// Event times before 1970 or beyond 2262 cannot be bucketed.
	admit(t, f, "ancient", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), true)
	admit(t, f, "ancient", time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), true)
	admit(t, f, "zero", time.Time{}, true)
	if s := f.Stats(); s.Late != 3 || s.Admitted != 2 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCapEvictsOldestBucket(t *testing.T) {
	f := newFilter(t, Config{Window: time.Hour, Buckets: 4, MaxEntries: 100}) // 15-minute buckets
	for i := range 60 {
		admit(t, f, fmt.Sprint("old-", i), t0, true)
	}
	for i := range 40 {
		admit(t, f, fmt.Sprint("mid-", i), t0.Add(20*time.Minute), true)
	}
	if f.Len() != 100 || f.Stats().Evicted != 0 {
		t.Fatalf("Len = %d, Evicted = %d before the cap", f.Len(), f.Stats().Evicted)
	}
	admit(t, f, "new", t0.Add(40*time.Minute), true)
	if f.Len() != 41 || f.Stats().Evicted != 60 {
		t.Fatalf("Len = %d, Evicted = %d after the cap; want 41, 60", f.Len(), f.Stats().Evicted)
	}
	admit(t, f, "mid-7", t0.Add(20*time.Minute), false)
	admit(t, f, "old-7", t0, true) // forgotten early
	if s := f.Stats(); s.Expired != 0 {
		t.Errorf("Expired = %d, want 0: nothing left the window", s.Expired)
	}
}

func TestCapWithOneBucket(t *testing.T) {
	f := newFilter(t, Config{Window: time.Hour, Buckets: 1, MaxEntries: 3})
	for _, id := range []string{"a", "b", "c", "d"} {
		admit(t, f, id, t0, true)
	}
	if f.Len() != 1 || f.Stats().Evicted != 3 {
		t.Fatalf("Len = %d, Evicted = %d; want 1, 3", f.Len(), f.Stats().Evicted)
	}
	admit(t, f, "d", t0, false)
}

// feed drives f with a reproducible stream: mostly new IDs, some repeats,
// event times moving forward with jitter. It returns the decisions.
func feed(f *Filter, seed uint64, n int, start time.Time) []bool {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]bool, n)
	for i := range n {
		id := fmt.Sprint("evt-", rng.IntN(n))
		at := start.Add(time.Duration(i)*time.Second - time.Duration(rng.IntN(900))*time.Second)
		out[i] = f.Admit(id, at)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	// The digest must not change between builds: snapshots depend on it.
	if got, want := Hash("evt-1"), uint64(0x38d8df9c775b5dbc); got != want {
		t.Errorf("Hash(evt-1) = %#x, want %#x", got, want)
	}
	cfg := Config{Window: 10 * time.Minute, Buckets: 5, MaxEntries: 300}
	a, b := newFilter(t, cfg), newFilter(t, cfg)
	da, db := feed(a, 1, 5000, t0), feed(b, 1, 5000, t0)
	for i := range da {
		if da[i] != db[i] {
			t.Fatalf("decision %d differs", i)
		}
	}
	sa, _ := a.MarshalBinary()
	sb, _ := b.MarshalBinary()
	if !bytes.Equal(sa, sb) {
		t.Error("same input, different snapshots")
	}
	if s := a.Stats(); s.Duplicates == 0 || s.Expired == 0 || s.Evicted == 0 || s.Late == 0 {
		t.Errorf("the stream should exercise every path: %+v", s)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	cfg := Config{Window: 10 * time.Minute, Buckets: 5, MaxEntries: 2000}
	orig := newFilter(t, cfg)
	feed(orig, 7, 3000, t0)
	snap, err := orig.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	var restored Filter // zero value: takes the snapshot's configuration
	if err := restored.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if restored.Config() != orig.Config() || restored.Len() != orig.Len() || restored.Stats() != orig.Stats() {
		t.Fatalf("restored %+v/%d/%+v, want %+v/%d/%+v",
			restored.Config(), restored.Len(), restored.Stats(), orig.Config(), orig.Len(), orig.Stats())
	}
	again, _ := restored.MarshalBinary()
	if !bytes.Equal(snap, again) {
		t.Fatal("snapshot of the restored filter differs")
	}
	// A replay after a crash makes the same decisions as the original run.
	next := t0.Add(3000 * time.Second)
	d1, d2 := feed(orig, 8, 2000, next), feed(&restored, 8, 2000, next)
	for i := range d1 {
		if d1[i] != d2[i] {
			t.Fatalf("decision %d differs after restore", i)
		}
	}
	if orig.Stats() != restored.Stats() {
		t.Errorf("stats diverged: %+v vs %+v", orig.Stats(), restored.Stats())
	}

	var empty Filter
	f0 := newFilter(t, Config{})
	s0, _ := f0.MarshalBinary()
	if err := empty.UnmarshalBinary(s0); err != nil || empty.Len() != 0 {
		t.Fatalf("empty snapshot: %v", err)
	}
	if _, ok := empty.Watermark(); ok {
		t.Error("empty filter has a watermark")
	}
}

func TestRestoreWithNewConfig(t *testing.T) {
	old := newFilter(t, Config{Window: time.Hour, Buckets: 12})
	for i := range 60 {
		old.Admit(fmt.Sprint("id-", i), t0.Add(time.Duration(i)*time.Minute))
	}
	snap, _ := old.MarshalBinary()

	f := newFilter(t, Config{Window: 20 * time.Minute, Buckets: 2, MaxEntries: 1000})
	if err := f.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if got := f.Config(); got.Window != 20*time.Minute || got.Buckets != 2 {
		t.Fatalf("config replaced by the snapshot's: %+v", got)
	}
	// Watermark t0+59m; 10-minute buckets; the live ones start at t0+30m.
	if f.Len() != 30 {
		t.Errorf("Len = %d, want 30", f.Len())
	}
	admit(t, f, "id-45", t0.Add(59*time.Minute), false)
	admit(t, f, "id-20", t0.Add(59*time.Minute), true)
}

func TestCorruptSnapshot(t *testing.T) {
	f := newFilter(t, Config{Window: time.Minute, Buckets: 2})
	feed(f, 3, 200, t0)
	snap, _ := f.MarshalBinary()
	target := newFilter(t, Config{})
	target.Admit("keep", t0)
	cases := map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("XDD\x01"), snap[4:]...),
		"truncated": snap[:len(snap)-9],
		"bit flip":  flip(snap, len(snap)/2),
		"checksum":  flip(snap, len(snap)-1),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			err := target.UnmarshalBinary(b)
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("err = %v, want corrupt", err)
			}
			if target.Len() != 1 || target.Admit("keep", t0) {
				t.Fatal("failed restore changed the filter")
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x10
	return c
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Window: -time.Second},
		{Buckets: -1},
		{Buckets: MaxBuckets + 1},
		{Window: 3, Buckets: 4},
		{MaxEntries: -5},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	f := newFilter(t, Config{})
	if c := f.Config(); c.Window != DefaultWindow || c.Buckets != DefaultBuckets || c.MaxEntries != DefaultMaxEntries {
		t.Errorf("defaults = %+v", c)
	}
}

// TestHashSet checks the open-addressing set against a map through random
// adds and removes, growth and shrinking included.
func TestHashSet(t *testing.T) {
	var s hashSet
	ref := map[uint64]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	// Few distinct low bits so probe runs collide and wrap around.
	key := func() uint64 { return rng.Uint64N(1<<14)<<20 | rng.Uint64N(1<<12) + 1 }
	for i := range 200_000 {
		h := key()
		switch {
		case i%3 == 2 || len(ref) > 3000:
			s.remove(h)
			delete(ref, h)
		case !ref[h] && i%2 == 0:
			s.add(h)
			ref[h] = true
		case !ref[h]:
			slot, found := s.find(h)
			if found {
				t.Fatalf("step %d: find(%#x) found it", i, h)
			}
			s.addAt(slot, h)
			ref[h] = true
		}
		if i%10_000 == 0 {
			s.shrink()
		}
		if i%97 == 0 {
			probe := key()
			if s.contains(probe) != ref[probe] {
				t.Fatalf("step %d: contains(%#x) = %v", i, probe, !ref[probe])
			}
		}
	}
	if s.n != len(ref) {
		t.Fatalf("n = %d, want %d", s.n, len(ref))
	}
	for h := range ref {
		if !s.contains(h) {
			t.Fatalf("lost %#x", h)
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	g, _ := New(Config{Window: time.Minute, Buckets: 3, MaxEntries: 50})
	feed(g, 5, 100, t0)
	snap, _ := g.MarshalBinary()
	f.Add(snap)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Most mutations only break the checksum; fix it up half the time
		// so that the parser behind it is exercised too.
		if len(data) > 8 && data[len(data)-1]&1 == 0 {
			body := data[:len(data)-4]
			data = binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
		}
		var fl Filter
		if err := fl.UnmarshalBinary(data); err != nil {
			return
		}
		out, err := fl.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var again Filter
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-reading our own snapshot: %v", err)
		}
		fl.Admit("x", t0)
	})
}

// TestRemoveAll: removing a bucket's hashes grouped by table region must
// leave exactly the other hashes, in small tables (no grouping) and large
// ones, with probe runs that wrap around the table's end.
func TestRemoveAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{100, 700, 50_000} {
		var s hashSet
		var gone, kept []uint64
		var chunks [][]uint64
		for i := range n {
			h := rng.Uint64() | 1
			if i%97 == 0 {
				h |= 1<<20 - 1 // home slot at the table's end
			}
			s.add(h)
			if i%3 == 0 {
				if len(chunks) == 0 || len(chunks[len(chunks)-1]) == chunkSize {
					chunks = append(chunks, make([]uint64, 0, chunkSize))
				}
				chunks[len(chunks)-1] = append(chunks[len(chunks)-1], h)
				gone = append(gone, h)
			} else {
				kept = append(kept, h)
			}
		}
		scratch := s.removeAll(chunks, nil)
		if len(scratch) != 0 && len(scratch) != len(gone) { // empty: not grouped
			t.Fatalf("%d hashes: scratch holds %d, want %d", n, len(scratch), len(gone))
		}
		if s.n != len(kept) {
			t.Fatalf("%d hashes: n = %d, want %d", n, s.n, len(kept))
		}
		for _, h := range kept {
			if !s.contains(h) {
				t.Fatalf("%d hashes: lost %#x", n, h)
			}
		}
		for _, h := range gone {
			if s.contains(h) {
				t.Fatalf("%d hashes: %#x still there", n, h)
			}
		}
	}
}

// TestPreparedAdmitIsAdmit: Prepare then AdmitHash decides as Admit does,
// over a stream that takes every path (duplicates, expiry, eviction, late
// events), and leaves the same filter behind.
func TestPreparedAdmitIsAdmit(t *testing.T) {
	cfg := Config{Window: 10 * time.Minute, Buckets: 5, MaxEntries: 300}
	a, b := newFilter(t, cfg), newFilter(t, cfg)
	da := feed(a, 3, 5000, t0)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range 5000 {
		id := fmt.Sprint("evt-", rng.IntN(5000)) // the stream of feed
		at := t0.Add(time.Duration(i)*time.Second - time.Duration(rng.IntN(900))*time.Second)
		h := b.Prepare(id)
		if h != Hash(id) {
			t.Fatalf("Prepare(%q) = %#x, want Hash's %#x", id, h, Hash(id))
		}
		if got := b.AdmitHash(h, at); got != da[i] {
			t.Fatalf("decision %d: AdmitHash %v, Admit %v", i, got, da[i])
		}
	}
	sa, _ := a.MarshalBinary()
	sb, _ := b.MarshalBinary()
	if !bytes.Equal(sa, sb) || a.Stats() != b.Stats() {
		t.Error("same input, different filters")
	}
	if s := b.Stats(); s.Duplicates == 0 || s.Expired == 0 || s.Evicted == 0 || s.Late == 0 {
		t.Errorf("the stream should exercise every path: %+v", s)
	}
}
