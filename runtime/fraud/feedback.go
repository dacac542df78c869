package fraud

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
)

// Label is an analyst's verdict on an alert.
type Label string

// Labels.
const (
	LabelFraud Label = "fraud"
	LabelLegit Label = "legit"
)

// Feedback labels a published alert, read from the feedback topic.
type Feedback struct {
	AlertID string `json:"alert_id"`
	Label   Label  `json:"label"`
}

// ErrUnknownAlert is returned for feedback on an alert this state does not
// remember: never published by this partition, or forgotten (see
// StateConfig.MaxAlerts and AlertTTL).
var ErrUnknownAlert = errors.New("unknown or expired alert")

// ApplyFeedback applies a label to the alert it names: the merchant's
// confirmed-fraud or confirmed-legit count (and so its risk) and the
// precision counters in stats of every rule the alert hit, enforce and
// shadow. stats may be nil. A second label on the same alert replaces the
// first (an analyst correcting a verdict); repeating a label changes
// nothing, so redelivered feedback is harmless.
func (s *State) ApplyFeedback(fb Feedback, stats *Stats) error {
	var code byte
	switch fb.Label {
	case LabelFraud:
		code = labelFraud
	case LabelLegit:
		code = labelLegit
	default:
		return fmt.Errorf("invalid label %q: want fraud or legit", fb.Label)
	}
	a := s.alerts.get(fb.AlertID)
	if a == nil {
		return fmt.Errorf("feedback for alert %s: %w", fb.AlertID, ErrUnknownAlert)
	}
	if a.label == code {
		return nil
	}
	s.changing(EntryRef{rec: recAlert, id: fb.AlertID}, &a.marks)
	prev := a.label
	a.label = code
	s.relabel(a.rules, prev, code)
	if a.merchant != "" {
		m := s.merchant(a.merchant, a.at)
		adjust(&m.ConfirmedFraud, &m.ConfirmedLegit, prev, code)
	}
	if stats != nil {
		for _, r := range a.rules {
			c := stats.counters(r)
			switch prev {
			case labelFraud:
				c.confirmedFraud.Add(-1)
			case labelLegit:
				c.confirmedLegit.Add(-1)
			}
			if code == labelFraud {
				c.confirmedFraud.Add(1)
			} else {
				c.confirmedLegit.Add(1)
			}
		}
	}
	return nil
}

func adjust(fraud, legit *uint64, prev, next byte) {
	switch prev {
	case labelFraud:
		*fraud = max(*fraud, 1) - 1
	case labelLegit:
		*legit = max(*legit, 1) - 1
	}
	if next == labelFraud {
		*fraud++
	} else {
		*legit++
	}
}

const (
	labelNone byte = iota
	labelFraud
	labelLegit
)

// alertEntry remembers what feedback on one alert must update.
type alertEntry struct {
	rules    []string // rules hit, enforce and shadow
	merchant string
	at       int64 // event time, Unix ns
	label    byte
	seq      uint64 // position in alertLog.order
	id       string // the alert ID it is kept under
	marks
}

// maxAlertRules bounds the rules in a record: a rule set has at most 256.
const maxAlertRules = 256

func (a *alertEntry) marshal(e *encoder) {
	e.byte1(recordVersion)
	e.varint(a.at)
	e.str(a.merchant)
	e.byte1(a.label)
	e.uvarint(uint64(len(a.rules)))
	for _, r := range a.rules {
		e.str(r)
	}
}

func (a *alertEntry) unmarshal(d *decoder) {
	d.version()
	a.at = d.varint()
	a.merchant = d.str()
	a.label = d.byte1()
	if d.err == nil && a.label > labelLegit {
		d.fail(fmt.Errorf("invalid label code %d", a.label))
	}
	n := d.count(maxAlertRules)
	a.rules = make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		a.rules = append(a.rules, d.str())
	}
}

// alertLog is a bounded map from alert ID to alertEntry, forgetting the
// oldest entries first when full and entries past the TTL on Expire.
//
// Entries are kept under a 64-bit key of their ID (alertKey): for the IDs
// AlertID makes, the first 8 bytes of the hash they spell in hex. A map
// with integer keys holds them in place, where a string key is compared
// through its pointer (one more cache miss per look-up in a map of
// 100,000 alerts, and another per key the map moves as it grows), and it
// takes the runtime's fast path for 64-bit keys; the eviction order holds
// no pointers for the garbage collector to scan. Two IDs with one key (a
// chance of about 1 in 10^9 for 100,000 alerts, or an ID made to collide)
// are told apart by the entry's own ID: the one that came second is kept
// by its string, in other.
type alertLog struct {
	entries map[uint64]*alertEntry
	other   map[string]*alertEntry // entries whose key another ID holds
	// otherIDs maps the sequence number of each ref to an entry of other,
	// in order, to its ID, until the ref leaves order.
	otherIDs map[uint64]string
	order    []alertRef // insertion order; refs to replaced or removed entries are skipped
	head     int
	seq      uint64
}

// alertRef is an entry of the eviction order: the key of an entry of
// entries, or, with other set, an entry of other, whose ID otherIDs holds.
type alertRef struct {
	key   uint64
	seq   uint64
	other bool
}

// alertSeed keys the IDs that are not an AlertID's hex.
var alertSeed = maphash.MakeSeed()

// alertKey returns the key of alert id: the first 16 hex digits of an
// AlertID as the 8 bytes they spell, a hash of any other ID.
func alertKey(id string) uint64 {
	if len(id) >= 16 {
		var k uint64
		for i := range 16 {
			d := hexDigit(id[i])
			if d > 15 {
				return maphash.String(alertSeed, id)
			}
			k = k<<4 | uint64(d)
		}
		return k
	}
	return maphash.String(alertSeed, id)
}

// hexDigit is the value of a lower-case hex digit, 255 for anything else.
func hexDigit(c byte) byte { return hexDigits[c] }

var hexDigits = func() (t [256]byte) {
	for i := range t {
		t[i] = 255
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

func newAlertLog() alertLog {
	return alertLog{entries: make(map[uint64]*alertEntry)}
}

// get returns the entry of alert id, nil if there is none.
func (l *alertLog) get(id string) *alertEntry {
	if a := l.entries[alertKey(id)]; a != nil && a.id == id {
		return a
	}
	if len(l.other) == 0 {
		return nil
	}
	return l.other[id]
}

// len is the number of entries.
func (l *alertLog) len() int { return len(l.entries) + len(l.other) }

// ids returns every alert ID held, in no particular order.
func (l *alertLog) ids() []string {
	out := make([]string, 0, l.len())
	for _, a := range l.entries {
		out = append(out, a.id)
	}
	for id := range l.other {
		out = append(out, id)
	}
	return out
}

// live returns the entry r refers to if it is still the one held, nil if
// it was replaced or removed since.
func (l *alertLog) live(r alertRef) *alertEntry {
	var a *alertEntry
	if r.other {
		a = l.other[l.otherIDs[r.seq]]
	} else {
		a = l.entries[r.key]
	}
	if a == nil || a.seq != r.seq {
		return nil
	}
	return a
}

// delete removes the entry r refers to, a live one.
func (l *alertLog) delete(r alertRef) {
	if r.other {
		delete(l.other, l.otherIDs[r.seq])
	} else {
		delete(l.entries, r.key)
	}
}

// pop drops the oldest ref of the eviction order.
func (l *alertLog) pop() {
	if r := l.order[l.head]; r.other {
		delete(l.otherIDs, r.seq)
	}
	l.order[l.head] = alertRef{}
	l.head++
}

// put records an alert under id, which the entry keeps, replacing an entry
// with the same ID (a replayed transaction) but keeping its label.
// Restored entries are not marked for flushing.
func (l *alertLog) put(s *State, id string, a *alertEntry, restored bool) {
	a.id = id
	k := alertKey(id)
	old := l.entries[k]
	inOther := old != nil && old.id != id // the key is another ID's
	if inOther || (old == nil && len(l.other) > 0) {
		// Kept in other already (its key was another ID's then): it
		// stays there.
		old = l.other[id]
		inOther = inOther || old != nil
	}
	if old != nil && a.label == labelNone {
		a.label = old.label
	}
	if !restored {
		if old != nil {
			s.changing(EntryRef{rec: recAlert, id: id}, &old.marks)
			a.marks = old.marks
		} else {
			s.creating(EntryRef{rec: recAlert, id: id}, &a.marks) // id is the key kept
		}
	}
	l.seq++
	a.seq = l.seq
	l.push(a, k, inOther)
	for l.len() > s.cfg.MaxAlerts {
		l.evictOldest(s)
	}
	l.compact()
}

// push holds a, a new or replacing entry under key k (in other if k is
// another ID's), and appends its ref to the eviction order.
func (l *alertLog) push(a *alertEntry, k uint64, inOther bool) {
	if !inOther {
		l.entries[k] = a
		l.order = append(l.order, alertRef{key: k, seq: a.seq})
		return
	}
	if l.other == nil {
		l.other = make(map[string]*alertEntry)
		l.otherIDs = make(map[uint64]string)
	}
	l.other[a.id] = a
	l.otherIDs[a.seq] = a.id
	l.order = append(l.order, alertRef{seq: a.seq, other: true})
}

// evictOldest removes the oldest live entry.
func (l *alertLog) evictOldest(s *State) bool {
	for l.head < len(l.order) {
		r := l.order[l.head]
		if a := l.live(r); a != nil {
			s.removing(EntryRef{rec: recAlert, id: a.id}, &a.marks)
			l.delete(r)
			l.pop()
			return true
		}
		l.pop()
	}
	return false
}

// expire removes entries older than the TTL at time now, oldest first.
// Entries are in insertion order, which follows event time closely enough:
// an entry recorded out of order outlives its TTL until those before it go.
func (l *alertLog) expire(s *State, now int64) int {
	limit := float64(now) - float64(s.cfg.AlertTTL)
	n := 0
	for l.head < len(l.order) {
		r := l.order[l.head]
		a := l.live(r)
		if a != nil && float64(a.at) >= limit {
			break
		}
		if a != nil {
			s.removing(EntryRef{rec: recAlert, id: a.id}, &a.marks)
			l.delete(r)
			n++
		}
		l.pop()
	}
	l.compact()
	return n
}

// reorder rebuilds the eviction order by event time, after a snapshot was
// restored in key order.
func (l *alertLog) reorder() {
	all := make([]*alertEntry, 0, l.len())
	for _, a := range l.entries {
		all = append(all, a)
	}
	for _, a := range l.other {
		all = append(all, a)
	}
	slices.SortFunc(all, func(x, y *alertEntry) int {
		return cmp.Or(cmp.Compare(x.at, y.at), cmp.Compare(x.id, y.id))
	})
	clear(l.entries)
	l.other, l.otherIDs = nil, nil
	l.order = l.order[:0]
	l.head = 0
	for _, a := range all {
		l.seq++
		a.seq = l.seq
		k := alertKey(a.id)
		old := l.entries[k]
		l.push(a, k, old != nil && old.id != a.id)
	}
}

// remove drops the entry of alert id, without noting a change (Restore).
func (l *alertLog) remove(id string) {
	k := alertKey(id)
	if a := l.entries[k]; a != nil && a.id == id {
		delete(l.entries, k)
	} else {
		delete(l.other, id)
	}
}

// compact reclaims the consumed front of order.
func (l *alertLog) compact() {
	if l.head > 1024 && l.head > len(l.order)/2 {
		m := copy(l.order, l.order[l.head:])
		clear(l.order[m:])
		l.order = l.order[:m]
		l.head = 0
	}
}
