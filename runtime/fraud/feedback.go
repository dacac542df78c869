package fraud

import (
	"cmp"
	"errors"
	"fmt"
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
	a := s.alerts.entries[fb.AlertID]
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
type alertLog struct {
	entries map[string]*alertEntry
	order   []alertRef // insertion order; refs to replaced or removed entries are skipped
	head    int
	seq     uint64
}

type alertRef struct {
	id  string
	seq uint64
}

// put records an alert, replacing an entry with the same ID (a replayed
// transaction) but keeping its label. Restored entries are not marked for
// flushing.
func (l *alertLog) put(s *State, id string, a *alertEntry, restored bool) {
	old := l.entries[id]
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
	l.entries[id] = a
	l.order = append(l.order, alertRef{id: id, seq: a.seq})
	for len(l.entries) > s.cfg.MaxAlerts {
		l.evictOldest(s)
	}
	l.compact()
}

// evictOldest removes the oldest live entry.
func (l *alertLog) evictOldest(s *State) bool {
	for l.head < len(l.order) {
		r := l.order[l.head]
		l.order[l.head] = alertRef{}
		l.head++
		if a := l.entries[r.id]; a != nil && a.seq == r.seq {
			s.removing(EntryRef{rec: recAlert, id: r.id}, &a.marks)
			delete(l.entries, r.id)
			return true
		}
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
		a := l.entries[r.id]
		live := a != nil && a.seq == r.seq
		if live && float64(a.at) >= limit {
			break
		}
		l.order[l.head] = alertRef{}
		l.head++
		if live {
			s.removing(EntryRef{rec: recAlert, id: r.id}, &a.marks)
			delete(l.entries, r.id)
			n++
		}
	}
	l.compact()
	return n
}

// reorder rebuilds the eviction order by event time, after a snapshot was
// restored in key order.
func (l *alertLog) reorder() {
	l.order = l.order[:0]
	l.head = 0
	for id := range l.entries {
		l.order = append(l.order, alertRef{id: id})
	}
	slices.SortFunc(l.order, func(x, y alertRef) int {
		return cmp.Or(cmp.Compare(l.entries[x.id].at, l.entries[y.id].at), cmp.Compare(x.id, y.id))
	})
	for i := range l.order {
		l.seq++
		l.order[i].seq = l.seq
		l.entries[l.order[i].id].seq = l.seq
	}
}

func (l *alertLog) remove(id string) { delete(l.entries, id) }

// compact reclaims the consumed front of order.
func (l *alertLog) compact() {
	if l.head > 1024 && l.head > len(l.order)/2 {
		m := copy(l.order, l.order[l.head:])
		clear(l.order[m:])
		l.order = l.order[:m]
		l.head = 0
	}
}
