package kpi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/axiomhq/hyperloglog"
)

// exactLimit is the number of distinct customers a series counts exactly,
// in an open-addressing set of 64-bit hashes at most half full, of at most
// 2048 slots (16 KiB); the next customer moves the series to dense
// HyperLogLog registers (16 KiB).
//
// Why not the library's sparse mode all the way: it re-sorts its sparse
// list every 164 insertions and keeps it until it holds 16384 entries, so a
// series of ten thousand customers costs hundreds of nanoseconds per
// insertion; an exact set is cheaper below the limit and dense registers
// above it.
const exactLimit = 768

// hllPrecision gives 2^14 registers, a standard error of 0.81%.
const hllPrecision = 14

// hllRegisters is the number of dense registers.
const hllRegisters = 1 << hllPrecision

// customerSet counts the distinct customers of one series: exactly up to
// exactLimit, then with HyperLogLog.
//
// The dense registers are kept here rather than in a hyperloglog.Sketch:
// they are the library's dense registers of precision hllPrecision
// (register hllPos(h) holds the largest rho of the hashes h inserted; its
// encoding is appendDense), so the results and snapshots are the same, but
// the engine computes a customer's register position once per transaction
// instead of once per series, an insertion is one compare and store that
// the processor can overlap with the next series' cache miss, and the
// estimate reads them directly (estimate.go).
//
// The aggregator adds hashes with add, which only appends them to pending;
// they are inserted, in the order they came, when pending is full or before
// anything reads the set (flush). Inserting one hash touches a random
// register (or table slot) of the series, and with a dozen series per
// transaction between the other stages' work that is a cache miss each;
// inserting hundreds of one series' hashes together touches its registers
// once while they are in the cache. The set after a flush is the set the
// hashes inserted one by one give, slot for slot.
type customerSet struct {
	// slots holds customer hashes, 0 marking a free slot (a hash of 0 is
	// stored as 1). nil once dense.
	slots []uint64
	n     int
	// regs are the dense registers, nil while exact.
	regs []uint8
	// pending holds the hashes added since the last flush, in order, while
	// the set is exact; dense holds those added since it has registers, as
	// register positions (idx<<8 | rho, see hllPos): half the bytes. At most
	// the one added at the switch lands in pending after the switch, and
	// flush applies pending first.
	pending []uint64
	dense   []uint32
}

// pendingMax is the number of added customers after which add inserts
// them: as many as the dense registers' cache lines times eight, so that a
// flush reads each line once for about eight insertions (512 missed the
// cache about once per two); 16 KiB of hashes while exact, 8 KiB of
// register positions once dense. The
// aggregator frees a pane's buffers when events move on to the next pane
// (release), so only the current panes hold full ones.
const pendingMax = 2048

// add adds h to the set; it is inserted by the next flush. A full-size
// buffer comes from sp when it has one (sp may be nil).
func (c *customerSet) add(h uint64, sp *spareBuffers) {
	if c.regs != nil {
		if len(c.dense) == cap(c.dense) {
			if cap(c.dense) >= pendingMax {
				c.flush()
			} else {
				var spare *[][]uint32
				if sp != nil {
					spare = &sp.dense
				}
				c.dense = growPending(c.dense, spare)
			}
		}
		idx, rho := hllPos(h)
		c.dense = append(c.dense, idx<<8|uint32(rho))
		return
	}
	if len(c.pending) == cap(c.pending) {
		if cap(c.pending) >= pendingMax {
			c.flush()
		} else {
			var spare *[][]uint64
			if sp != nil {
				spare = &sp.exact
			}
			c.pending = growPending(c.pending, spare)
		}
	}
	c.pending = append(c.pending, h)
}

// growPending returns a larger buffer holding p: pendingFirst entries at
// first, then pendingMax (a series this busy fills the whole buffer: two
// allocations instead of append's doublings), taken from spare (when not
// nil) if it holds one.
func growPending[T uint32 | uint64](p []T, spare *[][]T) []T {
	if cap(p) == 0 {
		return make([]T, 0, pendingFirst)
	}
	if spare != nil {
		if n := len(*spare); n > 0 {
			b := (*spare)[n-1]
			(*spare)[n-1] = nil
			*spare = (*spare)[:n-1]
			return append(b[:0], p...)
		}
	}
	return append(make([]T, 0, pendingMax), p...)
}

// spareBuffers holds the full-size pending buffers of released series
// (release) until a busy series of a later pane needs one (growPending):
// every pane's busy series fill buffers of pendingMax, and without reuse
// each new pane allocated (and the runtime zeroed) 8–16 KiB per series, a
// few megabytes a minute of event time for the collector. A buffer in it
// belongs to no set.
type spareBuffers struct {
	exact [][]uint64
	dense [][]uint32
}

// maxSpareBuffers bounds each of spareBuffers' lists: more than the busy
// series of two panes of the engine's usual KPI specs.
const maxSpareBuffers = 64

// pendingFirst is the capacity of a series' first buffer, enough for a
// quiet series.
const pendingFirst = 32

// release flushes c and frees its buffers: the full-size ones go to sp
// (when not nil and not full) for another series.
func (c *customerSet) release(sp *spareBuffers) {
	c.flush()
	if sp != nil {
		if cap(c.pending) == pendingMax && len(sp.exact) < maxSpareBuffers {
			sp.exact = append(sp.exact, c.pending[:0])
		}
		if cap(c.dense) == pendingMax && len(sp.dense) < maxSpareBuffers {
			sp.dense = append(sp.dense, c.dense[:0])
		}
	}
	c.pending, c.dense = nil, nil
}

// flush inserts the pending hashes in the order they were added.
func (c *customerSet) flush() {
	if len(c.pending) > 0 {
		c.flushExact()
	}
	if d := c.dense; len(d) > 0 {
		c.dense = d[:0]
		regs := c.regs[:hllRegisters]
		for _, x := range d {
			i := x >> 8 & (hllRegisters - 1)
			regs[i] = max(regs[i], uint8(x))
		}
	}
}

// flushExact inserts the hashes of pending.
func (c *customerSet) flushExact() {
	p := c.pending
	c.pending = p[:0]
	if c.regs == nil {
		// Room for them all at once instead of doubling on the way; a full
		// buffer is a busy series, which gets the largest table at once.
		want := min(c.n+len(p), exactLimit)
		if len(p) >= pendingMax {
			want = exactLimit
		}
		if size := len(c.slots); 2*want > size && size < exactSlots {
			c.resize(min(exactSlots, max(8, 1<<bits.Len(uint(2*want-1)))))
		}
	}
	for i := 0; i < len(p); i++ {
		if c.regs != nil {
			// Dense: the rest go straight to the registers.
			regs := c.regs[:hllRegisters]
			for _, h := range p[i:] {
				idx, rho := hllPos(h)
				regs[idx] = max(regs[idx], rho)
			}
			return
		}
		i = c.insertRun(p, i)
		if i < len(p) {
			// The one that resizes the table or turns the set dense.
			c.insert(p[i])
		}
	}
}

// insertRun inserts p[i], p[i+1], ... as insert does, slot for slot, while
// that can neither grow the table nor turn the set dense (the count stays
// at most half the table and at most exactLimit), with the table and count
// in registers; it returns the index of the first hash it did not insert.
func (c *customerSet) insertRun(p []uint64, i int) int {
	slots := c.slots
	if len(slots) == 0 {
		return i
	}
	mask := uint64(len(slots) - 1)
	n := c.n
	room := min(exactLimit, len(slots)/2)
	for ; i < len(p) && n < room; i++ {
		h := p[i]
		if h == 0 {
			h = 1
		}
		for j := h & mask; ; j = (j + 1) & mask {
			x := slots[j]
			if x == h {
				break
			}
			if x == 0 {
				slots[j] = h
				n++
				break
			}
		}
	}
	c.n = n
	return i
}

// hllPos returns the register of hash h and the value h gives it, as
// hyperloglog.Sketch.InsertHash computes them at precision hllPrecision:
// the top bits index the register, rho is one more than the leading zeros
// of the rest (with a stop bit, so at most 64-hllPrecision+1).
func hllPos(h uint64) (idx uint32, rho uint8) {
	return uint32(h >> (64 - hllPrecision)), uint8(bits.LeadingZeros64(h<<hllPrecision|1<<(hllPrecision-1))) + 1
}

// insert inserts h at once.
func (c *customerSet) insert(h uint64) {
	if c.regs != nil {
		idx, rho := hllPos(h)
		if r := &c.regs[idx&(hllRegisters-1)]; *r < rho {
			*r = rho
		}
		return
	}
	if h == 0 {
		h = 1
	}
	if c.slots == nil {
		c.slots = make([]uint64, 8)
	}
	mask := uint64(len(c.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch c.slots[i] {
		case h:
			return
		case 0:
			c.slots[i] = h
			c.n++
			if c.n > exactLimit {
				c.toDense()
			} else if c.n*2 > len(c.slots) {
				c.resize(2 * len(c.slots))
			}
			return
		}
	}
}

// exactSlots is the largest exact table: exactLimit hashes at most half
// full. Half full, an insertion probes about two slots on average (three
// quarters full, as before, about eight).
const exactSlots = 2048

// resize moves the exact table to size slots, a power of two. Where a hash
// lands is internal: nothing that leaves the set depends on it (the
// snapshot writes the hashes sorted, the sketch its sorted keys).
func (c *customerSet) resize(size int) {
	old := c.slots
	c.slots = make([]uint64, size)
	mask := uint64(len(c.slots) - 1)
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for c.slots[i] != 0 {
			i = (i + 1) & mask
		}
		c.slots[i] = h
	}
}

func (c *customerSet) toDense() {
	regs := make([]uint8, hllRegisters)
	for _, h := range c.slots {
		if h != 0 {
			idx, rho := hllPos(h)
			regs[idx] = max(regs[idx], rho)
		}
	}
	c.regs, c.slots, c.n = regs, nil, 0
}

// union adds o's customers to c. The result is what inserting both sets'
// hashes into one set gives: exact while at most exactLimit distinct, else
// dense registers, which hold the maximum per register however the hashes
// arrive.
func (c *customerSet) union(o *customerSet) {
	c.flush()
	o.flush()
	if c.regs == nil && c.n == 0 {
		// Into an empty set (a window's first pane): a copy.
		c.regs, c.slots, c.n = slices.Clone(o.regs), slices.Clone(o.slots), o.n
		return
	}
	if o.regs != nil {
		if c.regs == nil {
			c.toDense()
		}
		maxRegisters(c.regs, o.regs)
		return
	}
	for _, h := range o.slots {
		if h != 0 {
			c.insert(h)
		}
	}
}

// maxRho is the largest register value: hllPos's rho of a hash whose bits
// below the register index are all 0.
const maxRho = 64 - hllPrecision + 1

// maxRegisters sets every dst[i] to max(dst[i], src[i]), eight registers
// at a time: registers are at most maxRho < 128, so in each byte of
// (a | 0x80...) - b, 128 + a - b lies in 1..255 (no borrow crosses into
// the next byte) and has its high bit set exactly when a >= b.
// TestMaxRegisters compares it with a byte-by-byte loop.
func maxRegisters(dst, src []uint8) {
	const high = 0x8080808080808080
	dst = dst[:len(src)]
	n := len(src) &^ 7
	for i := 0; i < n; i += 8 {
		a := binary.LittleEndian.Uint64(dst[i:])
		b := binary.LittleEndian.Uint64(src[i:])
		keep := ((((a | high) - b) & high) >> 7) * 0xff // 0xff where a >= b
		binary.LittleEndian.PutUint64(dst[i:], a&keep|b&^keep)
	}
	for i := n; i < len(src); i++ {
		dst[i] = max(dst[i], src[i])
	}
}

// estimate returns the exact count below the limit, else the HyperLogLog
// estimate.
func (c *customerSet) estimate() uint64 {
	c.flush()
	if c.regs != nil {
		return denseEstimate(c.regs)
	}
	return uint64(c.n)
}

// sketch returns the set as a serialized hyperloglog.Sketch (sparse while
// exact), the form results carry and MergeSketches unites.
func (c *customerSet) sketch() []byte {
	c.flush()
	if c.regs != nil {
		return appendDense(make([]byte, 0, denseHeader+hllRegisters), c.regs)
	}
	return appendSparse(nil, c.slots, c.n)
}

// sparsePrecision is the library's precision of sparse keys (its pp).
const sparsePrecision = 25

// sparseKey is the library's sparse key of hash h (its encodeHash at
// precision hllPrecision): the top sparsePrecision bits, shifted left by
// one, or, when the bits between the register index and sparsePrecision
// are all 0, those bits with the rank of the rest and a flag bit.
func sparseKey(h uint64) uint32 {
	idx := uint32(h >> (64 - sparsePrecision))
	if idx&(1<<(sparsePrecision-hllPrecision)-1) == 0 {
		rest := h & (1<<(64-sparsePrecision) - 1)
		zeros := bits.LeadingZeros64(rest<<sparsePrecision|(1<<sparsePrecision-1)) + 1
		return idx<<7 | uint32(zeros<<1) | 1
	}
	return idx << 1
}

// sparseHeader is the length of the library's sparse encoding before the
// key stream: version, precision, register base (0), sparse flag (1), the
// empty temporary set's size (4 bytes), then the key list's count, last
// key and stream length (4 big-endian bytes each).
const sparseHeader = 20

// appendSparse appends the encoding the library's MarshalBinary writes for
// a sparse sketch of precision hllPrecision that was fed the n non-zero
// hashes in slots and then estimated: the estimate folds its temporary set
// into the key list, sorted and without repeats, each key a varint of its
// difference to the one before. Nothing else the library does to a sketch
// of at most exactLimit hashes changes that list (it turns dense only at
// 2^hllPrecision stream bytes, and a key takes at most 5).
// TestSparseSketchMatchesLibrary compares the two.
func appendSparse(b []byte, slots []uint64, n int) []byte {
	keys := make([]uint32, 0, n)
	for _, h := range slots {
		if h != 0 {
			keys = append(keys, sparseKey(h))
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	b = slices.Grow(b, sparseHeader+4*len(keys))
	head := len(b)
	b = append(b, denseVersion, hllPrecision, 0, 1)
	b = append(b, make([]byte, sparseHeader-4)...) // filled in below
	last := uint32(0)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(k-last))
		last = k
	}
	h := b[head+8 : head+sparseHeader]
	binary.BigEndian.PutUint32(h, uint32(len(keys)))
	binary.BigEndian.PutUint32(h[4:], last)
	binary.BigEndian.PutUint32(h[8:], uint32(len(b)-head-sparseHeader))
	return b
}

// denseVersion is the first byte of the library's encodings (its version).
const denseVersion = 2

// denseHeader is the length of the library's dense encoding before the
// registers: version, precision, register base (0), sparse flag (0), and
// the number of registers in 4 big-endian bytes.
const denseHeader = 8

// appendDense appends the library's encoding of a dense sketch of
// precision hllPrecision with registers regs (what its MarshalBinary
// writes; TestDenseRegistersMatchLibrary compares the two).
func appendDense(b []byte, regs []uint8) []byte {
	n := len(regs)
	b = append(b, denseVersion, hllPrecision, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, regs...)
}

// denseRegisters returns the registers of enc, the library's encoding of a
// sketch of precision hllPrecision, as they are after its dense conversion.
func denseRegisters(enc []byte) ([]uint8, error) {
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(enc); err != nil {
		return nil, err
	}
	if len(enc) < 2 || enc[1] != hllPrecision {
		return nil, fmt.Errorf("customer sketch of precision %d, want %d", enc[1], hllPrecision)
	}
	dense, _ := hyperloglog.NewSketch(hllPrecision, false)
	// Same precision: Merge cannot fail; a sparse sketch becomes dense.
	_ = dense.Merge(sk)
	b, err := dense.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(b) != denseHeader+hllRegisters || b[2] != 0 || b[3] != 0 {
		return nil, errors.New("customer sketch is not dense after conversion")
	}
	regs := b[denseHeader:]
	for i, r := range regs {
		if r > maxRho {
			return nil, fmt.Errorf("customer sketch register %d is %d, above %d", i, r, maxRho)
		}
	}
	return regs, nil
}

// Snapshot encoding of a customerSet: byte 0 + uvarint n + n little-endian
// uint64 hashes, or byte 1 + uvarint length + the dense sketch. The hashes
// are written in ascending order (since session 6; table order before,
// which restores the same), so that the bytes depend only on the set, not
// on the table's size or the order hashes arrived in.
func (c *customerSet) appendBinary(b []byte) ([]byte, error) {
	c.flush()
	if c.regs != nil {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(denseHeader+len(c.regs)))
		return appendDense(b, c.regs), nil
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(c.n))
	hs := make([]uint64, 0, c.n)
	for _, h := range c.slots {
		if h != 0 {
			hs = append(hs, h)
		}
	}
	slices.Sort(hs)
	for _, h := range hs {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	return b, nil
}

func (r *reader) customerSet(c *customerSet) error {
	switch r.byte() {
	case 0:
		n := r.count(8)
		if r.err != nil {
			return r.err
		}
		if n > exactLimit {
			return fmt.Errorf("exact customer set of %d exceeds %d", n, exactLimit)
		}
		for range n {
			h := binary.LittleEndian.Uint64(r.bytes(8))
			if h == 0 {
				return errors.New("customer hash 0 in exact set")
			}
			before := c.n
			c.insert(h)
			if c.n == before {
				return errors.New("duplicate customer hash in exact set")
			}
		}
	case 1:
		n := r.count(1)
		data := r.bytes(n)
		if r.err != nil {
			return r.err
		}
		regs, err := denseRegisters(data)
		if err != nil {
			return fmt.Errorf("customer sketch: %w", err)
		}
		c.regs = regs
	default:
		if r.err == nil {
			return errors.New("invalid customer set kind")
		}
	}
	return r.err
}
