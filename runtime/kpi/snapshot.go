package kpi

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Snapshot layout, version 2 (varint = signed, uvarint = unsigned LEB128;
// str = uvarint length + bytes):
//
//	"ekpi" 0x02
//	str   configuration fingerprint
//	byte  1 if an event was seen; varint largest event time (ns)
//	per window definition: uvarint late, uvarint partially late
//	per dimension: uvarint folded, uvarint n, n * str admitted values
//	per window definition:
//	    varint closed end (ns)
//	    uvarint panes, each a state
//	    uvarint late-order entries, each varint window start,
//	        varint dimension (-1 = all), uvarint slot, varint orders
//	uvarint closed windows not yet emitted, each uvarint window definition
//	    and a state
//	state: varint start (ns), measures of "all",
//	    per dimension: uvarint n, n * (uvarint slot, measures)
//	measures: varint revenue, margin, orders, units, late orders;
//	          customer set (see customerSet.appendBinary)
//
// Version 1 kept whole windows instead of panes; it cannot be split into
// panes, so its open windows are dropped like those of another
// configuration (ErrConfigChanged).
const (
	snapshotMagic   = "ekpi"
	snapshotVersion = 2
)

// ErrConfigChanged is returned by UnmarshalBinary when the snapshot was
// taken with another configuration or an older layout; the caller starts
// from empty state.
var ErrConfigChanged = errors.New("kpi snapshot was taken with another configuration")

// MarshalBinary encodes a's whole state: open panes and closed windows not
// yet emitted, with their sketches, admitted dimension values, counters and
// the watermark.
func (a *Aggregator) MarshalBinary() ([]byte, error) {
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = appendString(b, a.cfg.fingerprint())
	if a.seen {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, a.maxEvent)
	for i := range a.sets {
		b = binary.AppendUvarint(b, a.sets[i].late)
		b = binary.AppendUvarint(b, a.sets[i].partial)
	}
	for i := range a.registry {
		r := &a.registry[i]
		b = binary.AppendUvarint(b, r.folded)
		b = binary.AppendUvarint(b, uint64(len(r.values)))
		for _, v := range r.values {
			b = appendString(b, v)
		}
	}
	var err error
	for i := range a.sets {
		ws := &a.sets[i]
		b = binary.AppendVarint(b, ws.closedEnd)
		starts := make([]int64, 0, len(ws.panes))
		for s := range ws.panes {
			starts = append(starts, s)
		}
		slices.Sort(starts)
		b = binary.AppendUvarint(b, uint64(len(starts)))
		for _, s := range starts {
			if b, err = a.appendState(b, ws.panes[s]); err != nil {
				return nil, err
			}
		}
		keys := make([]lateKey, 0, len(ws.lateOrders))
		for k := range ws.lateOrders {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y lateKey) int {
			return cmp.Or(cmp.Compare(x.start, y.start), cmp.Compare(x.dim, y.dim), cmp.Compare(x.slot, y.slot))
		})
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = binary.AppendVarint(b, k.start)
			b = binary.AppendVarint(b, int64(k.dim))
			b = binary.AppendUvarint(b, uint64(k.slot))
			b = binary.AppendVarint(b, ws.lateOrders[k])
		}
	}
	b = binary.AppendUvarint(b, uint64(len(a.closed)))
	for _, c := range a.closed {
		b = binary.AppendUvarint(b, uint64(c.set))
		if b, err = a.appendState(b, c.st); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (a *Aggregator) appendState(b []byte, st *windowState) ([]byte, error) {
	b = binary.AppendVarint(b, st.start)
	b, err := appendMeasures(b, &st.all)
	if err != nil {
		return nil, err
	}
	for j := range a.registry {
		var g []*measures
		if st.groups != nil {
			g = st.groups[j]
		}
		n := 0
		for _, m := range g {
			if m != nil {
				n++
			}
		}
		b = binary.AppendUvarint(b, uint64(n))
		for slot, m := range g {
			if m == nil {
				continue
			}
			b = binary.AppendUvarint(b, uint64(slot))
			if b, err = appendMeasures(b, m); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

func appendMeasures(b []byte, m *measures) ([]byte, error) {
	b = binary.AppendVarint(b, m.revenue)
	b = binary.AppendVarint(b, m.margin)
	b = binary.AppendVarint(b, m.orders)
	b = binary.AppendVarint(b, m.units)
	b = binary.AppendVarint(b, m.lateOrders)
	return m.customers.appendBinary(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary replaces a's state with a snapshot taken by MarshalBinary
// of an Aggregator with the same Config. It returns ErrConfigChanged for a
// snapshot of another configuration and leaves a unchanged on any error.
func (a *Aggregator) UnmarshalBinary(data []byte) error {
	fresh, err := NewAggregator(a.cfg)
	if err != nil {
		return err
	}
	if err := fresh.decode(data); err != nil {
		return fmt.Errorf("failed to decode kpi snapshot: %w", err)
	}
	*a = *fresh
	return nil
}

func (a *Aggregator) decode(data []byte) error {
	r := reader{buf: data}
	if string(r.bytes(len(snapshotMagic))) != snapshotMagic {
		return errors.New("not a kpi snapshot")
	}
	switch v := r.byte(); {
	case r.err != nil:
		return r.err
	case v == 1:
		return fmt.Errorf("%w: snapshot layout 1 kept whole windows, not panes", ErrConfigChanged)
	case v != snapshotVersion:
		return fmt.Errorf("unsupported snapshot version %d", v)
	}
	if fp := r.string(); r.err == nil && fp != a.cfg.fingerprint() {
		return ErrConfigChanged
	}
	switch r.byte() {
	case 0:
	case 1:
		a.seen = true
	default:
		return errors.New("invalid event-seen flag")
	}
	a.maxEvent = r.varint()
	for i := range a.sets {
		a.sets[i].late = r.uvarint()
		a.sets[i].partial = r.uvarint()
	}
	for i := range a.registry {
		reg := &a.registry[i]
		reg.folded = r.uvarint()
		n := r.count(1)
		if n > a.maxValues {
			return fmt.Errorf("dimension %d: %d values exceed the maximum %d", i, n, a.maxValues)
		}
		for range n {
			v := r.string()
			if r.err != nil {
				return r.err
			}
			if _, dup := reg.slots[v]; dup || v == "" || v == OtherValue {
				return fmt.Errorf("dimension %d: invalid value %q", i, v)
			}
			reg.admit(v)
		}
	}
	for i := range a.sets {
		ws := &a.sets[i]
		ws.closedEnd = r.varint()
		if r.err == nil && ws.closedEnd != math.MinInt64 && ws.closedEnd%ws.advance != 0 {
			return fmt.Errorf("window %s: invalid closed end %d", ws.name, ws.closedEnd)
		}
		n := r.count(2)
		for range n {
			st, err := r.state(a, ws)
			if err != nil {
				return err
			}
			if ws.panes[st.start] != nil || st.start+ws.size <= ws.closedEnd {
				return fmt.Errorf("window %s: invalid pane start %d", ws.name, st.start)
			}
			ws.panes[st.start] = st
			oldest := max(st.start-ws.size+ws.advance, ws.closedEnd-ws.size+ws.advance)
			ws.nextClose = min(ws.nextClose, addSat(oldest+ws.size, a.lateness))
		}
		n = r.count(4)
		for range n {
			k := lateKey{start: r.varint()}
			dim := r.varint()
			slot := r.uvarint()
			orders := r.varint()
			if r.err != nil {
				return r.err
			}
			if dim < -1 || dim >= int64(len(a.registry)) || slot > uint64(a.maxValues) || k.start%ws.advance != 0 {
				return fmt.Errorf("window %s: invalid late-order entry", ws.name)
			}
			k.dim, k.slot = int32(dim), int32(slot)
			ws.lateOrders[k] = orders
		}
	}
	n := r.count(2)
	for range n {
		set := r.uvarint()
		if r.err != nil {
			return r.err
		}
		if set >= uint64(len(a.sets)) {
			return fmt.Errorf("closed window of unknown definition %d", set)
		}
		st, err := r.state(a, &a.sets[set])
		if err != nil {
			return err
		}
		a.closed = append(a.closed, closedWindow{set: int(set), st: st})
	}
	if r.err != nil {
		return r.err
	}
	if len(r.buf) != 0 {
		return fmt.Errorf("%d trailing bytes", len(r.buf))
	}
	return nil
}

// state reads one pane or window of ws.
func (r *reader) state(a *Aggregator, ws *windowSet) (*windowState, error) {
	s := r.varint()
	if r.err != nil {
		return nil, r.err
	}
	if s%ws.advance != 0 {
		return nil, fmt.Errorf("window %s: invalid start %d", ws.name, s)
	}
	st := &windowState{start: s}
	if err := r.measures(&st.all); err != nil {
		return nil, err
	}
	for j := range a.registry {
		k := r.count(2)
		if k > a.maxValues+1 {
			return nil, fmt.Errorf("window %s: %d series exceed the maximum", ws.name, k)
		}
		for range k {
			slot := r.uvarint()
			if r.err != nil {
				return nil, r.err
			}
			if slot > uint64(a.maxValues) || (slot < uint64(a.maxValues) && slot >= uint64(len(a.registry[j].values))) {
				return nil, fmt.Errorf("window %s: invalid series slot %d", ws.name, slot)
			}
			if st.groups == nil {
				st.groups = make([][]*measures, len(a.registry))
			}
			if st.groups[j] == nil {
				st.groups[j] = make([]*measures, a.maxValues+1)
			}
			if st.groups[j][slot] != nil {
				return nil, fmt.Errorf("window %s: duplicate series slot %d", ws.name, slot)
			}
			m := new(measures)
			if err := r.measures(m); err != nil {
				return nil, err
			}
			st.groups[j][slot] = m
		}
	}
	return st, nil
}

// reader decodes the snapshot; the first error sticks and later reads
// return zero values.
type reader struct {
	buf []byte
	err error
}

var errTruncated = errors.New("truncated snapshot")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.buf = nil
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.buf) {
		r.fail(errTruncated)
		return nil
	}
	b := r.buf[:n]
	r.buf = r.buf[n:]
	return b
}

func (r *reader) byte() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// count reads a count of items taking at least minBytes each, rejecting
// counts the remaining input cannot hold.
func (r *reader) count(minBytes int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.buf)/minBytes) {
		r.fail(errTruncated)
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > math.MaxInt32 {
		r.fail(errTruncated)
		return ""
	}
	return string(r.bytes(int(n)))
}

func (r *reader) measures(m *measures) error {
	m.revenue = r.varint()
	m.margin = r.varint()
	m.orders = r.varint()
	m.units = r.varint()
	m.lateOrders = r.varint()
	if err := r.customerSet(&m.customers); err != nil {
		r.fail(err)
	}
	return r.err
}
