package fraud

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Outcome is what a decision asks for.
type Outcome string

// Outcomes, by increasing severity.
const (
	OutcomeAllow  Outcome = "allow"
	OutcomeReview Outcome = "review"
	OutcomeBlock  Outcome = "block"
)

// Decision is the scoring of one transaction by one rule-set generation,
// published on the alerts topic as JSON.
type Decision struct {
	// AlertID identifies the alert, derived from the rule set, generation
	// and transaction (AlertID), so a replayed transaction yields the same
	// ID and consumers can deduplicate. Empty when no rule hit.
	AlertID       string    `json:"alert_id,omitempty"`
	TransactionID string    `json:"transaction_id"`
	CustomerID    string    `json:"customer_id"`
	MerchantID    string    `json:"merchant_id,omitempty"`
	EventTime     time.Time `json:"event_time"`
	// Score sums the scores of enforce-mode hits; it alone sets Outcome.
	Score int64 `json:"score"`
	// ShadowScore sums the scores of shadow-mode hits.
	ShadowScore int64   `json:"shadow_score"`
	Outcome     Outcome `json:"outcome"`
	// Priority is the spec's priority for the outcome; empty for allow.
	Priority   v1alpha1.AlertPriority `json:"priority,omitempty"`
	RuleSet    string                 `json:"rule_set"`
	Generation int64                  `json:"generation"`
	// Hits lists the rules that were true, enforce and shadow, in spec
	// order.
	Hits []Hit `json:"hits,omitempty"`
	// Errors lists the rules that failed to evaluate; they count as not
	// hit.
	Errors      []RuleError `json:"errors,omitempty"`
	EvaluatedAt time.Time   `json:"evaluated_at"`
}

// Hit is one true rule.
type Hit struct {
	Rule     string            `json:"rule"`
	Score    int32             `json:"score"`
	Severity v1alpha1.Severity `json:"severity"`
	Mode     v1alpha1.RuleMode `json:"mode"`
	// Values are the variables the rule's expression reads, by qualified
	// name ("detectors.amount_zscore"), sorted by name, as the rule saw
	// them. NaN and infinities are null.
	Values HitValues `json:"values,omitempty"`

	rule int // index in RuleSet.rules, for counting
}

// RuleError is a rule that failed on a transaction.
type RuleError struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	// CostExceeded tells the failure was the cost limit.
	CostExceeded bool `json:"cost_exceeded,omitempty"`

	rule int
}

// Alerted reports whether the outcome asks for review or a block.
func (d *Decision) Alerted() bool { return d.Outcome == OutcomeReview || d.Outcome == OutcomeBlock }

// Publish reports whether the decision belongs on the alerts topic: when
// any rule hit, enforce or shadow (shadow hits are published so they can be
// labelled and judged before a rule is enforced).
func (d *Decision) Publish() bool { return len(d.Hits) > 0 }

// AlertID derives an alert ID: the first 16 bytes, in hex, of the SHA-256
// of the rule set name, generation and transaction ID. The same inputs
// always give the same ID; a different generation gives a different one,
// as it is a different decision.
func AlertID(ruleSet string, generation int64, transactionID string) string {
	// The hashed input, in one buffer that usually fits on the stack:
	// sha256.Sum256 then allocates nothing, where a hash.Hash would.
	var arr [160]byte
	b := binary.BigEndian.AppendUint64(arr[:0], uint64(len(ruleSet)))
	b = append(b, ruleSet...)
	b = binary.BigEndian.AppendUint64(b, uint64(generation))
	b = append(b, transactionID...)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Evaluate scores a transaction against the state as it was before it. It
// changes nothing: call Observe afterwards, with the decision, to fold the
// transaction into the state. Disabled rules are not evaluated; a rule that
// fails (cost limit, runtime error) counts as not hit and is listed in
// Decision.Errors. Shadow-mode hits add to ShadowScore only.
func (rs *RuleSet) Evaluate(txn *Transaction, st *State) Decision {
	a := newActivation(rs, txn, st)
	d := rs.evaluateWith(a)
	a.release()
	return d
}

// evaluateWith is Evaluate with the transaction's activation, which it leaves
// for observeWith.
func (rs *RuleSet) evaluateWith(a *activation) Decision {
	txn := a.txn
	d := Decision{
		TransactionID: txn.ID,
		CustomerID:    txn.CustomerID,
		MerchantID:    txn.MerchantID,
		EventTime:     txn.EventTime,
		Outcome:       OutcomeAllow,
		RuleSet:       rs.name,
		Generation:    rs.generation,
	}
	// One execution frame for every rule whose program tracks no cost
	// (Eval takes a frame as it is, and otherwise makes one per call); a
	// program with a cost tracker keeps its state in the frame, so those
	// get their own.
	frame, ferr := interpreter.NewExecutionFrame(a)
	for i := range rs.rules {
		r := &rs.rules[i]
		var in any = a
		if !r.tracked && ferr == nil {
			in = frame
		}
		out, _, err := r.prg.Eval(in)
		if err != nil {
			var cancelled interpreter.EvalCancelledError
			d.Errors = append(d.Errors, RuleError{
				Rule:         r.name,
				Message:      err.Error(),
				CostExceeded: errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded,
				rule:         i,
			})
			continue
		}
		if out != types.True {
			continue
		}
		mode := v1alpha1.RuleModeEnforce
		if r.shadow {
			mode = v1alpha1.RuleModeShadow
			d.ShadowScore += int64(r.score)
		} else {
			d.Score += int64(r.score)
		}
		values := make(HitValues, len(r.named))
		for j, v := range r.named {
			values[j] = HitValue{Name: rs.vars[v].name, Value: native(a.value(v))}
		}
		if d.Hits == nil {
			// Room for the rules still to come, a few at most: one
			// allocation where growing would take one per hit.
			d.Hits = make([]Hit, 0, min(len(rs.rules)-i, 4))
		}
		d.Hits = append(d.Hits, Hit{Rule: r.name, Score: r.score, Severity: r.severity, Mode: mode, Values: values, rule: i})
	}
	if ferr == nil {
		frame.Close()
	}
	switch {
	case d.Score >= rs.block:
		d.Outcome, d.Priority = OutcomeBlock, rs.priority.Block
	case d.Score >= rs.review:
		d.Outcome, d.Priority = OutcomeReview, rs.priority.Review
	}
	if len(d.Hits) > 0 {
		d.AlertID = AlertID(rs.name, rs.generation, txn.ID)
	}
	if a.pinned {
		d.EvaluatedAt = a.evaluatedAt
	} else {
		d.EvaluatedAt = rs.now()
	}
	return d
}

// Observe folds a scored transaction into the state: the customer's
// history, the merchant's counters, the rule set's velocity windows and,
// if the decision is to be published, the alert log that feedback is
// matched against. It also counts the decision's hits and errors in the
// rule set's Stats. d may be nil for a transaction that was not scored
// (warming state up from history, say); it then counts nowhere.
func (rs *RuleSet) Observe(txn *Transaction, st *State, d *Decision) {
	a := newActivation(rs, txn, st)
	rs.observeWith(a, d)
	a.release()
}

// observeWith is Observe with the transaction's activation: the customer,
// merchant and entities Evaluate looked up with it are not looked up again.
// Nothing may have changed the state since they were.
func (rs *RuleSet) observeWith(a *activation, d *Decision) {
	txn, st, at := a.txn, a.st, a.at
	if id := txn.CustomerID; id != "" {
		c := a.cust
		if c == nil {
			// The state keeps its own copy of the ID, not the event's.
			c = newCustomer(id)
			st.creating(EntryRef{rec: recCustomer, id: c.id}, &c.marks)
			st.customers.put(c)
			a.cust = c // for its entity below; nothing reads it as history any more
		} else {
			st.changing(EntryRef{rec: recCustomer, id: id}, &c.marks)
		}
		c.observe(txn, at)
	}
	alerted := d != nil && d.Alerted()
	var m *MerchantState
	if id := txn.MerchantID; id != "" {
		if a.merchDone && a.merch != &noMerchant {
			m = a.merch
			st.changing(EntryRef{rec: recMerchant, id: id}, &m.marks)
		} else {
			m = st.merchant(id, at)
		}
		m.Transactions++
		if alerted {
			m.Alerts++
		}
		m.Last = max(m.Last, at)
	}
	for k := range rs.observe {
		ws := rs.observe[k]
		if len(ws) == 0 {
			continue
		}
		id := entityKind(k).of(txn)
		if id == "" {
			continue
		}
		e := a.entity(entityKind(k), id)
		if e == nil {
			e, id = newEntity(len(ws), id)
			st.creating(EntryRef{rec: recEntity, kind: entityKind(k), id: id}, &e.marks)
			st.entities[k][id] = e
		} else {
			st.changing(EntryRef{rec: recEntity, kind: entityKind(k), id: id}, &e.marks)
		}
		if c := a.cust; c != nil && c.ents[k] != e {
			c.ents[k] = e // mostly linked already: no store, no write barrier
		}
		for i := range ws {
			o := &ws[i]
			w := e.window(o.sig)
			if w == nil {
				w = e.addWindow(o.sig, o.agg, o.width)
			}
			var amount float64
			if o.agg == aggSum && txn.statAmount() {
				amount = txn.Amount
			}
			var h uint64
			var hasH bool
			if o.agg == aggDistinct {
				h, hasH = o.f.fieldHash(txn)
			}
			w.add(at, amount, h, hasH)
		}
	}
	if d == nil {
		return
	}
	rs.count(d, at)
	st.countHits(rs, d, at)
	if d.Publish() && d.AlertID != "" {
		var rules []string
		if h := &d.Hits[0]; len(d.Hits) == 1 && h.rule < len(rs.rules) && rs.rules[h.rule].name == h.Rule {
			rules = rs.rules[h.rule].alone
		} else {
			rules = make([]string, len(d.Hits))
			for i, h := range d.Hits {
				rules[i] = h.Rule
			}
		}
		// The merchant's ID as the state keeps it (m was found or made
		// under txn.MerchantID), not another copy of the event's.
		var merchant string
		if m != nil && m.id != "" {
			merchant = m.id
		} else {
			merchant = strings.Clone(txn.MerchantID)
		}
		st.alerts.put(st, d.AlertID, &alertEntry{rules: rules, merchant: merchant, at: at}, false)
	}
}

// count adds a decision to the rule counters.
func (rs *RuleSet) count(d *Decision, at int64) {
	ctr := func(i int, name string) *RuleCounters {
		if i < len(rs.rules) && rs.rules[i].name == name && d.RuleSet == rs.name && d.Generation == rs.generation {
			return rs.rules[i].ctr
		}
		return rs.stats.counters(name)
	}
	for _, h := range d.Hits {
		c := ctr(h.rule, h.Rule)
		if h.Mode == v1alpha1.RuleModeShadow {
			c.shadowHits.Add(1)
		} else {
			c.hits.Add(1)
		}
		for {
			last := c.lastHit.Load()
			if last >= at || c.lastHit.CompareAndSwap(last, at) {
				break
			}
		}
	}
	for _, e := range d.Errors {
		c := ctr(e.rule, e.Rule)
		c.errors.Add(1)
		if e.CostExceeded {
			c.costExceeded.Add(1)
		}
	}
}

// Features computes everything rules can read about a transaction, for
// inspection and tests; Evaluate computes only what rules read.
func (rs *RuleSet) Features(txn *Transaction, st *State) Features {
	a := newActivation(rs, txn, st)
	defer a.release()
	f := Features{
		Customer:  *a.customer(),
		Detectors: detectors(st, a.cust, txn, a.at),
		Velocity:  make(map[string]float64, len(rs.features)),
	}
	for i := range rs.features {
		f.Velocity[rs.features[i].name] = a.feature(i)
	}
	return f
}

// Features is what rules can read of one transaction besides the
// transaction itself.
type Features struct {
	Customer  CustomerFeatures   `json:"customer"`
	Detectors Detectors          `json:"detectors"`
	Velocity  map[string]float64 `json:"features"`
}
