package fraud

import (
	"hash/maphash"
	"iter"
)

// customerTable maps customer IDs to their histories. It is an
// open-addressing table of 16-byte slots, each the 64-bit hash of an ID
// (with a seed of the table's own) and the customer, probed linearly.
//
// Finding a customer is the first thing scoring a transaction does, and in
// a partition of some ten thousand customers it misses the cache. A Go map
// with string keys reads a group's control word, then the slot, then the
// key's bytes through the key's pointer before it yields the customer; here
// the hash is compared in the slot, four of which share a cache line, and
// the ID, to confirm, in the customer (CustomerState.id), whose own cache
// lines the transaction reads anyway. Two IDs with one hash are two slots
// told apart by that compare (TestCustomerTableCollisions).
//
// Removal shifts the slots that follow back (no tombstones), so a table
// that customers come to and expire from does not fill with dead slots.
type customerTable struct {
	seed  maphash.Seed
	slots []customerSlot // a power of two long, or empty
	n     int            // customers held
}

// customerSlot is one slot: empty when c is nil.
type customerSlot struct {
	h uint64
	c *CustomerState
}

// minCustomerSlots is the size of a table's first slot array.
const minCustomerSlots = 16

func newCustomerTable() customerTable {
	return customerTable{seed: maphash.MakeSeed()}
}

// hash is the table's hash of id.
func (t *customerTable) hash(id string) uint64 { return maphash.String(t.seed, id) }

// len is the number of customers held.
func (t *customerTable) len() int { return t.n }

// get returns the customer of id, nil if there is none.
func (t *customerTable) get(id string) *CustomerState {
	if t.n == 0 {
		return nil
	}
	return t.find(t.hash(id), id)
}

// find returns the customer of id, whose hash is h, nil if there is none.
// The table must have slots (get checks that it holds a customer).
func (t *customerTable) find(h uint64, id string) *CustomerState {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.c == nil {
			return nil
		}
		if s.h == h && s.c.id == id {
			return s.c
		}
	}
}

// put holds c under its ID, c.id, replacing the customer held under it if
// there is one.
func (t *customerTable) put(c *CustomerState) {
	t.putHashed(t.hash(c.id), c)
}

// putHashed is put with h, the hash of c.id.
func (t *customerTable) putHashed(h uint64, c *CustomerState) {
	// At most three quarters full: probes stay short, mostly within the
	// cache line of the first slot.
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.c == nil {
			*s = customerSlot{h: h, c: c}
			t.n++
			return
		}
		if s.h == h && s.c.id == c.id {
			s.c = c
			return
		}
	}
}

// grow doubles the slot array and places every customer again.
func (t *customerTable) grow() {
	old := t.slots
	t.slots = make([]customerSlot, max(2*len(old), minCustomerSlots))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.c == nil {
			continue
		}
		i := s.h & mask
		for t.slots[i].c != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// remove drops the customer of id and returns it, nil if there was none.
func (t *customerTable) remove(id string) *CustomerState {
	return t.removeHashed(t.hash(id), id)
}

// removeHashed is remove with h, the hash of id.
func (t *customerTable) removeHashed(h uint64, id string) *CustomerState {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for {
		s := &t.slots[i]
		if s.c == nil {
			return nil
		}
		if s.h == h && s.c.id == id {
			break
		}
		i = (i + 1) & mask
	}
	c := t.slots[i].c
	// Backward shift: a slot after the hole that probing from its home
	// slot would no longer reach moves into the hole, until an empty slot
	// ends the run.
	hole := i
	for j := (i + 1) & mask; t.slots[j].c != nil; j = (j + 1) & mask {
		home := t.slots[j].h & mask
		// The slot at j stays if its home lies cyclically in (hole, j].
		if (j-home)&mask < (j-hole)&mask {
			continue
		}
		t.slots[hole] = t.slots[j]
		hole = j
	}
	t.slots[hole] = customerSlot{}
	t.n--
	return c
}

// all yields every customer with its ID, in no particular order. The table
// must not change while it yields.
func (t *customerTable) all() iter.Seq2[string, *CustomerState] {
	return func(yield func(string, *CustomerState) bool) {
		for i := range t.slots {
			if c := t.slots[i].c; c != nil && !yield(c.id, c) {
				return
			}
		}
	}
}
