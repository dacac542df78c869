package fraud

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Holder holds the rule set a runtime scores with and swaps it on reload
// without stopping scoring. Readers load the current set once per
// transaction (Current, or Process which does it for them), so every
// transaction is scored and observed by exactly one generation; a swap
// takes effect from the next transaction on. Holder is safe for concurrent
// use.
type Holder struct {
	current atomic.Pointer[RuleSet]
	mu      sync.Mutex // serialises Update and Swap
	stats   *Stats
	opts    []Option
}

// NewHolder returns an empty holder. The options are applied to every rule
// set Update compiles.
func NewHolder(opts ...Option) *Holder {
	return &Holder{stats: NewStats(), opts: opts}
}

// Current returns the rule set in use, nil before the first successful
// Update or Swap.
func (h *Holder) Current() *RuleSet { return h.current.Load() }

// Stats returns the rule counters, which survive reloads: a rule keeps its
// counters across generations as long as it keeps its name.
func (h *Holder) Stats() *Stats { return h.stats }

// Swap installs rs and returns the previous rule set. The holder takes rs
// over: rs starts counting into the holder's Stats, so rs must not be in
// use elsewhere.
func (h *Holder) Swap(rs *RuleSet) *RuleSet {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.swap(rs)
}

func (h *Holder) swap(rs *RuleSet) *RuleSet {
	if rs != nil && rs.stats != h.stats {
		rs.useStats(h.stats)
	}
	return h.current.Swap(rs)
}

// Update compiles a spec and installs the result, unless the current rule
// set already is that name and generation (compile once per generation).
// If the spec does not compile, the current rule set stays in place,
// scoring continues with it, and the compile error is returned.
func (h *Holder) Update(name string, generation int64, spec v1alpha1.FraudRuleSetSpec) (*RuleSet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.current.Load(); cur != nil && cur.name == name && cur.generation == generation {
		return cur, nil
	}
	rs, err := Compile(name, generation, spec, h.opts...)
	if err != nil {
		return h.current.Load(), fmt.Errorf("failed to compile rule set %s generation %d: %w", name, generation, err)
	}
	h.swap(rs)
	return rs, nil
}

// Process scores a transaction with the current rule set and observes it:
// Evaluate then Observe with one loaded generation. It reports false, and
// changes nothing, when no rule set is installed.
func (h *Holder) Process(txn *Transaction, st *State) (Decision, bool) {
	return h.process(txn, st, time.Time{}, false)
}

// ProcessAt is Process with Decision.EvaluatedAt set to evaluatedAt instead
// of the time on the rule set's clock, for a caller that pins it (the
// engine pins it to the event time, so that a replay writes identical
// alerts) and need not read the clock per transaction.
func (h *Holder) ProcessAt(txn *Transaction, st *State, evaluatedAt time.Time) (Decision, bool) {
	return h.process(txn, st, evaluatedAt, true)
}

func (h *Holder) process(txn *Transaction, st *State, evaluatedAt time.Time, pinned bool) (Decision, bool) {
	rs := h.current.Load()
	if rs == nil {
		return Decision{}, false
	}
	// One activation for both: the entities Evaluate looks up are the
	// ones Observe changes.
	a := newActivation(rs, txn, st)
	a.pinned, a.evaluatedAt = pinned, evaluatedAt
	a.findObserved()
	d := rs.evaluateWith(a)
	rs.observeWith(a, &d)
	a.release()
	return d, true
}

// Stats counts rule activity across generations, by rule name. It is safe
// for concurrent use; counting is lock-free.
type Stats struct {
	mu    sync.Mutex
	rules map[string]*RuleCounters
}

// RuleCounters are one rule's counters.
type RuleCounters struct {
	hits, shadowHits, errors, costExceeded atomic.Int64
	confirmedFraud, confirmedLegit         atomic.Int64
	lastHit                                atomic.Int64 // event time, Unix ns
}

// NewStats returns empty counters.
func NewStats() *Stats { return &Stats{rules: make(map[string]*RuleCounters)} }

func (s *Stats) counters(name string) *RuleCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.rules[name]
	if c == nil {
		c = new(RuleCounters)
		s.rules[name] = c
	}
	return c
}

// RuleStats is a snapshot of one rule's counters.
type RuleStats struct {
	Rule string `json:"rule"`
	// Hits and ShadowHits count enforce- and shadow-mode hits.
	Hits       int64 `json:"hits"`
	ShadowHits int64 `json:"shadow_hits"`
	// Errors counts failed evaluations, CostExceeded those that hit the
	// cost limit.
	Errors       int64 `json:"errors"`
	CostExceeded int64 `json:"cost_exceeded"`
	// ConfirmedFraud and ConfirmedLegit count labels on alerts the rule
	// hit.
	ConfirmedFraud int64 `json:"confirmed_fraud"`
	ConfirmedLegit int64 `json:"confirmed_legit"`
	// LastHit is the event time of the latest hit, zero if none.
	LastHit time.Time `json:"last_hit,omitzero"`
}

// Precision is ConfirmedFraud / (ConfirmedFraud + ConfirmedLegit); false
// before any label.
func (r RuleStats) Precision() (float64, bool) {
	n := r.ConfirmedFraud + r.ConfirmedLegit
	if n == 0 {
		return 0, false
	}
	return float64(r.ConfirmedFraud) / float64(n), true
}

// Status converts the snapshot for FraudRuleSet status.rules.
func (r RuleStats) Status() v1alpha1.RuleStatus {
	st := v1alpha1.RuleStatus{
		Name:           r.Rule,
		Hits:           r.Hits,
		ShadowHits:     r.ShadowHits,
		ConfirmedFraud: r.ConfirmedFraud,
		ConfirmedLegit: r.ConfirmedLegit,
	}
	if !r.LastHit.IsZero() {
		t := metav1.NewTime(r.LastHit)
		st.LastHitTime = &t
	}
	if p, ok := r.Precision(); ok {
		st.Precision = strconv.FormatFloat(p, 'f', 3, 64)
	}
	return st
}

// Snapshot returns every rule's counters, sorted by rule name.
func (s *Stats) Snapshot() []RuleStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RuleStats, 0, len(s.rules))
	for name, c := range s.rules {
		r := RuleStats{
			Rule:           name,
			Hits:           c.hits.Load(),
			ShadowHits:     c.shadowHits.Load(),
			Errors:         c.errors.Load(),
			CostExceeded:   c.costExceeded.Load(),
			ConfirmedFraud: c.confirmedFraud.Load(),
			ConfirmedLegit: c.confirmedLegit.Load(),
		}
		if ns := c.lastHit.Load(); ns != 0 {
			r.LastHit = time.Unix(0, ns).UTC()
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b RuleStats) int { return cmp.Compare(a.Rule, b.Rule) })
	return out
}

// Rule returns one rule's counters; false if the rule never counted.
func (s *Stats) Rule(name string) (RuleStats, bool) {
	for _, r := range s.Snapshot() {
		if r.Rule == name {
			return r, true
		}
	}
	return RuleStats{}, false
}
