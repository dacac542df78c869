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

// fraudBook tracks which fraud entries each changelog slot has yet to
// receive. An entry about to change is noted for both slots (the fraud
// state's hooks call beforeFraudChange, beforeFraudCreate and
// beforeFraudRemove at its first change after each checkpoint, and at its
// creation and removal), which appends it to each slot's list unless it is
// listed already. A checkpoint into a slot takes that slot's list as it
// is: nothing at the checkpoint visits the changed entries, which is what
// kept the partition waiting before (a map merge and a scan of every
// pending entry, tens of milliseconds at a high rate of change).
//
// Lists have generations: an entry is in the list of generation
// Listed[slot] of its fraud.Mark, and a checkpoint captures one generation
// of one slot. Once that checkpoint is durable the generation is the
// slot's durable one. A failed checkpoint lists its entries again.
//
// The Mark of an entry the state holds is kept in the entry itself
// (fraud.StateConfig hands it to the hooks), so noting a change costs a
// couple of compares and, at most, two appends. Only entries the state no
// longer holds (removed since, or known only by a key a slot holds) keep
// their Mark in the book, as tombstones; those whose generations are
// durable in both slots leave it, a few at a time (sweep).
//
// The lists are chunked (fraudList), and the chunks of a list that its
// checkpoint and the sweep are done with are reused by the lists filled
// next: as many as the two slots' latest checkpoints took (spareMax), at
// most maxSpareFraudChunks.
type fraudBook struct {
	tombs   map[fraudEntry]*fraud.Mark // marks of entries the state does not hold
	gen     [2]uint32                  // generation of each slot's list being filled; from 1
	list    [2]fraudList               // the entries of those lists
	durable [2]uint32                  // generation of each slot's last durable checkpoint
	taken   [2]takenList               // the list each slot's latest checkpoint took
	cleanup []cleanupList              // lists of durable checkpoints still to sweep

	spare     []*fraudChunk // cleared chunks for the lists being filled
	spareMax  int           // the most chunks spare keeps
	takenSize [2]int        // chunks of each slot's latest taken list
}

// maxSpareFraudChunks bounds the spare chunks of a fraudBook: 640 KiB,
// 16,384 entries, what a partition changes in a checkpoint interval at a
// few thousand events per second. A busier one allocates the rest, as its
// lists grow; kept without a bound, the chunks of the first checkpoints
// after a restore or a burst (every entry listed) would stay with the
// partition (290 bytes per customer in partition_state_bytes_per_customer).
const maxSpareFraudChunks = 32

type takenList struct {
	gen  uint32
	todo fraudList
}

// cleanupList is a list of a durable checkpoint that sweep has yet to go
// through from next on. free tells that no capture reads it any more, so
// that its chunks can be reused once it is swept.
type cleanupList struct {
	list fraudList
	next int
	free bool
}

type fraudEntry struct {
	set string
	ref fraud.EntryRef
}

// fraudMark returns e's Mark: the one in the state's entry, or else its
// tombstone, made (zero) if there is none.
func (p *partition) fraudMark(e fraudEntry) *fraud.Mark {
	if st := p.fraud[e.set]; st != nil {
		if m := st.Mark(e.ref); m != nil {
			return m
		}
	}
	return p.fraudBook.tomb(e)
}

// tomb returns e's tombstone, made (zero) if there is none; a new one keeps
// a copy of e's ID, which may be part of a decoded event's record.
func (b *fraudBook) tomb(e fraudEntry) *fraud.Mark {
	if m := b.tombs[e]; m != nil {
		return m
	}
	if b.tombs == nil {
		b.tombs = map[fraudEntry]*fraud.Mark{}
	}
	e.ref = e.ref.Clone()
	m := new(fraud.Mark)
	b.tombs[e] = m
	return m
}

// noteFraud lists e for the slots in slots (bit 1<<slot each) that do not
// list it yet.
func (p *partition) noteFraud(slots uint8, e fraudEntry) {
	p.fraudBook.note(slots, e, p.fraudMark(e), false)
}

// note lists e, whose Mark is m, for the slots in slots that do not list it
// yet. owned tells that e's ID is not part of a decoded event's record, so
// it need not be copied to be kept.
func (b *fraudBook) note(slots uint8, e fraudEntry, m *fraud.Mark, owned bool) {
	b.start()
	add := uint8(0)
	for s := range 2 {
		if slots&(1<<s) != 0 && m.Listed[s] != b.gen[s] {
			add |= 1 << s
		}
	}
	if add == 0 {
		return
	}
	// The lists keep the key: not an ID that shares a decoded event's
	// whole record.
	if !owned {
		e.ref = e.ref.Clone()
	}
	for s := range 2 {
		if add&(1<<s) != 0 {
			m.Listed[s] = b.gen[s]
			b.list[s].add(e, &b.spare)
		}
	}
}

// start makes generations begin at 1: a zero listed generation means
// never listed.
func (b *fraudBook) start() {
	if b.gen == [2]uint32{} {
		b.gen = [2]uint32{1, 1}
	}
}

// pending reports whether a slot has entries to receive.
func (b *fraudBook) pending() bool { return b.list[0].len() > 0 || b.list[1].len() > 0 }

// take returns the list of slot for a checkpoint, and its generation. The
// spare chunks are capped at what the two slots' latest lists took: the
// size of the lists of the last intervals.
func (b *fraudBook) take(slot int) (fraudList, uint32) {
	b.start()
	todo, gen := b.list[slot], b.gen[slot]
	b.list[slot] = fraudList{}
	b.gen[slot]++
	b.taken[slot] = takenList{gen, todo}
	b.takenSize[slot] = len(todo.chunks)
	b.spareMax = min(b.takenSize[0]+b.takenSize[1], maxSpareFraudChunks)
	if len(b.spare) > b.spareMax {
		clear(b.spare[b.spareMax:])
		b.spare = b.spare[:b.spareMax]
	}
	return todo, gen
}

// written records that the checkpoint that took slot's latest list is
// durable. free tells that no capture reads that list any more.
func (b *fraudBook) written(slot int, free bool) {
	t := b.taken[slot]
	b.durable[slot] = max(b.durable[slot], t.gen)
	if t.todo.len() > 0 {
		b.cleanup = append(b.cleanup, cleanupList{list: t.todo, free: free})
	}
	b.taken[slot] = takenList{}
}

// capturing reports whether the capture in flight, if any, is the one that
// took slot's list of generation gen: it reads that list until it finishes.
func (p *partition) capturing(slot int, gen uint32) bool {
	c := p.capture
	return c != nil && c.slot == slot && c.gen == gen
}

// fraudFailed lists again, for slot, the entries of its latest checkpoint,
// which was not written.
func (p *partition) fraudFailed(slot int) {
	b := &p.fraudBook
	t := b.taken[slot]
	for i := range t.todo.len() {
		e := t.todo.at(i)
		if m := p.fraudMark(e); m.Listed[slot] == t.gen {
			m.Listed[slot] = b.gen[slot]
			b.list[slot].add(e, &b.spare)
		}
	}
	b.taken[slot] = takenList{}
	if !p.capturing(slot, t.gen) {
		b.recycle(&t.todo)
	}
}

// sweep drops up to n tombstones of entries of durable checkpoints that no
// slot lists any more; it reports whether some are left to look at.
func (b *fraudBook) sweep(n int) bool {
	for n > 0 && len(b.cleanup) > 0 {
		c := &b.cleanup[0]
		k := min(n, c.list.len()-c.next)
		if len(b.tombs) > 0 {
			for i := c.next; i < c.next+k; i++ {
				e := c.list.at(i)
				if m := b.tombs[e]; m != nil && m.Listed[0] <= b.durable[0] && m.Listed[1] <= b.durable[1] {
					delete(b.tombs, e)
				}
			}
		}
		n -= k
		c.next += k
		if c.next == c.list.len() {
			if c.free {
				b.recycle(&c.list)
			}
			b.cleanup[0] = cleanupList{}
			b.cleanup = b.cleanup[1:]
		}
	}
	if len(b.cleanup) == 0 {
		b.cleanup = nil
	}
	return len(b.cleanup) > 0
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
// partition goes on processing: a few hundred at a time by the partition's
// own goroutine between batches (step, from Engine.advanceCapture), and,
// copy-on-write, just before the partition changes, creates or removes an
// entry the capture has not encoded yet (captureEarly, from the hooks
// fraud.State calls before an entry's first change after the capture
// started, and before it creates or removes one). Either way a record holds the value the entry had when the
// checkpoint was taken. Record order does not matter: each key appears
// once.
type fraudCapture struct {
	seq    uint32 // marks, in the fraudBook, the entries this capture encoded
	slot   int
	gen    uint32 // of the slot's list it took
	prefix string
	todo   fraudList // the slot's pending entries when the checkpoint was taken
	next   int       // todo[:next] are encoded
	early  int       // entries encoded before a change (captureEarly)
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

// fraudCaptureStep is the records (and the fraudBook entries swept) per
// step of advanceCapture, which checks its time budget between steps:
// about half a millisecond of encoding.
const fraudCaptureStep = 256

// startFraudCapture starts the capture of the records that bring slot up
// to date: the slot's list in the fraudBook, every entry changed since the
// slot's last complete checkpoint. A successful write makes it the slot's
// durable generation (fraudWritten); a failed one lists its entries again,
// so the next checkpoint into the slot rewrites whatever the failed one may
// have left half done.
func (p *partition) startFraudCapture(topic string, slot int) *fraudCapture {
	// A new epoch: the states call BeforeChange again at the first change
	// of each entry from now on, when it is to be encoded before it changes
	// and listed for the next checkpoints.
	for _, st := range p.fraud {
		st.TakeChanges(func(fraud.EntryRef) {})
	}
	p.captureSeq++
	c := &fraudCapture{seq: p.captureSeq, slot: slot, prefix: fraudKeyPrefix(topic, p.id) + strconv.Itoa(slot) + "/"}
	c.todo, c.gen = p.fraudBook.take(slot)
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
	for ; c.next < c.todo.len() && n > 0; c.next++ {
		e := c.todo.at(c.next)
		m := p.fraudMark(e)
		if m.Captured == c.seq {
			continue // encoded before a change (or listed twice)
		}
		c.encode(p, e)
		m.Captured = c.seq
		n--
	}
	return c.next == c.todo.len()
}

// finish encodes what is left and returns the records, in chunks. The
// caller holds the partition lock.
func (c *fraudCapture) finish(p *partition) [][]kafka.Message {
	c.step(p, c.todo.len())
	if p.capture == c {
		p.capture = nil
	}
	msgs := c.msgs
	c.todo, c.msgs, c.keys, c.values = fraudList{}, nil, nil, nil
	return msgs
}

// beforeFraudChange is fraud.StateConfig.BeforeChange for rule set set,
// called before an entry, whose Mark is m, changes for the first time
// since the last checkpoint started: an entry the capture in flight has
// yet to encode is encoded first, with the value the checkpoint covers, and
// the entry is listed for the next checkpoint into each slot.
func (p *partition) beforeFraudChange(set string, r fraud.EntryRef, m *fraud.Mark) {
	e := fraudEntry{set, r}
	p.captureEarly(e, m)
	p.fraudBook.note(3, e, m, false)
}

// captureEarly encodes e, whose Mark is m, for the capture in flight, if
// that capture's list holds e and e is not encoded yet.
func (p *partition) captureEarly(e fraudEntry, m *fraud.Mark) {
	if c := p.capture; c != nil && m.Listed[c.slot] == c.gen && m.Captured != c.seq {
		c.encode(p, e)
		c.early++
		m.Captured = c.seq
	}
}

// beforeFraudCreate is fraud.StateConfig.BeforeCreate for rule set set: an
// entry about to be created under r, with the state's own ID (which the
// book may keep as it is) and a zero Mark m.
func (p *partition) beforeFraudCreate(set string, r fraud.EntryRef, m *fraud.Mark) {
	b := &p.fraudBook
	e := fraudEntry{set, r}
	if p.capture != nil {
		// The key may be a tombstone the capture in flight has to encode
		// (an entry removed, then the checkpoint taken): its Mark moves
		// into the new entry.
		if t := b.tombs[e]; t != nil {
			*m = *t
			delete(b.tombs, e)
		}
		p.captureEarly(e, m)
	}
	// With no capture in flight, the book may still hold a tombstone of
	// the key (an entry removed since the slots last took their lists),
	// but only to say which lists hold it, and listing the new entry in
	// both lists being filled supersedes that: the entry's own Mark is
	// what every later look-up finds. A key listed twice is encoded once
	// (step skips what its capture encoded, fraudFailed lists again only
	// what the Mark says the failed list holds). So creations, most of the
	// book's work, skip the lookup.
	b.note(3, e, m, true)
}

// beforeFraudRemove is fraud.StateConfig.BeforeRemove for rule set set: the
// entry is noted as for a change, and its Mark stays in the book as a
// tombstone. r's ID is the state's own, which the book may keep.
func (p *partition) beforeFraudRemove(set string, r fraud.EntryRef, m *fraud.Mark) {
	b := &p.fraudBook
	e := fraudEntry{set, r}
	p.captureEarly(e, m)
	b.note(3, e, m, true)
	b.setTomb(e, *m)
}

// setTomb makes m the Mark of e's tombstone, with e's ID the state's own:
// one map assignment, where looking the tombstone up (tomb) and then
// storing m into it took two. A tombstone e already had is replaced, not
// updated, which is the same: the book hands out Marks of tombstones only
// for the length of one call (fraudMark), none is held while an entry is
// removed.
func (b *fraudBook) setTomb(e fraudEntry, m fraud.Mark) {
	if b.tombs == nil {
		b.tombs = map[fraudEntry]*fraud.Mark{}
	}
	t := new(fraud.Mark)
	*t = m
	b.tombs[e] = t
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
	b := &p.fraudBook
	b.written(slot, !p.capturing(slot, b.taken[slot].gen))
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
			st.Keys(func(r fraud.EntryRef) { p.noteFraud(bit, fraudEntry{n, r}) })
		}
		// What the slot holds beyond the state (left by a checkpoint cut
		// short, or gone since) gets a tombstone.
		for k := range r.slots[s] {
			if ref, ok := fraud.ParseEntryKey(k.entry); ok {
				p.noteFraud(bit, fraudEntry{k.set, ref})
			}
		}
	}
}

// fraudState returns the fraud state of rule set name, created empty if
// there is none.
func (p *partition) fraudState(name string) *fraud.State {
	st := p.fraud[name]
	if st == nil {
		// Changes are listed by the hook (fraudBook), not by the state.
		st = fraud.NewState(fraud.StateConfig{
			BeforeChange: func(r fraud.EntryRef, m *fraud.Mark) { p.beforeFraudChange(name, r, m) },
			BeforeCreate: func(r fraud.EntryRef, m *fraud.Mark) { p.beforeFraudCreate(name, r, m) },
			BeforeRemove: func(r fraud.EntryRef, m *fraud.Mark) { p.beforeFraudRemove(name, r, m) },
		})
		p.fraud[name] = st
	}
	return st
}
