package fraud

import (
	"cmp"
	"slices"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// recRule is the record kind of a rule tally: "r/<rule>".
const recRule = 'r'

// ruleTally counts, in a State, what happened to one rule on the state's
// transactions: hits in each mode, the latest hit, and the analyst labels
// on alerts the rule hit. Unlike Stats, which count what one process saw,
// tallies are part of the checkpointed state: they survive restarts and
// move with the partition, so summing them over the owners of every
// partition gives exact totals.
type ruleTally struct {
	hits, shadowHits               int64
	confirmedFraud, confirmedLegit int64
	lastHit                        int64 // event time, Unix ns
	marks
}

func (t *ruleTally) marshal(e *encoder) {
	e.byte1(recordVersion)
	e.varint(t.hits)
	e.varint(t.shadowHits)
	e.varint(t.confirmedFraud)
	e.varint(t.confirmedLegit)
	e.varint(t.lastHit)
}

func (t *ruleTally) unmarshal(d *decoder) {
	d.version()
	t.hits, t.shadowHits = d.varint(), d.varint()
	t.confirmedFraud, t.confirmedLegit = d.varint(), d.varint()
	t.lastHit = d.varint()
}

func (s *State) tally(rule string) *ruleTally {
	t := s.rules[rule]
	if t == nil {
		t = new(ruleTally)
		s.creating(EntryRef{rec: recRule, id: rule}, &t.marks)
		s.rules[rule] = t
	} else {
		s.changing(EntryRef{rec: recRule, id: rule}, &t.marks)
	}
	return t
}

// hitTally returns the tally of hit h of a decision rs made: looked up by
// rule name once per rule and rule set, then by the hit's rule index.
func (s *State) hitTally(rs *RuleSet, h *Hit) *ruleTally {
	if h.rule >= len(rs.rules) || rs.rules[h.rule].name != h.Rule {
		return s.tally(h.Rule)
	}
	if s.hitTalliesOf != rs {
		s.hitTallies, s.hitTalliesOf = make([]*ruleTally, len(rs.rules)), rs
	}
	if t := s.hitTallies[h.rule]; t != nil {
		s.changing(EntryRef{rec: recRule, id: h.Rule}, &t.marks)
		return t
	}
	t := s.tally(h.Rule)
	s.hitTallies[h.rule] = t
	return t
}

// forgetHitTallies drops hitTally's cache, when a tally is replaced or
// removed.
func (s *State) forgetHitTallies() { s.hitTallies, s.hitTalliesOf = nil, nil }

// countHits adds a published decision's hits, made by rs, to the tallies.
func (s *State) countHits(rs *RuleSet, d *Decision, at int64) {
	for i := range d.Hits {
		h := &d.Hits[i]
		t := s.hitTally(rs, h)
		if h.Mode == v1alpha1.RuleModeShadow {
			t.shadowHits++
		} else {
			t.hits++
		}
		t.lastHit = max(t.lastHit, at)
	}
}

// relabel moves one alert's rules from label prev to next.
func (s *State) relabel(rules []string, prev, next byte) {
	for _, r := range rules {
		t := s.tally(r)
		adjustSigned(&t.confirmedFraud, &t.confirmedLegit, prev, next)
	}
}

func adjustSigned(fraud, legit *int64, prev, next byte) {
	switch prev {
	case labelFraud:
		*fraud--
	case labelLegit:
		*legit--
	}
	switch next {
	case labelFraud:
		*fraud++
	case labelLegit:
		*legit++
	}
}

// RuleTallies returns the state's per-rule counters, sorted by rule name.
// Errors and CostExceeded are not tallied (see Stats).
func (s *State) RuleTallies() []RuleStats {
	out := make([]RuleStats, 0, len(s.rules))
	for name, t := range s.rules {
		r := RuleStats{Rule: name, Hits: t.hits, ShadowHits: t.shadowHits,
			ConfirmedFraud: t.confirmedFraud, ConfirmedLegit: t.confirmedLegit}
		if t.lastHit != 0 {
			r.LastHit = time.Unix(0, t.lastHit).UTC()
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b RuleStats) int { return cmp.Compare(a.Rule, b.Rule) })
	return out
}

// MergeRuleStats sums per-rule counters from several sources (the
// partitions of a replica, the replicas of a pipeline): counts add up, the
// latest hit wins. The result is sorted by rule name.
func MergeRuleStats(parts ...[]RuleStats) []RuleStats {
	by := map[string]*RuleStats{}
	for _, part := range parts {
		for _, r := range part {
			m := by[r.Rule]
			if m == nil {
				m = &RuleStats{Rule: r.Rule}
				by[r.Rule] = m
			}
			m.Hits += r.Hits
			m.ShadowHits += r.ShadowHits
			m.Errors += r.Errors
			m.CostExceeded += r.CostExceeded
			m.ConfirmedFraud += r.ConfirmedFraud
			m.ConfirmedLegit += r.ConfirmedLegit
			if r.LastHit.After(m.LastHit) {
				m.LastHit = r.LastHit
			}
		}
	}
	out := make([]RuleStats, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RuleStats) int { return cmp.Compare(a.Rule, b.Rule) })
	return out
}
