package state

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/ecap-dev/ecap/runtime/cputime"
)

// The gone flag fills the padding after listed: links cost the Store no
// bytes.
func TestCustomerSizeWithGoneFlag(t *testing.T) {
	if n := unsafe.Sizeof(Customer{}); n != 192 {
		t.Fatalf("Customer is %d bytes, want 192 (gone must fit in the padding)", n)
	}
}

// A link is filled on the customer's first ApplyLinked and then used
// instead of the map; a customer the Store removed (Forget, Expire, a
// restored tombstone) is never changed through a link to it, and the link
// is refilled with the customer's new entry.
func TestApplyLinkedFollowsRemovals(t *testing.T) {
	s := NewStore(topic, 0)
	var link *Customer
	off := int64(0)
	apply := func(id string, day int) {
		t.Helper()
		if ok, err := s.ApplyLinked(&link, Purchase{Offset: off, CustomerID: id, EventTime: at(day, 0), Amount: 10}); err != nil || !ok {
			t.Fatalf("apply at %d: %v %v", off, ok, err)
		}
		off++
	}
	apply("a", 0)
	first, _ := s.Get("a")
	if link == nil || link != first {
		t.Fatalf("link = %p, want the customer %p", link, first)
	}
	// The map entry is not consulted while the link holds: swap in a decoy
	// under the key (a white-box check that the link is what is used).
	decoy := new(Customer)
	s.customers["a"] = decoy
	apply("a", 1)
	if first.Transactions() != 2 || decoy.Transactions() != 0 {
		t.Fatalf("linked apply changed the map's entry: linked %d, map %d", first.Transactions(), decoy.Transactions())
	}
	s.customers["a"] = first

	for _, remove := range []struct {
		name string
		do   func()
		day  int // of the purchase after the removal
	}{
		{"Forget", func() { s.Forget("a") }, 1000},
		{"Expire", func() {
			if n := s.Expire(at(1500, 0)); n != 1 {
				t.Fatalf("expired %d", n)
			}
		}, 2000},
	} {
		old := link
		before := old.Transactions()
		remove.do()
		apply("a", remove.day)
		now, held := s.Get("a")
		if !held || now == old || link != now {
			t.Fatalf("after %s: link %p, held %v %p, old %p", remove.name, link, held, now, old)
		}
		if now.Transactions() != 1 || old.Transactions() != before {
			t.Fatalf("after %s: re-created customer has %d purchases (want 1), removed one %d (want %d)",
				remove.name, now.Transactions(), old.Transactions(), before)
		}
	}

	// A tombstone read by a Restorer removes the entry too.
	r := NewRestorer(topic, 0)
	enc, _ := first.MarshalBinary()
	if err := r.Add([]byte("b"), enc); err != nil {
		t.Fatal(err)
	}
	rs := r.Stores()[0]
	var rl *Customer
	if _, err := rs.ApplyLinked(&rl, Purchase{Offset: 100, CustomerID: "b", EventTime: at(5, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add([]byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.ApplyLinked(&rl, Purchase{Offset: 101, CustomerID: "b", EventTime: at(6, 0)}); err != nil {
		t.Fatal(err)
	}
	if c, held := rs.Get("b"); !held || c != rl || c.Transactions() != 1 {
		t.Fatalf("after a restored tombstone: held %v, link %p, entry %p", held, rl, c)
	}
}

// ApplyLinked with a link per customer, kept across forgets, expiry,
// checkpoints and removals of links (a caller that lost its link), writes
// the same changelog as Apply.
func TestApplyLinkedWritesWhatApplyWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	plain, linked := NewStore(topic, 0), NewStore(topic, 0)
	links := map[string]**Customer{}
	ps := purchases(rng, 20_000, 300, 0)
	for i, p := range ps {
		if _, err := plain.Apply(p); err != nil {
			t.Fatal(err)
		}
		l := links[p.CustomerID]
		if l == nil {
			l = new(*Customer)
			links[p.CustomerID] = l
		}
		if _, err := linked.ApplyLinked(l, p); err != nil {
			t.Fatal(err)
		}
		switch {
		case i%97 == 0: // erased
			plain.Forget(p.CustomerID)
			linked.Forget(p.CustomerID)
		case i%1009 == 0:
			cutoff := p.EventTime.Add(-24 * 3600e9)
			if a, b := plain.Expire(cutoff), linked.Expire(cutoff); a != b {
				t.Fatalf("expired %d and %d", a, b)
			}
		case i%131 == 0: // the caller lost its link (its fraud customer was erased)
			delete(links, fmt.Sprintf("cust-%05d", rng.IntN(300)))
		case i%500 == 0:
			sameRecords(t, linked.Checkpoint(), plain.Checkpoint())
		}
	}
	sameRecords(t, linked.Checkpoint(), plain.Checkpoint())
	sameState(t, linked, plain)
	if linked.Stats() != plain.Stats() {
		t.Fatalf("stats %+v, want %+v", linked.Stats(), plain.Stats())
	}
}

func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b Record) bool {
		return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && (a.Value == nil) == (b.Value == nil)
	}) {
		t.Fatalf("checkpoint of %d records differs from Apply's %d", len(got), len(want))
	}
}

// BenchmarkApplyLinked is BenchmarkApply with a link per customer, as the
// engine keeps in the fraud state's customers: no map lookup.
func BenchmarkApplyLinked(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	ps := purchases(rng, 1<<16, 100_000, 0)
	s := NewStore(topic, 0)
	links := make([]*Customer, len(ps))
	byID := map[string]int{}
	slot := make([]int, len(ps))
	for i, p := range ps {
		j, ok := byID[p.CustomerID]
		if !ok {
			j = i
			byID[p.CustomerID] = i
		}
		slot[i] = j
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for i := range b.N {
		k := i & (len(ps) - 1)
		p := ps[k]
		p.Offset = int64(i)
		if _, err := s.ApplyLinked(&links[slot[k]], p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
}
