package engine

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/fraud"
)

// Fraud state is checkpointed incrementally: each entry (customer history,
// merchant counters, one entity's velocity windows, an alert awaiting
// feedback, a rule tally) is one changelog record under
//
//	"\x00fraud/<transactions topic>/<partition>/<slot>/<rule set>/<entry key>"
//
// so a checkpoint writes what changed, not the whole state (which a
// snapshot did before: its size grew with every card, device and IP in the
// retention window, and its encoding held up the partition at every
// checkpoint).
//
// The records of a checkpoint must become visible together with its offset
// marker: a checkpoint cut short by a crash must not leave state that
// includes input the restarted owner replays. Like the snapshot chunks,
// the records alternate between two slots, and each slot is kept a complete
// image of the state as of its own latest checkpoint: a checkpoint writes to
// its slot every entry changed since that slot's previous checkpoint (the
// changes of the last two intervals), tombstones included. A restore takes
// the image of the slot whose snapshot matches the marker and ignores the
// other one, which a crash may have left half rewritten. Compaction keeps
// the latest record per key, which in the chosen slot is its value at that
// checkpoint: nothing the marker does not cover is ever read.
//
// After a restore the other slot may hold records of a checkpoint that
// never completed, so the first checkpoint into it rewrites every entry of
// the state and tombstones every other key the slot holds; the same goes
// for both slots after restoring a snapshot that still carried fraud state
// in full (the layout before this one).
const fraudPrefix = "\x00fraud/"

// fraudPending holds the fraud entries each changelog slot has yet to
// receive: (rule set, entry key) -> the slots missing it, and which capture
// (fraudCapture.seq) last encoded it.
type fraudPending map[fraudEntry]pendingEntry

type pendingEntry struct {
	slots    uint8 // bit 1<<slot for each slot missing the entry
	captured uint32
}

type fraudEntry struct {
	set string
	ref fraud.EntryRef
}

func (f *fraudPending) add(slots uint8, set string, ref fraud.EntryRef) {
	if *f == nil {
		*f = fraudPending{}
	}
	v := (*f)[fraudEntry{set, ref}]
	v.slots |= slots
	(*f)[fraudEntry{set, ref}] = v
}

func fraudKeyPrefix(topic string, part int32) string {
	return fraudPrefix + topic + "/" + strconv.Itoa(int(part)) + "/"
}

// parseFraudKey splits a fraud record key of topic/part.
func parseFraudKey(key []byte, topic string, part int32) (slot int, set, entry string, ok bool) {
	rest, found := bytes.CutPrefix(key, []byte(fraudKeyPrefix(topic, part)))
	if !found || len(rest) < 2 || (rest[0] != '0' && rest[0] != '1') || rest[1] != '/' {
		return 0, "", "", false
	}
	set, entry, found = strings.Cut(string(rest[2:]), "/")
	if !found || set == "" || entry == "" {
		return 0, "", "", false
	}
	return int(rest[0] - '0'), set, entry, true
}

// fraudCapture is the fraud part of a checkpoint into one slot: a record
// for every entry changed since the slot's last complete checkpoint, with
// its value, or a tombstone, as of the moment the checkpoint was taken.
//
// Encoding them all at that moment held the partition for tens of
// milliseconds (2 µs a record, tens of thousands of records), and every
// event behind it waited. Instead the records are encoded while the
// partition goes on processing: a few hundred at a time by the checkpoint's
// goroutine (step, under the partition lock), and, copy-on-write, just
// before the partition changes, creates or removes an entry the capture has
// not encoded yet (beforeFraudChange, which fraud.State calls before any
// change). Either way a record holds the value the entry had when the
// checkpoint was taken. Record order does not matter: each key appears
// once.
type fraudCapture struct {
	seq    uint32 // marks, in fraudPending, the entries this capture encoded
	bit    uint8
	prefix string
	todo   []fraudEntry // the slot's pending entries when the checkpoint was taken
	next   int          // todo[:next] are encoded
	early  int          // entries encoded before a change (beforeFraudChange)
	// The records, in chunks of captureChunkRecords, with their keys and
	// values in buffers of captureChunkBytes: nothing is allocated for
	// the whole capture at once under the partition lock (a checkpoint
	// of 20,000 records would allocate and clear megabytes there, and pay
	// the garbage collector's assist for them), and no buffer is copied
	// as it grows. A record keeps the buffer it was encoded into even if a
	// long value moved the buffer on.
	keys, values []byte
	msgs         [][]kafka.Message
}

const (
	captureChunkRecords = 1024
	captureChunkBytes   = 64 << 10
)

// fraudCaptureStep is the records a checkpoint's goroutine encodes per
// hold of the partition lock: about half a millisecond.
const fraudCaptureStep = 256

// startFraudCapture takes the fraud states' changes and starts the capture
// of the records that bring slot up to date: every entry changed since the
// slot's last complete checkpoint. The changes also become pending for the
// other slot. A successful write clears the slot's pending entries
// (fraudWritten); after a failed one they stay, so the next checkpoint into
// the slot rewrites whatever the failed one may have left half done.
func (p *partition) startFraudCapture(topic string, slot int) *fraudCapture {
	for n, st := range p.fraud {
		st.TakeChanges(func(r fraud.EntryRef) { p.fraudPending.add(3, n, r) })
	}
	p.captureSeq++
	c := &fraudCapture{seq: p.captureSeq, bit: 1 << slot, prefix: fraudKeyPrefix(topic, p.id) + strconv.Itoa(slot) + "/"}
	for e, v := range p.fraudPending {
		if v.slots&c.bit != 0 {
			c.todo = append(c.todo, e)
		}
	}
	p.capture = c
	return c
}

// encode appends e's record, with e's current value.
func (c *fraudCapture) encode(p *partition, e fraudEntry) {
	if cap(c.keys)-len(c.keys) < 1<<10 {
		c.keys = make([]byte, 0, captureChunkBytes)
	}
	if cap(c.values)-len(c.values) < 4<<10 {
		c.values = make([]byte, 0, captureChunkBytes)
	}
	k0 := len(c.keys)
	c.keys = append(append(append(c.keys, c.prefix...), e.set...), '/')
	c.keys = e.ref.AppendKey(c.keys)
	m := kafka.Message{Key: c.keys[k0:len(c.keys):len(c.keys)]}
	if st := p.fraud[e.set]; st != nil {
		v0 := len(c.values)
		var ok bool
		if c.values, ok = st.AppendRecord(c.values, e.ref); ok {
			m.Value = c.values[v0:len(c.values):len(c.values)]
		}
	}
	if n := len(c.msgs); n == 0 || len(c.msgs[n-1]) == captureChunkRecords {
		c.msgs = append(c.msgs, make([]kafka.Message, 0, captureChunkRecords))
	}
	last := &c.msgs[len(c.msgs)-1]
	*last = append(*last, m)
}

// step encodes up to n of the entries not encoded yet and reports whether
// none is left. The caller holds the partition lock.
func (c *fraudCapture) step(p *partition, n int) bool {
	for ; c.next < len(c.todo) && n > 0; c.next++ {
		e := c.todo[c.next]
		v := p.fraudPending[e]
		if v.captured == c.seq {
			continue // encoded before a change
		}
		c.encode(p, e)
		v.captured = c.seq
		p.fraudPending[e] = v
		n--
	}
	return c.next == len(c.todo)
}

// finish encodes what is left and returns the records, in chunks. The
// caller holds the partition lock.
func (c *fraudCapture) finish(p *partition) [][]kafka.Message {
	c.step(p, len(c.todo))
	if p.capture == c {
		p.capture = nil
	}
	msgs := c.msgs
	c.todo, c.msgs, c.keys, c.values = nil, nil, nil, nil
	return msgs
}

// beforeFraudChange is fraud.StateConfig.BeforeChange for rule set set: an
// entry of the capture in flight that is about to change is encoded first,
// with the value the checkpoint covers.
func (p *partition) beforeFraudChange(set string, r fraud.EntryRef) {
	c := p.capture
	if c == nil {
		return
	}
	e := fraudEntry{set, r}
	v, ok := p.fraudPending[e]
	if !ok || v.slots&c.bit == 0 || v.captured == c.seq {
		return
	}
	c.encode(p, e)
	c.early++
	v.captured = c.seq
	// Assigning stores the key again: not the ID of the event at hand,
	// which shares that event's whole record.
	e.ref = r.Clone()
	p.fraudPending[e] = v
}

// fraudRecords encodes, at once, the records a checkpoint into slot
// writes (see startFraudCapture).
func (p *partition) fraudRecords(topic string, slot int) []kafka.Message {
	return slices.Concat(p.startFraudCapture(topic, slot).finish(p)...)
}

// slotWritten records that the checkpoint into slot, with live snapshot
// chunks, is durable: the next one goes to the other slot.
func (p *partition) slotWritten(slot, live int) {
	p.snapCount[slot] = live
	p.fraudWritten(slot)
	p.snapSlot, p.snapSeq = 1-slot, p.snapSeq+1
}

// fraudWritten records that slot's checkpoint is durable.
func (p *partition) fraudWritten(slot int) {
	bit := uint8(1) << slot
	for e, v := range p.fraudPending {
		if v.slots &^= bit; v.slots == 0 {
			delete(p.fraudPending, e)
		} else {
			p.fraudPending[e] = v
		}
	}
}

// fraudRestore gathers one changelog partition's fraud records per slot:
// the latest value of each key, undecoded. Only the slot the marker's
// snapshot names is decoded (install), once per entry; an uncompacted
// changelog holds many superseded values per entry, and the other slot's
// entries are needed only by key.
type fraudRestore struct {
	slots  [2]map[fraudEntryKey]rawRecord
	n      int // records seen, for the order of last writes
	errors int
}

type fraudEntryKey struct{ set, entry string }

type rawRecord struct {
	pos   int
	value []byte
}

func (r *fraudRestore) add(slot int, set, entry string, value []byte) {
	if r.slots[slot] == nil {
		r.slots[slot] = map[fraudEntryKey]rawRecord{}
	}
	k := fraudEntryKey{set, entry}
	r.n++
	if value == nil {
		delete(r.slots[slot], k) // a tombstone: the entry is gone
		return
	}
	r.slots[slot][k] = rawRecord{pos: r.n, value: slices.Clone(value)}
}

// install puts the image of slot (the slot of the snapshot that matches the
// marker; -1 when none does) into p, unless legacy: the snapshot carried
// the fraud states in full, which p already holds. Entries are applied in
// the order of their last write, which is the order the alert log keeps
// (the oldest alert is forgotten first). It sets what the next checkpoint
// into each slot must rewrite.
func (r *fraudRestore) install(p *partition, slot int, legacy bool) {
	if slot >= 0 && !legacy {
		type rec struct {
			k fraudEntryKey
			rawRecord
		}
		recs := make([]rec, 0, len(r.slots[slot]))
		for k, v := range r.slots[slot] {
			recs = append(recs, rec{k, v})
		}
		slices.SortFunc(recs, func(x, y rec) int { return x.pos - y.pos })
		for _, x := range recs {
			if err := p.fraudState(x.k.set).Restore(x.k.entry, x.value); err != nil {
				r.errors++
			}
		}
	}
	for s := range 2 {
		if s == slot && !legacy {
			continue // complete as of the marker
		}
		bit := uint8(1) << s
		for n, st := range p.fraud {
			st.Keys(func(r fraud.EntryRef) { p.fraudPending.add(bit, n, r) })
		}
		// What the slot holds beyond the state (left by a checkpoint cut
		// short, or gone since) gets a tombstone.
		for k := range r.slots[s] {
			if ref, ok := fraud.ParseEntryKey(k.entry); ok {
				p.fraudPending.add(bit, k.set, ref)
			}
		}
	}
}

// fraudState returns the fraud state of rule set name, created empty if
// there is none.
func (p *partition) fraudState(name string) *fraud.State {
	st := p.fraud[name]
	if st == nil {
		st = fraud.NewState(fraud.StateConfig{TrackChanges: true,
			BeforeChange: func(r fraud.EntryRef) { p.beforeFraudChange(name, r) }})
		p.fraud[name] = st
	}
	return st
}
