package fraud

import (
	"math"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// activation resolves the variables of one transaction for all rules of a
// rule set. Values are computed on first use and cached, so a detector
// read by three rules is computed once and one no rule reads is never
// computed.
type activation struct {
	rs   *RuleSet
	txn  *Transaction
	st   *State
	at   int64          // event time, Unix nanoseconds
	cust *CustomerState // nil for a new customer
	vals []ref.Val      // by variable index; nil until computed
	// set lists the indexes of vals computed, for release to clear those
	// alone: a rule set declares some forty variables, its rules read a
	// few, and clearing them all (with the garbage collector's write
	// barriers, while it marks) cost more than reading them.
	set []uint16

	custF             CustomerFeatures
	custDone, geoDone bool
	geoKmh, geoKm     float64
	merch             *MerchantState
	merchDone         bool

	// ents caches, by entity kind, the entity of the transaction that
	// feature and Observe look up (entDone has bit 1<<kind once looked
	// up; a nil entity is one the state does not hold). Holder.Process
	// evaluates and observes with one activation, so each entity is found
	// once per transaction.
	ents    [numKinds]*entity
	entDone uint8

	// pinned: Decision.EvaluatedAt is evaluatedAt, not the clock's time
	// (Holder.ProcessAt).
	pinned      bool
	evaluatedAt time.Time
}

var _ interpreter.Activation = (*activation)(nil)

// newActivation returns the activation of t against st, st's spare one if
// it has one: a State is used by one goroutine at a time, so it can keep
// the activation of its previous transaction instead of a sync.Pool's
// per-call pinning.
func newActivation(rs *RuleSet, t *Transaction, st *State) *activation {
	a := st.spare
	if a != nil {
		st.spare = nil
	} else {
		a = new(activation)
	}
	vals, set := a.vals, a.set
	if cap(vals) < len(rs.vars) {
		vals = make([]ref.Val, len(rs.vars))
	}
	*a = activation{rs: rs, txn: t, st: st, at: unixNano(t.EventTime), vals: vals[:len(rs.vars)], set: set[:0]}
	a.cust = st.customers.get(t.CustomerID)
	return a
}

// release clears a and hands it back to its State as the spare: every
// value computed is nil again, and no pointer into the transaction or the
// state stays.
func (a *activation) release() {
	for _, i := range a.set {
		a.vals[i] = nil
	}
	st, cust, vals, set := a.st, a.cust, a.vals, a.set[:0]
	*a = activation{vals: vals, set: set}
	if st != nil {
		st.spare = a
		st.linked = cust // for StateLink
	}
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	i, ok := a.rs.varIndex[name]
	if !ok {
		return nil, false
	}
	return a.value(i), true
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

func (a *activation) value(i int) ref.Val {
	if v := a.vals[i]; v != nil {
		return v
	}
	v := a.rs.vars[i].get(a)
	a.vals[i] = v
	a.set = append(a.set, uint16(i))
	return v
}

func (a *activation) customer() *CustomerFeatures {
	if !a.custDone {
		a.custF = customerFeatures(a.cust, a.at)
		a.custDone = true
	}
	return &a.custF
}

func (a *activation) geo() (kmh, km float64) {
	if !a.geoDone {
		a.geoKmh, a.geoKm = geoVelocity(a.cust, a.txn, a.at)
		a.geoDone = true
	}
	return a.geoKmh, a.geoKm
}

var noMerchant MerchantState

// entity returns the transaction's entity of kind k, nil if the state holds
// none; id is k.of(a.txn), not empty.
func (a *activation) entity(k entityKind, id string) *entity {
	if a.entDone&(1<<k) != 0 {
		return a.ents[k]
	}
	var e *entity
	if c := a.cust; c != nil && c.ents[k] != nil && !c.ents[k].gone && c.ents[k].id == id {
		e = c.ents[k]
	} else {
		// Not linked here: Evaluate changes nothing, Observe links.
		e = a.st.entities[k][id]
	}
	a.ents[k], a.entDone = e, a.entDone|1<<k
	return e
}

// findObserved looks up, one after the other, the transaction's entities
// of every kind the rule set observes, and asks for the ends of their
// windows' buckets ahead (runtime/prefetch): Observe reads and changes
// them, and rules mostly read them too. Looked up this way, with nothing in
// between, their cache misses overlap, where rules evaluated between one
// entity's first read and the next one's would take them one at a time. It
// changes nothing: entity keeps what it finds for evaluateWith and
// observeWith.
func (a *activation) findObserved() {
	for k := range a.rs.observe {
		if len(a.rs.observe[k]) == 0 {
			continue
		}
		if id := entityKind(k).of(a.txn); id != "" {
			if e := a.entity(entityKind(k), id); e != nil {
				e.prefetchBucketEnds()
			}
		}
	}
}

func (a *activation) merchant() *MerchantState {
	if !a.merchDone {
		a.merch = a.st.merchants[a.txn.MerchantID]
		if a.merch == nil {
			a.merch = &noMerchant
		}
		a.merchDone = true
	}
	return a.merch
}

// feature computes velocity feature i for the transaction, counting the
// transaction itself: "5 transactions on this card in 10 minutes" includes
// the one being scored. A transaction without the feature's entity (no
// card, say) has 0.
func (a *activation) feature(i int) float64 {
	f := &a.rs.features[i]
	id := f.kind.of(a.txn)
	if id == "" {
		return 0
	}
	var v windowValue
	if e := a.entity(f.kind, id); e != nil {
		if w := e.window(f.sig); w != nil {
			w.value(a.at, &v)
		}
	}
	switch f.agg {
	case aggCount:
		return v.count + 1
	case aggSum:
		if a.txn.statAmount() {
			return v.sum + a.txn.Amount
		}
		return v.sum
	default:
		if h, ok := f.fieldHash(a.txn); ok {
			v.insert(h)
		}
		return v.distinct()
	}
}

// native converts a resolved value for a hit's Values, for JSON: NaN and
// infinities become nil (JSON has no such numbers).
func native(v ref.Val) any {
	if d, ok := v.(types.Double); ok {
		// Not through Value, which boxes the float64 once more.
		x := float64(d)
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return nil
		case x >= 0 && x < float64(len(wholeFloats)) && x == math.Trunc(x) && !math.Signbit(x):
			return wholeFloats[int(x)] // a count: boxed once, like dbl
		}
		return x
	}
	switch x := v.Value().(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case time.Time:
		return x.UTC()
	default:
		return x
	}
}
