package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kpi"
	"github.com/ecap-dev/ecap/runtime/state"
)

// Snapshot records hold what neither the customer Store nor the fraud
// records (fraudlog.go) hold: the dedup filters, the KPI aggregator and the
// user-events, feedback and control offsets. They are written in full at
// every checkpoint, before the Store's offset marker, under keys
//
//	"\x00snap/<transactions topic>/<partition>/<slot>/<chunk>"
//
// alternating between slot 0 and 1. The slot that matches the marker is thus
// never overwritten by a checkpoint that might not complete: a crash while
// writing slot 1 leaves slot 0 and its marker intact, and compaction keeps
// both slots. Each chunk carries the snapshot's sequence number, the
// transactions offset it belongs to, its index, the chunk count and a CRC of
// the whole blob, so a restore takes only a complete snapshot whose offset
// equals the restored marker.
const (
	snapPrefix   = "\x00snap/"
	maxChunkSize = 900 << 10
	snapVersion  = 1
)

func snapKey(topic string, part int32, slot, chunk int) []byte {
	return []byte(snapPrefix + topic + "/" + strconv.Itoa(int(part)) + "/" + strconv.Itoa(slot) + "/" + strconv.Itoa(chunk))
}

// parseSnapKey returns the slot and chunk of a snapshot key of topic/part.
func parseSnapKey(key []byte, topic string, part int32) (slot, chunk int, ok bool) {
	rest, found := bytes.CutPrefix(key, []byte(snapPrefix+topic+"/"+strconv.Itoa(int(part))+"/"))
	if !found {
		return 0, 0, false
	}
	s, c, found := bytes.Cut(rest, []byte("/"))
	if !found {
		return 0, 0, false
	}
	slot, err1 := strconv.Atoi(string(s))
	chunk, err2 := strconv.Atoi(string(c))
	if err1 != nil || err2 != nil || slot < 0 || slot > 1 {
		return 0, 0, false
	}
	return slot, chunk, true
}

// encodeSnapshot serializes the non-Store state of p.
func encodeSnapshot(p *partition) ([]byte, error) {
	var b []byte
	b = append(b, snapVersion)
	b = binary.AppendVarint(b, p.store.Meta().NextOffset)
	b = binary.AppendVarint(b, p.nextUE)
	appendBlob := func(data []byte) {
		b = binary.AppendUvarint(b, uint64(len(data)))
		b = append(b, data...)
	}
	for _, f := range []interface{ MarshalBinary() ([]byte, error) }{p.dedupTxn, p.dedupUE} {
		data, err := f.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("failed to snapshot dedup filter: %w", err)
		}
		appendBlob(data)
	}
	var aggData []byte
	if p.agg != nil {
		var err error
		if aggData, err = p.agg.MarshalBinary(); err != nil {
			return nil, fmt.Errorf("failed to snapshot KPI aggregator: %w", err)
		}
	}
	appendBlob(aggData)
	// Fraud states are changelog records of their own (fraudlog.go); the
	// count stays in the layout for snapshots that still carry them.
	b = binary.AppendUvarint(b, 0)
	// Added after the first release of the format: a snapshot that ends
	// here was written before feedback was consumed (offset 0).
	b = binary.AppendVarint(b, p.nextFB)
	// Added with retention requests: a snapshot that ends here was written
	// before the control topic was consumed (offset 0).
	b = binary.AppendVarint(b, p.nextCtl)
	// Added with the lake sink: the staged lake files (lake.go); a
	// snapshot that ends before it has none.
	lakeData, err := p.lake.encode()
	if err != nil {
		return nil, err
	}
	appendBlob(lakeData)
	return b, nil
}

// decodeSnapshot restores the non-Store state into p (built by newPartition).
func decodeSnapshot(p *partition, b []byte) error {
	r := bytes.NewReader(b)
	fail := errors.New("truncated snapshot")
	ver, err := r.ReadByte()
	if err != nil || ver != snapVersion {
		return fmt.Errorf("unsupported snapshot version %d", ver)
	}
	if _, err := binary.ReadVarint(r); err != nil { // transactions offset, checked by the caller
		return fail
	}
	if p.nextUE, err = binary.ReadVarint(r); err != nil {
		return fail
	}
	blob := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return nil, fail
		}
		out := make([]byte, n)
		_, _ = r.Read(out)
		return out, nil
	}
	for _, f := range []interface{ UnmarshalBinary([]byte) error }{p.dedupTxn, p.dedupUE} {
		data, err := blob()
		if err != nil {
			return err
		}
		if err := f.UnmarshalBinary(data); err != nil {
			return fmt.Errorf("failed to restore dedup filter: %w", err)
		}
	}
	aggData, err := blob()
	if err != nil {
		return err
	}
	if p.agg != nil && len(aggData) > 0 {
		if err := p.agg.UnmarshalBinary(aggData); err != nil && !errors.Is(err, kpi.ErrConfigChanged) {
			return fmt.Errorf("failed to restore KPI aggregator: %w", err)
		}
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return fail
	}
	for range n {
		name, err := blob()
		if err != nil {
			return err
		}
		data, err := blob()
		if err != nil {
			return err
		}
		if err := p.fraudState(string(name)).UnmarshalBinary(data); err != nil {
			return fmt.Errorf("failed to restore fraud state %q: %w", name, err)
		}
	}
	if r.Len() > 0 {
		if p.nextFB, err = binary.ReadVarint(r); err != nil {
			return fail
		}
	}
	if r.Len() > 0 {
		if p.nextCtl, err = binary.ReadVarint(r); err != nil {
			return fail
		}
	}
	if r.Len() > 0 {
		data, err := blob()
		if err != nil {
			return err
		}
		if err := p.lake.decode(data); err != nil {
			return err
		}
	}
	return nil
}

// chunk header: version, seq, next offset, index, count, blob CRC.
func snapshotChunks(topic string, p *partition, blob []byte) []kafka.Message {
	n := (len(blob) + maxChunkSize - 1) / maxChunkSize
	if n == 0 {
		n = 1
	}
	crc := crc32.ChecksumIEEE(blob)
	next := p.store.Meta().NextOffset
	msgs := make([]kafka.Message, 0, n+1)
	for i := range n {
		lo, hi := i*maxChunkSize, min((i+1)*maxChunkSize, len(blob))
		v := []byte{snapVersion}
		v = binary.AppendUvarint(v, p.snapSeq)
		v = binary.AppendVarint(v, next)
		v = binary.AppendUvarint(v, uint64(i))
		v = binary.AppendUvarint(v, uint64(n))
		v = binary.BigEndian.AppendUint32(v, crc)
		v = append(v, blob[lo:hi]...)
		msgs = append(msgs, kafka.Message{Key: snapKey(topic, p.id, p.snapSlot, i), Value: v})
	}
	// Tombstone chunks left over from a larger snapshot in this slot.
	for i := n; i < p.snapCount[p.snapSlot]; i++ {
		msgs = append(msgs, kafka.Message{Key: snapKey(topic, p.id, p.snapSlot, i)})
	}
	return msgs
}

type snapChunk struct {
	seq   uint64
	next  int64
	index int
	count int
	crc   uint32
	data  []byte
}

func parseChunk(v []byte) (snapChunk, bool) {
	r := bytes.NewReader(v)
	var c snapChunk
	ver, err := r.ReadByte()
	if err != nil || ver != snapVersion {
		return c, false
	}
	seq, err1 := binary.ReadUvarint(r)
	c.seq = seq
	next, err2 := binary.ReadVarint(r)
	index, err3 := binary.ReadUvarint(r)
	count, err4 := binary.ReadUvarint(r)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || r.Len() < 4 || count == 0 || index >= count || count > 1<<20 {
		return c, false
	}
	var crc [4]byte
	_, _ = r.Read(crc[:])
	c.next, c.index, c.count, c.crc = next, int(index), int(count), binary.BigEndian.Uint32(crc[:])
	c.data = v[len(v)-r.Len():]
	return c, true
}

// restoreCollector gathers one changelog partition's records: customer and
// marker records go to the state Restorer, snapshot chunks are kept per slot
// (latest sequence only).
type restoreCollector struct {
	topic    string
	part     int32
	restorer *state.Restorer
	slots    [2]map[int]snapChunk
	seq      [2]uint64
	fraud    fraudRestore
	bytes    int64
	records  int
	errors   int
	fences   map[string]int64 // erasure fences (control_fence.go)
}

func newRestoreCollector(topic string, part int32) *restoreCollector {
	return &restoreCollector{topic: topic, part: part, restorer: state.NewRestorer(topic, part),
		slots: [2]map[int]snapChunk{{}, {}}, fences: map[string]int64{}}
}

func (rc *restoreCollector) add(key, value []byte) error {
	rc.records++
	rc.bytes += int64(len(key) + len(value))
	if slot, chunk, ok := parseSnapKey(key, rc.topic, rc.part); ok {
		if value == nil {
			delete(rc.slots[slot], chunk)
			return nil
		}
		c, ok := parseChunk(value)
		if !ok {
			rc.errors++
			return nil
		}
		if c.seq > rc.seq[slot] {
			rc.seq[slot] = c.seq
			rc.slots[slot] = map[int]snapChunk{}
		}
		if c.seq == rc.seq[slot] {
			rc.slots[slot][chunk] = c
		}
		return nil
	}
	if bytes.HasPrefix(key, []byte(snapPrefix)) {
		return nil // another partition's snapshot
	}
	if slot, set, entry, ok := parseFraudKey(key, rc.topic, rc.part); ok {
		rc.fraud.add(slot, set, entry, value)
		return nil
	}
	if bytes.HasPrefix(key, []byte(fraudPrefix)) {
		return nil // another partition's fraud state
	}
	if at, isFence, ok := parseFence(key, value, rc.topic, rc.part); isFence {
		switch {
		case !ok:
		case at < 0:
			delete(rc.fences, string(key))
		default:
			rc.fences[string(key)] = at
		}
		return nil
	}
	if err := rc.restorer.Add(key, value); err != nil {
		if errors.Is(err, state.ErrForeignMarker) {
			return err
		}
		rc.errors++ // an undecodable customer record changes nothing
	}
	return nil
}

// snapshot returns the complete snapshot of the higher sequence whose offset
// equals next, with its slot and sequence.
func (rc *restoreCollector) snapshot(next int64) (blob []byte, slot int, seq uint64, ok bool) {
	best := -1
	for s := range 2 {
		chunks := rc.slots[s]
		if len(chunks) == 0 {
			continue
		}
		var first snapChunk
		for _, c := range chunks {
			first = c
			break
		}
		if first.next != next || len(chunks) != first.count {
			continue
		}
		var buf []byte
		complete := true
		for i := range first.count {
			c, found := chunks[i]
			if !found || c.seq != first.seq || c.next != next || c.count != first.count || c.crc != first.crc {
				complete = false
				break
			}
			buf = append(buf, c.data...)
		}
		if !complete || crc32.ChecksumIEEE(buf) != first.crc {
			continue
		}
		if best < 0 || first.seq > seq {
			best, blob, seq = s, buf, first.seq
		}
	}
	return blob, best, seq, best >= 0
}
