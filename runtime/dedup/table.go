package dedup

import (
	"math/bits"
	"slices"
)

// hashSet is an open-addressing set of non-zero 64-bit hashes with linear
// probing and backward-shift deletion (no tombstones, so probe sequences stay
// short however many entries come and go). Slot 0 means empty. The hashes are
// xxhash output, already well mixed, so their low bits index the table.
type hashSet struct {
	slots []uint64
	mask  uint64
	n     int
}

const minSlots = 1 << 10

func (s *hashSet) init(slots int) {
	s.slots = make([]uint64, slots)
	s.mask = uint64(slots - 1)
	s.n = 0
}

// contains reports whether h is in the set.
func (s *hashSet) contains(h uint64) bool {
	if s.slots == nil {
		return false
	}
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// find returns the slot holding h, or, when h is not in the set, the empty
// slot that adding it would take.
func (s *hashSet) find(h uint64) (slot uint64, found bool) {
	if s.slots == nil {
		return 0, false
	}
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		switch s.slots[i] {
		case h:
			return i, true
		case 0:
			return i, false
		}
	}
}

// addAt inserts h, which is not in the set, into slot, which find returned
// for it with no change to the set since: the probe find did is not done
// twice. It probes anew when the table has to grow first.
func (s *hashSet) addAt(slot, h uint64) {
	if s.slots == nil || (s.n+1)*4 > len(s.slots)*3 {
		s.add(h)
		return
	}
	s.slots[slot] = h
	s.n++
}

// add inserts h, which must not be in the set.
func (s *hashSet) add(h uint64) {
	if s.slots == nil {
		s.init(minSlots)
	}
	if (s.n+1)*4 > len(s.slots)*3 { // keep the load at most 3/4
		s.resize(len(s.slots) * 2)
	}
	i := h & s.mask
	for s.slots[i] != 0 {
		i = (i + 1) & s.mask
	}
	s.slots[i] = h
	s.n++
}

// remove deletes h if present.
func (s *hashSet) remove(h uint64) {
	if s.slots == nil {
		return
	}
	i := h & s.mask
	for s.slots[i] != h {
		if s.slots[i] == 0 {
			return
		}
		i = (i + 1) & s.mask
	}
	// Shift later members of the probe run back into the hole, as long as
	// that does not move one in front of its home slot.
	for j := (i + 1) & s.mask; s.slots[j] != 0; j = (j + 1) & s.mask {
		home := s.slots[j] & s.mask
		if (j-home)&s.mask >= (j-i)&s.mask {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = 0
	s.n--
}

// regionBits: removeAll groups the hashes it removes by the top regionBits
// bits of their home slot.
const regionBits = 12

// removeAll deletes every hash of chunks (a bucket's, in arrival order),
// using scratch, which it returns for reuse. Removed in arrival order, each
// hash is a cache miss somewhere in a table of megabytes; grouped by region
// of the table (1/4096 of it, a few cache lines) they are removed in one
// ascending sweep from its start to its end, which the processor's
// prefetcher can follow: 15,000 removals from a cold table of 2^18 slots
// take about 1.0 ms instead of 1.7–2.6 (BenchmarkRemoveBucket; by 1/256
// of the table, 1.4 ms). Backward shifting
// keeps the table valid in any order of removal, and where a hash sits is
// internal (snapshots write the buckets).
func (s *hashSet) removeAll(chunks [][]uint64, scratch []uint64) []uint64 {
	shift := bits.Len64(s.mask) - regionBits
	if shift <= 0 {
		for _, c := range chunks {
			for _, h := range c {
				s.remove(h)
			}
		}
		return scratch
	}
	// A counting sort by region.
	var start [1<<regionBits + 1]int
	n := 0
	for _, c := range chunks {
		for _, h := range c {
			start[(h&s.mask)>>shift+1]++
		}
		n += len(c)
	}
	for r := 1; r < len(start); r++ {
		start[r] += start[r-1]
	}
	scratch = slices.Grow(scratch[:0], n)[:n]
	for _, c := range chunks {
		for _, h := range c {
			r := (h & s.mask) >> shift
			scratch[start[r]] = h
			start[r]++
		}
	}
	for _, h := range scratch {
		s.remove(h)
	}
	return scratch
}

// shrink halves the table while it is less than 1/8 full, so that memory
// follows the live entries down after a burst.
func (s *hashSet) shrink() {
	size := len(s.slots)
	for size > minSlots && s.n*8 < size {
		size /= 2
	}
	if size != len(s.slots) {
		s.resize(size)
	}
}

func (s *hashSet) resize(size int) {
	old := s.slots
	s.init(size)
	for _, h := range old {
		if h != 0 {
			i := h & s.mask
			for s.slots[i] != 0 {
				i = (i + 1) & s.mask
			}
			s.slots[i] = h
			s.n++
		}
	}
}

func (s *hashSet) bytes() int { return len(s.slots) * 8 }
