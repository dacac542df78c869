package dedup

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// Snapshot layout, version 1 (varints as in encoding/binary):
//
//	"EDD" 0x01                    magic and version
//	uvarint window ns, buckets, max entries
//	byte has-watermark, varint watermark ns
//	uvarint admitted, duplicates, late, expired, evicted
//	uvarint bucket count, then per bucket in ascending key order:
//	    varint key, uvarint n, n hashes as 8-byte little endian
//	4-byte little-endian CRC-32C of everything before it
//
// Hashes are random 64-bit values, so they are stored raw: 8 bytes per ID
// plus a few bytes per bucket.
var snapshotMagic = [4]byte{'E', 'D', 'D', 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the Filter's state: configuration, watermark,
// counters and remembered hashes in arrival order. Restoring it and
// marshalling again gives the same bytes.
func (f *Filter) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 64+f.set.n*8+len(f.live)*12)
	b = append(b, snapshotMagic[:]...)
	b = binary.AppendUvarint(b, uint64(f.cfg.Window))
	b = binary.AppendUvarint(b, uint64(f.cfg.Buckets))
	b = binary.AppendUvarint(b, uint64(f.cfg.MaxEntries))
	if f.hasWatermark {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, f.watermark)
	for _, n := range []uint64{f.stats.Admitted, f.stats.Duplicates, f.stats.Late, f.stats.Expired, f.stats.Evicted} {
		b = binary.AppendUvarint(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(f.live)))
	for _, bk := range f.live {
		b = binary.AppendVarint(b, bk.key)
		b = binary.AppendUvarint(b, uint64(bk.n))
		for _, c := range bk.chunks {
			for _, h := range c {
				b = binary.LittleEndian.AppendUint64(b, h)
			}
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// UnmarshalBinary replaces the Filter's state with a snapshot. A Filter made
// by New keeps its own configuration: remembered IDs are moved to the bucket
// of the new width that holds their old bucket's start, and the new window
// and cap are applied at once. A zero Filter takes the snapshot's
// configuration. On error the Filter is unchanged.
func (f *Filter) UnmarshalBinary(data []byte) error {
	if len(data) < len(snapshotMagic)+4 || [4]byte(data) != snapshotMagic {
		return fmt.Errorf("%w: bad magic or version", errCorrupt)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(body):]) {
		return fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	r := snapshotReader{b: body[len(snapshotMagic):]}
	snapCfg := Config{
		Window:     time.Duration(r.uvarint()),
		Buckets:    int(r.uvarint()),
		MaxEntries: int(r.uvarint()),
	}
	hasWatermark := r.byte() == 1
	watermark := r.varint()
	var stats Stats
	for _, p := range []*uint64{&stats.Admitted, &stats.Duplicates, &stats.Late, &stats.Expired, &stats.Evicted} {
		*p = r.uvarint()
	}
	if r.err != nil {
		return r.err
	}
	if snapCfg.Window <= 0 || snapCfg.Buckets <= 0 || snapCfg.MaxEntries <= 0 {
		return fmt.Errorf("%w: invalid configuration %+v", errCorrupt, snapCfg)
	}
	if err := snapCfg.setDefaults(); err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	snapWidth := int64(snapCfg.Window) / int64(snapCfg.Buckets)

	cfg := f.cfg
	if f.width == 0 {
		cfg = snapCfg
	}
	g, err := New(cfg)
	if err != nil {
		return err
	}
	g.watermark, g.hasWatermark, g.stats = watermark, hasWatermark, stats
	buckets := r.uvarint()
	// Size the table once for the hashes the snapshot can hold, rather than
	// doubling it repeatedly while re-inserting.
	if most := min(len(r.b)/8, g.cfg.MaxEntries); most > 0 {
		slots := minSlots
		for slots*3 < most*4 {
			slots *= 2
		}
		g.set.init(slots)
	}
	prev := int64(0)
	for i := uint64(0); i < buckets && r.err == nil; i++ {
		key, n := r.varint(), r.uvarint()
		if r.err == nil && (i > 0 && key <= prev || key < 0 || n > uint64(len(r.b))/8) {
			return fmt.Errorf("%w: bucket %d", errCorrupt, i)
		}
		prev = key
		start := key * snapWidth
		if start/snapWidth != key {
			return fmt.Errorf("%w: bucket %d out of range", errCorrupt, i)
		}
		for j := uint64(0); j < n && r.err == nil; j++ {
			h := r.uint64()
			if h == 0 {
				return fmt.Errorf("%w: zero hash", errCorrupt)
			}
			if slot, found := g.set.find(h); !found && !g.remember(h, start/g.width, slot) {
				g.stats.Expired++ // outside the new window
			}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(r.b))
	}
	if r.err != nil {
		return r.err
	}
	if g.hasWatermark {
		g.expire()
	}
	*f = *g
	return nil
}

// snapshotReader decodes the snapshot body; the first error sticks.
type snapshotReader struct {
	b   []byte
	err error
}

func (r *snapshotReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", errCorrupt)
	}
	r.b = nil
}

func (r *snapshotReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapshotReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapshotReader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *snapshotReader) uint64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}
