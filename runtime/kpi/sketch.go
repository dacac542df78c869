package kpi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/axiomhq/hyperloglog"
)

// exactLimit is the number of distinct customers a series counts exactly,
// in an open-addressing set of 64-bit hashes of at most 1024 slots (8 KiB);
// the next customer moves the series to a dense HyperLogLog sketch (16 KiB).
//
// Why not the library's sparse mode all the way: it re-sorts its sparse
// list every 164 insertions and keeps it until it holds 16384 entries, so a
// series of ten thousand customers costs hundreds of nanoseconds per
// insertion; an exact set is cheaper below the limit and dense registers
// above it.
const exactLimit = 768

// hllPrecision gives 2^14 registers, a standard error of 0.81%.
const hllPrecision = 14

// customerSet counts the distinct customers of one series: exactly up to
// exactLimit, then with HyperLogLog.
type customerSet struct {
	// slots holds customer hashes, 0 marking a free slot (a hash of 0 is
	// stored as 1). nil once dense.
	slots []uint64
	n     int
	dense *hyperloglog.Sketch
}

func (c *customerSet) insert(h uint64) {
	if c.dense != nil {
		c.dense.InsertHash(h)
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
			} else if c.n*4 > len(c.slots)*3 {
				c.grow()
			}
			return
		}
	}
}

func (c *customerSet) grow() {
	old := c.slots
	c.slots = make([]uint64, 2*len(old))
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
	sk, _ := hyperloglog.NewSketch(hllPrecision, false)
	for _, h := range c.slots {
		if h != 0 {
			sk.InsertHash(h)
		}
	}
	c.dense, c.slots, c.n = sk, nil, 0
}

// union adds o's customers to c. The result is what inserting both sets'
// hashes into one set gives: exact while at most exactLimit distinct, else
// dense registers, which hold the maximum per register however the hashes
// arrive.
func (c *customerSet) union(o *customerSet) {
	if o.dense != nil {
		if c.dense == nil {
			c.toDense()
		}
		// Both are dense sketches of one precision: Merge cannot fail.
		_ = c.dense.Merge(o.dense)
		return
	}
	for _, h := range o.slots {
		if h != 0 {
			c.insert(h)
		}
	}
}

// estimate returns the exact count below the limit, else the HyperLogLog
// estimate.
func (c *customerSet) estimate() uint64 {
	if c.dense != nil {
		return c.dense.Estimate()
	}
	return uint64(c.n)
}

// sketch returns the set as a serialized hyperloglog.Sketch (sparse while
// exact), the form results carry and MergeSketches unites.
func (c *customerSet) sketch() []byte {
	sk := c.dense
	if sk == nil {
		sk = hyperloglog.New14()
		for _, h := range c.slots {
			if h != 0 {
				sk.InsertHash(h)
			}
		}
		// Estimate folds the insertion-ordered temporary set into the sorted
		// sparse list, which makes the encoding canonical.
		sk.Estimate()
	}
	// A sketch of valid precision always marshals.
	b, _ := sk.MarshalBinary()
	return b
}

// Snapshot encoding of a customerSet: byte 0 + uvarint n + n little-endian
// uint64 hashes, or byte 1 + uvarint length + the dense sketch.
func (c *customerSet) appendBinary(b []byte) ([]byte, error) {
	if c.dense != nil {
		sk, err := c.dense.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("failed to encode customer sketch: %w", err)
		}
		b = append(b, 1)
		return appendString(b, string(sk)), nil
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(c.n))
	for _, h := range c.slots {
		if h != 0 {
			b = binary.LittleEndian.AppendUint64(b, h)
		}
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
		sk := new(hyperloglog.Sketch)
		if err := sk.UnmarshalBinary(data); err != nil {
			return fmt.Errorf("customer sketch: %w", err)
		}
		c.dense = sk
	default:
		if r.err == nil {
			return errors.New("invalid customer set kind")
		}
	}
	return r.err
}
