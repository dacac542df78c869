package fraud

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// TestHitValuesEncodeAsTheMap: a hit's values, sorted by name, encode byte
// for byte as the map[string]any they replaced, alone and inside a
// Decision, and decode back sorted.
func TestHitValuesEncodeAsTheMap(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", -3600))
	m := map[string]any{
		"z": 1e21, "a": 1e-7, "m": -0.0, "n": nil, "b": true, "i": int64(-3), "u": uint64(math.MaxUint64),
		"s": "x<y&z", "t": at, "l": []string{"a"}, "é": 0.1, "A": 2.0, "<k>": "\u2028", "k\"": 3,
	}
	var v HitValues
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v = append(v, HitValue{Name: k, Value: m[k]})
	}
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("values encode as\n%s\nwant\n%s", got, want)
	}

	type legacyHit struct {
		Rule   string         `json:"rule"`
		Values map[string]any `json:"values,omitempty"`
	}
	for _, c := range []struct {
		m map[string]any
		v HitValues
	}{{m, v}, {nil, nil}, {map[string]any{}, HitValues{}}} {
		want, _ := json.Marshal(legacyHit{Rule: "r", Values: c.m})
		got, err := json.Marshal(Hit{Rule: "r", Values: c.v})
		if err != nil {
			t.Fatal(err)
		}
		// Hit has more fields; compare what the legacy one has.
		g := strings.Replace(string(got), `,"score":0,"severity":"","mode":""`, "", 1)
		if g != string(want) {
			t.Errorf("hit encodes as %s, want %s", g, want)
		}
	}

	var back HitValues
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != len(v) || !slices.IsSortedFunc(back, func(x, y HitValue) int { return strings.Compare(x.Name, y.Name) }) {
		t.Fatalf("decoded %v", back)
	}
	if x, ok := back.Get("s"); !ok || x != "x<y&z" {
		t.Errorf("decoded s = %v, %v", x, ok)
	}
	if _, ok := back.Get("missing"); ok {
		t.Error("Get found a name the values do not hold")
	}
	if err := json.Unmarshal([]byte(`[1]`), &back); err == nil {
		t.Error("decoding a list into values did not fail")
	}
	if _, err := json.Marshal(HitValues{{Name: "x", Value: math.Inf(1)}}); err == nil {
		t.Error("encoding an infinite value did not fail")
	}
}

// TestHitValuesInNameOrder: a rule that reads variables declared in the
// opposite order of their names gets its values sorted by name.
func TestHitValuesInNameOrder(t *testing.T) {
	rs := mustCompile(t, scoreSpec(rule("r", "txn.amount > 0.0 && customer.txn_count >= 0 && txn.currency != ''", 60, v1alpha1.RuleModeEnforce)))
	if rs.varIndex["txn.amount"] > rs.varIndex["customer.txn_count"] {
		t.Fatal("the test wants txn.amount declared before customer.txn_count")
	}
	st := NewState(StateConfig{})
	txn := baseTxn("t", t0)
	d := rs.Evaluate(&txn, st)
	if len(d.Hits) != 1 {
		t.Fatalf("hits %+v", d.Hits)
	}
	var names []string
	for _, v := range d.Hits[0].Values {
		names = append(names, v.Name)
	}
	if want := []string{"customer.txn_count", "txn.amount", "txn.currency"}; !slices.Equal(names, want) {
		t.Errorf("value names %v, want %v", names, want)
	}
	if x, _ := d.Hits[0].Values.Get("txn.amount"); x != txn.Amount {
		t.Errorf("txn.amount = %v, want %v", x, txn.Amount)
	}
}
