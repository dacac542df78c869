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
// receive: (rule set, entry key) -> bit 1<<slot for each slot missing it.
type fraudPending map[fraudEntry]uint8

type fraudEntry struct {
	set string
	ref fraud.EntryRef
}

func (f *fraudPending) add(slots uint8, set string, ref fraud.EntryRef) {
	if *f == nil {
		*f = fraudPending{}
	}
	(*f)[fraudEntry{set, ref}] |= slots
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

// fraudRecords takes the fraud states' changes and returns the records
// that bring slot up to date: every entry changed since the slot's last
// complete checkpoint, with its current value or a tombstone. The changes
// also become pending for the other slot. A successful write clears the
// slot's pending entries (fraudWritten); after a failed one they stay, so
// the next checkpoint into the slot rewrites whatever the failed one may
// have left half done. Record order does not matter: each key appears once.
func (p *partition) fraudRecords(topic string, slot int) []kafka.Message {
	for n, st := range p.fraud {
		st.TakeChanges(func(r fraud.EntryRef) { p.fraudPending.add(3, n, r) })
	}
	prefix := fraudKeyPrefix(topic, p.id) + strconv.Itoa(slot) + "/"
	bit := uint8(1) << slot
	n := 0
	for _, slots := range p.fraudPending {
		if slots&bit != 0 {
			n++
		}
	}
	// Keys and values live in two buffers shared by every record of the
	// checkpoint: two allocations (and their growth) instead of two per
	// record. Records are sliced out once the buffers stop moving.
	type span struct{ k0, k1, v0, v1 int }
	spans := make([]span, 0, n)
	// Sized from the previous checkpoint's bytes per record, so that the
	// buffers do not grow (and copy) several times over.
	keys := make([]byte, 0, n*max(p.fraudKeyBytes, len(prefix)+24)*9/8)
	values := make([]byte, 0, n*max(p.fraudValueBytes, 32)*9/8)
	for e, slots := range p.fraudPending {
		if slots&bit == 0 {
			continue
		}
		var sp span
		sp.k0 = len(keys)
		keys = append(append(append(keys, prefix...), e.set...), '/')
		keys = e.ref.AppendKey(keys)
		sp.k1 = len(keys)
		sp.v0, sp.v1 = -1, -1
		if st := p.fraud[e.set]; st != nil {
			start := len(values)
			var ok bool
			if values, ok = st.AppendRecord(values, e.ref); ok {
				sp.v0, sp.v1 = start, len(values)
			}
		}
		spans = append(spans, sp)
	}
	if len(spans) > 0 {
		p.fraudKeyBytes, p.fraudValueBytes = len(keys)/len(spans)+1, len(values)/len(spans)+1
	}
	msgs := make([]kafka.Message, len(spans))
	for i, sp := range spans {
		msgs[i].Key = keys[sp.k0:sp.k1:sp.k1]
		if sp.v0 >= 0 {
			msgs[i].Value = values[sp.v0:sp.v1:sp.v1]
		}
	}
	return msgs
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
	for e, slots := range p.fraudPending {
		if slots &^= bit; slots == 0 {
			delete(p.fraudPending, e)
		} else {
			p.fraudPending[e] = slots
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

func newFraudState() *fraud.State {
	return fraud.NewState(fraud.StateConfig{TrackChanges: true})
}
