package fraud

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// scoreSpec has constant rules with known scores, to test outcome logic
// without detectors in the way.
func scoreSpec(rules ...v1alpha1.FraudRule) v1alpha1.FraudRuleSetSpec {
	return v1alpha1.FraudRuleSetSpec{
		Rules:      rules,
		Thresholds: v1alpha1.OutcomeThresholds{Review: 50, Block: 100},
		Priority:   v1alpha1.AlertPriorities{Review: "P3", Block: "P1"},
	}
}

func rule(name, expr string, score int32, mode v1alpha1.RuleMode) v1alpha1.FraudRule {
	return v1alpha1.FraudRule{Name: name, Expression: expr, Score: score, Mode: mode}
}

func TestThresholdsAndShadowMode(t *testing.T) {
	const enforce, shadow = v1alpha1.RuleModeEnforce, v1alpha1.RuleModeShadow
	off := false
	tests := []struct {
		name               string
		rules              []v1alpha1.FraudRule
		score, shadowScore int64
		outcome            Outcome
		priority           v1alpha1.AlertPriority
		hits               int
	}{
		{"nothing hits", []v1alpha1.FraudRule{rule("a", "false", 60, enforce)}, 0, 0, OutcomeAllow, "", 0},
		{"below review", []v1alpha1.FraudRule{rule("a", "true", 49, enforce)}, 49, 0, OutcomeAllow, "", 1},
		{"review at the threshold", []v1alpha1.FraudRule{rule("a", "true", 50, enforce)}, 50, 0, OutcomeReview, "P3", 1},
		{"scores add up to block", []v1alpha1.FraudRule{rule("a", "true", 60, enforce), rule("b", "true", 40, enforce)}, 100, 0, OutcomeBlock, "P1", 2},
		{"shadow hits never change the outcome", []v1alpha1.FraudRule{rule("a", "true", 40, enforce), rule("b", "true", 1000, shadow)}, 40, 1000, OutcomeAllow, "", 2},
		{"shadow alone", []v1alpha1.FraudRule{rule("a", "true", 100, shadow)}, 0, 100, OutcomeAllow, "", 1},
		{"disabled rules are skipped", []v1alpha1.FraudRule{rule("a", "true", 100, enforce), {Name: "b", Expression: "true", Score: 100, Enabled: &off}}, 100, 0, OutcomeBlock, "P1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := mustCompile(t, scoreSpec(tt.rules...))
			txn := baseTxn("t1", t0)
			d := rs.Evaluate(&txn, NewState(StateConfig{}))
			if d.Score != tt.score || d.ShadowScore != tt.shadowScore || d.Outcome != tt.outcome || d.Priority != tt.priority || len(d.Hits) != tt.hits {
				t.Errorf("got score %d shadow %d outcome %s priority %q hits %d; want %d %d %s %q %d",
					d.Score, d.ShadowScore, d.Outcome, d.Priority, len(d.Hits), tt.score, tt.shadowScore, tt.outcome, tt.priority, tt.hits)
			}
		})
	}
}

// TestAlertIDValue pins the derivation: published alert IDs must not change
// across releases, or replays would publish duplicates. The values are
// SHA-256 over the big-endian name length, the name, the big-endian
// generation and the transaction ID, computed independently; the second
// input does not fit the stack buffer AlertID tries first.
func TestAlertIDValue(t *testing.T) {
	for _, c := range []struct {
		set  string
		gen  int64
		txn  string
		want string
	}{
		{"card-fraud", 3, "txn-1", "18576b00b03e0bb0adc9e0897508a31d"},
		{strings.Repeat("r", 100), 7, strings.Repeat("t", 200), "68957e585e6e643412927418279efa16"},
	} {
		if got := AlertID(c.set, c.gen, c.txn); got != c.want {
			t.Errorf("AlertID(%.12q, %d, %.12q) = %s, want %s", c.set, c.gen, c.txn, got, c.want)
		}
	}
}

func TestAlertIDIsDeterministic(t *testing.T) {
	a := AlertID("card-fraud", 3, "txn-1")
	if a != AlertID("card-fraud", 3, "txn-1") || len(a) != 32 {
		t.Fatalf("AlertID not stable or not 32 hex digits: %q", a)
	}
	for _, other := range []string{AlertID("card-fraud", 4, "txn-1"), AlertID("card-fraud", 3, "txn-2"), AlertID("card-frau", 3, "dtxn-1")} {
		if other == a {
			t.Errorf("distinct inputs share the alert ID %s", a)
		}
	}
	rs := mustCompile(t, scoreSpec(rule("a", "true", 60, "")))
	txn := baseTxn("txn-1", t0)
	d1 := rs.Evaluate(&txn, NewState(StateConfig{}))
	d2 := rs.Evaluate(&txn, NewState(StateConfig{}))
	if d1.AlertID != a || d2.AlertID != a {
		t.Errorf("decisions carry alert IDs %s and %s, want %s", d1.AlertID, d2.AlertID, a)
	}
	none := mustCompile(t, scoreSpec(rule("a", "false", 60, "")))
	if d := none.Evaluate(&txn, NewState(StateConfig{})); d.AlertID != "" {
		t.Errorf("a decision without hits has alert ID %q", d.AlertID)
	}
}

func TestEvaluateIsPure(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	st := NewState(StateConfig{})
	history(rs, st, 10, 20, 30, 40)
	before, _ := st.MarshalBinary()
	txn := baseTxn("x", t0)
	d1 := rs.Evaluate(&txn, st)
	d2 := rs.Evaluate(&txn, st)
	after, _ := st.MarshalBinary()
	if string(before) != string(after) {
		t.Error("Evaluate changed the state")
	}
	if fmt.Sprint(d1) != fmt.Sprint(d2) {
		t.Errorf("two evaluations differ:\n%v\n%v", d1, d2)
	}
}

func TestSampleRules(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	t.Run("account takeover", func(t *testing.T) {
		st := NewState(StateConfig{})
		history(rs, st, 10, 40, 60)
		txn := baseTxn("ato", t0)
		txn.DeviceID, txn.Country, txn.Amount = "dev-new", "BR", 900
		txn.Lat, txn.Lon = -23.55, -46.63 // São Paulo, 10,000 km from Berlin in under a day
		d := rs.Evaluate(&txn, st)
		if d.Outcome != OutcomeBlock || d.Priority != "P1" {
			t.Fatalf("outcome %s priority %s, want block P1; %+v", d.Outcome, d.Priority, d)
		}
		var ato *Hit
		for i := range d.Hits {
			if d.Hits[i].Rule == "account-takeover" {
				ato = &d.Hits[i]
			}
		}
		if ato == nil {
			t.Fatalf("account-takeover did not hit: %+v", d.Hits)
		}
		want := HitValues{ // by name
			{"customer.avg_amount", 50.0},
			{"customer.txn_count", int64(10)},
			{"detectors.new_country", true},
			{"detectors.new_device", true},
			{"txn.amount", 900.0},
		}
		if fmt.Sprint(ato.Values) != fmt.Sprint(want) {
			t.Errorf("values = %v, want %v", ato.Values, want)
		}
		if ato.Severity != v1alpha1.SeverityCritical || ato.Mode != v1alpha1.RuleModeEnforce || ato.Score != 100 {
			t.Errorf("hit = %+v", ato)
		}
	})
	t.Run("card testing", func(t *testing.T) {
		st := NewState(StateConfig{})
		var d Decision
		for i := range 5 {
			txn := baseTxn(fmt.Sprint("ct", i), t0.Add(time.Duration(i)*time.Minute))
			txn.Amount = 1
			d = rs.Evaluate(&txn, st)
			rs.Observe(&txn, st, &d)
		}
		if len(d.Hits) == 0 || d.Hits[0].Rule != "card-testing" || d.Outcome != OutcomeReview {
			t.Errorf("5th small payment: %+v", d)
		}
	})
	t.Run("impossible travel", func(t *testing.T) {
		st := NewState(StateConfig{})
		history(rs, st, 3, 40)
		txn := baseTxn("far", t0.Add(-23*time.Hour)) // an hour after the last history payment
		txn.Lat, txn.Lon = 40.71, -74.0              // New York
		d := rs.Evaluate(&txn, st)
		if len(d.Hits) != 1 || d.Hits[0].Rule != "impossible-travel" {
			t.Fatalf("hits = %+v", d.Hits)
		}
		if v, _ := d.Hits[0].Values.Get("detectors.geo_velocity_kmh"); v.(float64) < 6000 || v.(float64) > 6500 {
			t.Errorf("Berlin to New York in an hour: %v km/h", v)
		}
	})
	t.Run("risky merchant is shadow", func(t *testing.T) {
		st := NewState(StateConfig{})
		st.merchants["m-1"] = &MerchantState{Transactions: 100, Alerts: 40, ConfirmedFraud: 30, ConfirmedLegit: 2}
		txn := baseTxn("rm", t0)
		txn.Amount = 150
		d := rs.Evaluate(&txn, st)
		if len(d.Hits) != 1 || d.Hits[0].Mode != v1alpha1.RuleModeShadow || d.Outcome != OutcomeAllow || d.ShadowScore != 30 || !d.Publish() || d.Alerted() {
			t.Errorf("decision = %+v", d)
		}
	})
}

func TestRuleErrorsCountAsNotHit(t *testing.T) {
	spec := scoreSpec(
		rule("base", "true", 50, ""),
		rule("costly", "txn.categories.all(c, c != 'x') && txn.amount > 0.0", 100, ""),
		rule("divides", "100 / (txn.lines - 2) > 1", 100, ""),
	)
	spec.CostLimit = 100
	rs := mustCompile(t, spec)
	st := NewState(StateConfig{})
	txn := baseTxn("t", t0)
	for i := range 1000 {
		txn.Categories = append(txn.Categories, fmt.Sprint("cat", i))
	}
	d := rs.Evaluate(&txn, st)
	if d.Outcome != OutcomeReview || d.Score != 50 || len(d.Hits) != 1 {
		t.Errorf("failing rules must count as not hit: %+v", d)
	}
	if len(d.Errors) != 2 || d.Errors[0].Rule != "costly" || !d.Errors[0].CostExceeded ||
		d.Errors[1].Rule != "divides" || d.Errors[1].CostExceeded || !strings.Contains(d.Errors[1].Message, "division by zero") {
		t.Errorf("errors = %+v", d.Errors)
	}
	rs.Observe(&txn, st, &d)
	costly, _ := rs.Stats().Rule("costly")
	divides, _ := rs.Stats().Rule("divides")
	base, _ := rs.Stats().Rule("base")
	if costly.Errors != 1 || costly.CostExceeded != 1 || divides.Errors != 1 || divides.CostExceeded != 0 || base.Hits != 1 || !base.LastHit.Equal(t0) {
		t.Errorf("counters: costly %+v divides %+v base %+v", costly, divides, base)
	}
}

func TestDecisionJSON(t *testing.T) {
	rs := mustCompile(t, scoreSpec(rule("inf", "customer.seconds_since_last > 1.0 && txn.amount > 1.0", 60, "")))
	txn := baseTxn("t-json", t0)
	d := rs.Evaluate(&txn, NewState(StateConfig{}))
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["alert_id"] != AlertID("card-fraud", 3, "t-json") || back["outcome"] != "review" || back["priority"] != "P3" ||
		back["rule_set"] != "card-fraud" || back["generation"] != 3.0 || back["evaluated_at"] != "2026-03-01T13:00:00Z" {
		t.Errorf("JSON = %s", b)
	}
	hit := back["hits"].([]any)[0].(map[string]any)
	values := hit["values"].(map[string]any)
	// A new customer's seconds_since_last is +Inf, which JSON cannot hold.
	if v, ok := values["customer.seconds_since_last"]; !ok || v != nil {
		t.Errorf("seconds_since_last = %v (present %v), want null", v, ok)
	}
	if hit["mode"] != "enforce" || hit["severity"] != "medium" {
		t.Errorf("hit = %v", hit)
	}
}

func TestNaNAmountIsScoredSafely(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	st := NewState(StateConfig{})
	history(rs, st, 10, 40, 50)
	for _, amount := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1e300} {
		txn := baseTxn("nan", t0)
		txn.Amount = amount
		d := rs.Evaluate(&txn, st)
		if _, err := json.Marshal(d); err != nil {
			t.Errorf("amount %v: decision does not encode: %v", amount, err)
		}
		rs.Observe(&txn, st, &d)
		c := st.Customer("c-1")
		if math.IsNaN(c.AmountMean) || math.IsInf(c.AmountM2, 0) || math.IsNaN(c.Total) {
			t.Errorf("amount %v poisoned the history: %+v", amount, c)
		}
	}
}

// TestReleaseClearsTheValuesComputed: an activation goes back to the pool
// with every value it computed cleared (release clears only those), so the
// next transaction computes its own.
func TestReleaseClearsTheValuesComputed(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	st := NewState(StateConfig{})
	txn := baseTxn("x", t0)
	a := newActivation(rs, &txn, st)
	for i := range rs.vars {
		if i%3 != 1 {
			a.value(i)
		}
	}
	a.value(0) // again: computed once, listed once
	vals := a.vals
	computed := 0
	for _, v := range vals {
		if v != nil {
			computed++
		}
	}
	if computed < len(rs.vars)/2 {
		t.Fatalf("%d of %d values computed", computed, len(rs.vars))
	}
	a.release()
	for i, v := range vals {
		if v != nil {
			t.Fatalf("variable %s still holds %v after release", rs.vars[i].name, v)
		}
	}
	if a.txn != nil || a.st != nil || a.cust != nil || len(a.set) != 0 {
		t.Fatal("a released activation still points into the transaction or the state")
	}
}
