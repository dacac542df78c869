package fraud

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// FuzzCompile compiles arbitrary expressions as one rule of the sample
// rule set. Compile must never panic; it either succeeds (and then the rule
// evaluates without panicking, within the cost limit) or fails with a
// *CompileError naming the rule.
func FuzzCompile(f *testing.F) {
	for _, r := range sampleSpec().Rules {
		f.Add(r.Expression)
	}
	f.Add(`txn.amount >`)
	f.Add(`features.nope > 1`)
	f.Add(`txn.categories.exists(c, c.startsWith("gift"))`)
	f.Add(`[1,2,3].map(x, [x, x]).size() > 2`)
	f.Add(`txn.event_time.getHours() < 6 && txn.amount > 100.0`)
	f.Add(`sets.intersects(txn.categories, ["electronics", "gift_cards"])`)
	f.Add(`((((((((((true))))))))))`)
	f.Add(`txn.city.matches("^(a|b)*$")`)
	f.Add(`1/0 == 1`)
	f.Add("\x00\xff")

	spec := sampleSpec()
	f.Fuzz(func(t *testing.T, expr string) {
		s := spec
		s.Rules = append(s.Rules[:0:0], spec.Rules...)
		s.Rules = append(s.Rules, v1alpha1.FraudRule{Name: "fuzz-rule", Expression: expr, Score: 1})
		rs, err := Compile("card-fraud", 1, s)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) || ce.Rule != "fuzz-rule" {
				t.Fatalf("error does not name the rule: %v", err)
			}
			if !strings.HasPrefix(err.Error(), `rule "fuzz-rule": `) {
				t.Fatalf("error = %q", err)
			}
			return
		}
		st := NewState(StateConfig{TrackChanges: true})
		txn := baseTxn("t", t0)
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
		if _, err := json.Marshal(d); err != nil {
			t.Fatalf("decision does not encode: %v", err)
		}
	})
}

// FuzzObserve feeds arbitrary numbers through feature extraction, Evaluate
// and Observe. Nothing may panic, decisions must encode as JSON, and the
// state must stay finite: it must survive its own checkpoint (decoding
// rejects NaN and infinities).
func FuzzObserve(f *testing.F) {
	f.Add(42.5, 52.52, 13.405, true, int64(60), "dev-1", "DE", "card-1", 19.99, -18.1416, 178.4419, true, int64(0))
	f.Add(math.NaN(), 0.0, 0.0, false, int64(0), "", "", "", math.Inf(1), 91.0, 181.0, true, int64(-1))
	f.Add(math.Inf(-1), -90.0, -180.0, true, int64(math.MaxInt64), "d", "XX", "c", 1e300, 90.0, 180.0, true, int64(math.MinInt64))
	f.Add(-0.0, math.NaN(), math.Inf(1), true, int64(1), "d\x00", "DEUTSCHLAND", "c", 1e-300, math.Inf(-1), math.NaN(), true, int64(86400*365*300))

	rs := mustCompile(f, sampleSpec())
	f.Fuzz(func(t *testing.T, amount1, lat1, lon1 float64, geo1 bool, dt1 int64, device, country, card string,
		amount2, lat2, lon2 float64, geo2 bool, dt2 int64) {
		st := NewState(StateConfig{TrackChanges: true})
		history(rs, st, 6, 10, 20, 30)
		at := t0
		for i, in := range []struct {
			amount, lat, lon float64
			geo              bool
			dt               int64
		}{{amount1, lat1, lon1, geo1, dt1}, {amount2, lat2, lon2, geo2, dt2}} {
			at = at.Add(time.Duration(in.dt) * time.Second)
			txn := baseTxn("f"+string(rune('0'+i)), at)
			txn.Amount, txn.Lat, txn.Lon, txn.HasGeo = in.amount, in.lat, in.lon, in.geo
			txn.DeviceID, txn.Country, txn.CardFingerprint = device, country, card
			feats := rs.Features(&txn, st)
			if _, err := json.Marshal(feats.Detectors); err != nil && !math.IsNaN(in.amount) && !math.IsInf(in.amount, 0) {
				t.Fatalf("detectors not finite for a finite amount: %+v", feats.Detectors)
			}
			d := rs.Evaluate(&txn, st)
			if _, err := json.Marshal(d); err != nil {
				t.Fatalf("decision does not encode: %v", err)
			}
			rs.Observe(&txn, st, &d)
		}
		c := st.Customer("c-1")
		for _, v := range []float64{c.AmountMean, c.AmountM2, c.Total, c.Lat, c.Lon} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("state poisoned: %+v", c)
			}
		}
		snap, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := NewState(StateConfig{TrackChanges: true}).UnmarshalBinary(snap); err != nil {
			t.Fatalf("state does not survive a checkpoint: %v", err)
		}
	})
}

// FuzzRestore decodes arbitrary changelog records: errors are fine, panics
// and runaway allocations are not.
func FuzzRestore(f *testing.F) {
	_, st := busyState(f)
	seeds := 0
	_ = st.FlushChanges(func(key string, value []byte) error {
		if seeds++; seeds <= 40 {
			f.Add(key, value)
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		s := NewState(StateConfig{TrackChanges: true})
		if err := s.Restore(key, value); err != nil {
			return
		}
		if _, err := s.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}
