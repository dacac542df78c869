package fraud

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestCustomerTableCollisions runs random puts, replacements and removals
// through a customerTable and a Go map side by side, with hashes drawn
// from a handful of values (so that many IDs share one hash, runs of
// occupied slots are long and wrap around the end of the slot array) and
// with the table's own hashes. After every step each ID is found, or not,
// as in the map, and the table yields exactly the map's customers: IDs
// with one hash are told apart by the ID kept in the customer, and a
// removal's backward shift leaves every remaining customer reachable.
func TestCustomerTableCollisions(t *testing.T) {
	for _, forced := range []bool{true, false} {
		t.Run(fmt.Sprint("forced hashes ", forced), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			tab := newCustomerTable()
			want := map[string]*CustomerState{}
			hashes := map[string]uint64{}
			hashOf := func(id string) uint64 {
				if !forced {
					return tab.hash(id)
				}
				h, ok := hashes[id]
				if !ok {
					// Few distinct values, whose home slots are the last
					// three of the array at any size.
					h = uint64(rng.IntN(5))<<40 | uint64(1<<20-1-rng.IntN(3))
					hashes[id] = h
				}
				return h
			}
			ids := make([]string, 300)
			for i := range ids {
				ids[i] = fmt.Sprint("cust-", i)
			}
			check := func(step int) {
				t.Helper()
				if tab.len() != len(want) {
					t.Fatalf("step %d: table holds %d customers, want %d", step, tab.len(), len(want))
				}
				for _, id := range ids {
					got := tab.find(hashOf(id), id)
					if got != want[id] {
						t.Fatalf("step %d: customer %q found as %p, want %p", step, id, got, want[id])
					}
				}
				if all := maps.Collect(tab.all()); !maps.Equal(all, want) {
					t.Fatalf("step %d: table yields %d customers, want %d", step, len(all), len(want))
				}
			}
			for step := range 3000 {
				id := ids[rng.IntN(len(ids))]
				switch op := rng.IntN(10); {
				case op < 6: // a new customer, or one replacing it (Restore)
					c := &CustomerState{id: id, Count: uint64(step)}
					tab.putHashed(hashOf(id), c)
					want[id] = c
				default:
					got := tab.removeHashed(hashOf(id), id)
					if got != want[id] {
						t.Fatalf("step %d: removing %q gave %p, want %p", step, id, got, want[id])
					}
					delete(want, id)
				}
				if step%7 == 0 || step > 2900 {
					check(step)
				}
			}
			// Empty it: every removal must find its customer.
			for _, id := range ids {
				if tab.removeHashed(hashOf(id), id) != want[id] {
					t.Fatalf("emptying: %q not removed as held", id)
				}
				delete(want, id)
			}
			check(-1)
		})
	}
}

// TestCustomerTableFindsIDCopies: a customer is found under any string
// with its ID's bytes, not only the one it was put with, and not under a
// prefix or an extension of its ID.
func TestCustomerTableFindsIDCopies(t *testing.T) {
	tab := newCustomerTable()
	if tab.get("cust-42") != nil || tab.remove("cust-42") != nil {
		t.Fatal("an empty table holds a customer")
	}
	rec := "{cust-42}"
	c := newCustomer(rec[1:8])
	tab.put(c)
	if tab.get("cust-42") != c || tab.get(string([]byte("cust-42"))) != c {
		t.Fatal("customer not found under a copy of its ID")
	}
	for _, id := range []string{"cust-4", "cust-420", "", "cust-43"} {
		if tab.get(id) != nil {
			t.Fatalf("customer found under %q", id)
		}
	}
	if tab.remove("cust-4") != nil || tab.remove("cust-42") != c || tab.get("cust-42") != nil || tab.len() != 0 {
		t.Fatal("remove did not drop exactly the customer")
	}
}

// BenchmarkCustomerLookup finds customers of a partition of 20,000 in
// random order, as scoring does (newActivation), in the customer table and
// in the Go map with string keys that it replaced. Each lookup reads the
// customer and waits for the one before it (its index depends on the
// previous customer's Count, always 0), as scoring's lookups, thousands of
// instructions apart, do: a tight loop of independent lookups would
// overlap their cache misses and hide what each costs.
func BenchmarkCustomerLookup(b *testing.B) {
	const customers = 20_000
	tab := newCustomerTable()
	m := map[string]*CustomerState{}
	ids := make([]string, customers)
	for i := range ids {
		c := newCustomer(fmt.Sprintf("cust-%06d", i))
		tab.put(c)
		m[c.id] = c
		ids[i] = fmt.Sprintf("cust-%06d", i) // the event's copy, not the kept one
	}
	order := make([]int, 1<<16)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range order {
		order[i] = rng.IntN(customers)
	}
	b.Run("table", func(b *testing.B) {
		var n uint64
		for i := range b.N {
			n += tab.get(ids[order[i&(len(order)-1)]^int(n&1)]).Count
		}
		_ = n
	})
	b.Run("map", func(b *testing.B) {
		var n uint64
		for i := range b.N {
			n += m[ids[order[i&(len(order)-1)]^int(n&1)]].Count
		}
		_ = n
	})
}
