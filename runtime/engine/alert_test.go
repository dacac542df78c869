package engine

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
)

// TestAppendAlert checks the alert record byte for byte against
// encoding/json, which wrote it before: decisions a rule set made over
// generated transactions (hits reading every kind of variable, shadow
// hits, new customers with an infinite seconds_since_last), and
// hand-made ones with what the generator does not produce.
func TestAppendAlert(t *testing.T) {
	spec := v1alpha1.FraudRuleSetSpec{
		Features: []v1alpha1.VelocityFeature{
			{Name: "card_txns_10m", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "10m"},
		},
		Rules: []v1alpha1.FraudRule{
			{Name: "any", Expression: `txn.amount > 0.0 && txn.ip != "" && txn.event_time > timestamp("2000-01-01T00:00:00Z")`, Score: 10},
			{Name: "lists", Expression: `size(txn.categories) >= 0 && txn.units >= 0 && customer.is_new == customer.is_new`, Score: 20,
				Severity: v1alpha1.SeverityHigh},
			{Name: "history", Expression: `customer.seconds_since_last >= 0.0 && detectors.amount_zscore != 1.5 && features.card_txns_10m >= 1.0`,
				Score: 80, Mode: v1alpha1.RuleModeShadow},
			{Name: "never", Expression: `txn.amount < 0.0`, Score: 100},
		},
	}
	rs, err := fraud.Compile("alerts", 3, spec)
	if err != nil {
		t.Fatal(err)
	}
	st := fraud.NewState(fraud.StateConfig{})
	gen := enginetest.NewGenerator(11, 40, 30, time.Now().Add(-time.Hour), time.Second)
	v := events.NewValidator(events.ValidatorConfig{})
	var decisions []fraud.Decision
	for range 300 {
		ev, err := v.Decode(events.KindTransaction, gen.Next().Value)
		if err != nil {
			t.Fatal(err)
		}
		txn := ev.(*events.Transaction)
		var units int64
		for _, l := range txn.Lines {
			units += l.Quantity
		}
		ft := FraudTransaction(txn, units, nil)
		ft.Categories = []string{"books", "<toys & games>"}
		d := rs.Evaluate(ft, st)
		rs.Observe(ft, st, &d)
		d.EvaluatedAt = txn.EventTime
		decisions = append(decisions, d)
	}
	if !decisions[0].Publish() {
		t.Fatalf("the first decision has no hits: %+v", decisions[0])
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", -(3*3600+30*60)))
	decisions = append(decisions,
		fraud.Decision{},
		fraud.Decision{TransactionID: "t\"1\\<>&\u2028\xff", CustomerID: "c\n\t", MerchantID: "m", EventTime: at, EvaluatedAt: at.UTC(),
			Score: -5, ShadowScore: math.MaxInt64, Outcome: fraud.OutcomeBlock, Priority: v1alpha1.AlertPriority("p1"),
			RuleSet: "rs", Generation: -1,
			Hits: []fraud.Hit{{Rule: "r", Score: 7, Severity: v1alpha1.SeverityLow, Mode: v1alpha1.RuleModeEnforce, Values: hitValues(map[string]any{
				"z": 1e21, "a": 1e-7, "m": -0.0, "n": nil, "b": true, "i": int64(-3), "u": uint64(math.MaxUint64), "s": "x<y",
				"t": at, "l": []string{"a", "b"}, "e": []any{}, "mp": map[string]any{"k": 1.5}, "é": 0.1, "A": 2.0,
				"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7, // more keys than the stack array
			})}, {Rule: "empty", Values: fraud.HitValues{}}},
			Errors: []fraud.RuleError{{Rule: "e1", Message: "cost\x01"}, {Rule: "e2", Message: "", CostExceeded: true}}},
		fraud.Decision{AlertID: "id", Hits: []fraud.Hit{}, Errors: []fraud.RuleError{}},
	)
	for i := range decisions {
		d := &decisions[i]
		want, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("decision %d: json.Marshal: %v", i, err)
		}
		got, err := appendAlert([]byte("prefix"), d)
		if err != nil {
			t.Fatalf("decision %d: appendAlert: %v", i, err)
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("decision %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}

	// Where json.Marshal fails, appendAlert fails too.
	for name, d := range map[string]fraud.Decision{
		"year":      {EventTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"zone":      {EvaluatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))},
		"NaN value": {Hits: []fraud.Hit{{Rule: "r", Values: fraud.HitValues{{Name: "x", Value: math.NaN()}}}}},
		"hit time":  {Hits: []fraud.Hit{{Rule: "r", Values: fraud.HitValues{{Name: "x", Value: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}}}},
		"channel":   {Hits: []fraud.Hit{{Rule: "r", Values: fraud.HitValues{{Name: "x", Value: make(chan int)}}}}},
	} {
		if _, err := json.Marshal(&d); err == nil {
			t.Fatalf("%s: json.Marshal did not fail", name)
		}
		if b, err := appendAlert(nil, &d); err == nil {
			t.Fatalf("%s: appendAlert did not fail: %s", name, b)
		}
	}
}

// hitValues returns m as the values of a hit, sorted by name as Evaluate
// makes them.
func hitValues(m map[string]any) fraud.HitValues {
	v := make(fraud.HitValues, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v = append(v, fraud.HitValue{Name: k, Value: m[k]})
	}
	return v
}

// BenchmarkAppendAlert encodes a typical alert record of the engine chain's
// rule set: two hits, their values, UTC times.
func BenchmarkAppendAlert(b *testing.B) {
	at := time.Date(2026, 11, 26, 10, 11, 12, 345678000, time.UTC)
	d := fraud.Decision{AlertID: fraud.AlertID("card", 1, "txn-000123"), TransactionID: "txn-000123", CustomerID: "cust-000042",
		MerchantID: "m-17", EventTime: at, Score: 120, Outcome: fraud.OutcomeBlock, Priority: "P1", RuleSet: "card", Generation: 1,
		Hits: []fraud.Hit{
			{Rule: "card-burst", Score: 60, Severity: v1alpha1.SeverityMedium, Mode: v1alpha1.RuleModeEnforce,
				Values: fraud.HitValues{{Name: "features.card_txns_10m", Value: 5.0}}},
			{Rule: "big-amount", Score: 60, Severity: v1alpha1.SeverityMedium, Mode: v1alpha1.RuleModeEnforce,
				Values: fraud.HitValues{{Name: "features.customer_txns_1h", Value: 3.0}, {Name: "txn.amount", Value: 173.42}}},
		},
		EvaluatedAt: at}
	buf := make([]byte, 0, alertRoom)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = appendAlert(buf[:0], &d); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
