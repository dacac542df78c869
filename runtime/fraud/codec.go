package fraud

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Every stored record starts with this version byte so that a later layout
// can read checkpoints written by this one.
const recordVersion = 1

var errShortRecord = errors.New("truncated record")

// encoder appends the compact binary layout used by all state records:
// unsigned varints for counts and indices, zig-zag varints for times and
// deltas, 8-byte little-endian IEEE 754 for floats, length-prefixed strings.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) byte1(v byte)     { e.b = append(e.b, v) }
func (e *encoder) float(v float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *encoder) u64(v uint64)     { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) bool(v bool) {
	if v {
		e.byte1(1)
	} else {
		e.byte1(0)
	}
}

// decoder reads what encoder wrote. The first error sticks; callers check
// err once at the end, so a truncated or corrupt record yields an error and
// never a panic.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShortRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShortRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(errShortRecord)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte1() != 0 }

func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail(errShortRecord)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) float() float64 { return math.Float64frombits(d.u64()) }

// finite reads a float that must be finite: state never holds NaN or Inf,
// so a non-finite value means a corrupt record.
func (d *decoder) finite() float64 {
	v := d.float()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.fail(errors.New("non-finite number in record"))
		return 0
	}
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(errShortRecord)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a collection length and checks it against a bound, so a
// corrupt length cannot make the reader allocate gigabytes.
func (d *decoder) count(limit int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(limit) {
		d.fail(fmt.Errorf("collection of %d entries exceeds the limit of %d", n, limit))
		return 0
	}
	return int(n)
}

func (d *decoder) version() {
	if v := d.byte1(); d.err == nil && v != recordVersion {
		d.fail(fmt.Errorf("unsupported record version %d", v))
	}
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d trailing bytes", len(d.b)))
	}
	return d.err
}

// hashString is a stable 64-bit hash: FNV-1a followed by the MurmurHash3
// finaliser. FNV alone mixes the high bits poorly, and the distinct-count
// sketch needs hashes that look uniform over the whole 64-bit range. The
// hash must not change between releases: checkpoints store its values.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return fmix64(h)
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
