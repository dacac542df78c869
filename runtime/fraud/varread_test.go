package fraud

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// varReadExprs read variables in the positions the planner treats
// differently: whole, indexed, as a list operand, in a conditional, inside a
// comprehension, in arithmetic.
var varReadExprs = []string{
	`features.card_txns_10m >= 2 && txn.amount > 10.0`,
	`txn.categories[0] == "books"`,
	`"toys" in txn.categories`,
	`txn.has_geo ? detectors.geo_distance_km >= 0.0 : customer.is_new`,
	`txn.categories.exists(c, c == txn.country || size(c) > 5)`,
	`customer.is_new || customer.txn_count > 2`,
	`txn.event_time > timestamp("2026-03-01T12:20:00Z")`,
	`merchant.txn_count >= 1 && detectors.merchant_risk < 1.0`,
	`features.card_amount_10m + txn.amount > 100.0`,
	`txn.lines + txn.units > 4 && features.device_cards_1h <= 1`,
	`txn.country in ["DE", "FR"] && detectors.amount_zscore < 3.0`,
}

func varReadSpec() v1alpha1.FraudRuleSetSpec {
	spec := sampleSpec()
	spec.Rules = nil
	for i, e := range varReadExprs {
		spec.Rules = append(spec.Rules, rule(fmt.Sprint("r", i), e, 1, ""))
	}
	return spec
}

// TestVarReadMatchesNameResolution evaluates every rule both ways, by the
// index varRead was given and, behind an activation varRead does not know,
// by name through cel-go's attributes, over a growing history: the results
// must be the same.
func TestVarReadMatchesNameResolution(t *testing.T) {
	rs := mustCompile(t, varReadSpec())
	st := NewState(StateConfig{})
	untracked := 0
	for _, info := range rs.Rules() {
		if !info.CostTracked {
			untracked++
		}
	}
	if untracked < len(varReadExprs)-2 { // the list operand and the comprehension cost per element
		t.Fatalf("only %d of %d rules evaluate without a cost tracker: %+v", untracked, len(varReadExprs), rs.Rules())
	}
	hits := make([]int, len(rs.rules))
	for i := range 40 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Minute))
		txn.Amount = float64(5 + i*7%90)
		if i%3 == 0 {
			txn.Country, txn.HasGeo = "US", false
		}
		if i%4 == 0 {
			txn.Categories = []string{"garden", "tools"}
			txn.Units = int64(i % 5)
		}
		a := newActivation(rs, &txn, st)
		for j := range rs.rules {
			r := &rs.rules[j]
			byIndex, _, err1 := r.prg.Eval(a)
			byName, _, err2 := r.prg.Eval(interpreter.NewHierarchicalActivation(interpreter.EmptyActivation(), a))
			if err1 != nil || err2 != nil {
				t.Fatalf("txn %d, %q: errors %v and %v", i, varReadExprs[j], err1, err2)
			}
			if byIndex.Equal(byName) != types.True {
				t.Fatalf("txn %d, %q: %v by index, %v by name", i, varReadExprs[j], byIndex, byName)
			}
			if byIndex == types.True {
				hits[j]++
			}
		}
		a.release()
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
	for j, n := range hits {
		if n == 0 || n == 40 {
			t.Errorf("%q is %v on every transaction: the comparison proves little", varReadExprs[j], n == 40)
		}
	}
}

// TestVarReadSkipsTheNameLookup shows the rules read their variables by
// index: with the rule set's name index emptied, resolving by name fails
// and reading by index does not.
func TestVarReadSkipsTheNameLookup(t *testing.T) {
	rs := mustCompile(t, varReadSpec())
	st := NewState(StateConfig{})
	txn := baseTxn("t", t0)
	byName := rs.varIndex
	rs.varIndex = map[string]int{}
	defer func() { rs.varIndex = byName }()
	a := newActivation(rs, &txn, st)
	defer a.release()
	for j, info := range rs.Rules() {
		if info.CostTracked {
			continue
		}
		r := &rs.rules[j]
		if _, _, err := r.prg.Eval(a); err != nil {
			t.Errorf("%q by index: %v", varReadExprs[j], err)
		}
		if _, _, err := r.prg.Eval(interpreter.NewHierarchicalActivation(interpreter.EmptyActivation(), a)); err == nil {
			t.Errorf("%q resolved by name without the name index", varReadExprs[j])
		}
	}
}
