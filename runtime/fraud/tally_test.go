package fraud

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestRuleTallies: tallies count each published hit once per rule, follow
// relabelled alerts, survive a snapshot and a changelog replay, and merge
// by summing.
func TestRuleTallies(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	st := NewState(StateConfig{TrackChanges: true})
	want := map[string]*RuleStats{}
	var alerts []string
	for i := range 300 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*37*time.Second))
		txn.CustomerID = fmt.Sprint("c", i%7)
		txn.CardFingerprint = fmt.Sprint("card", i%11)
		txn.DeviceID = fmt.Sprint("dev", i%5)
		txn.Country = []string{"DE", "FR", "US"}[i%3]
		txn.Amount = float64(1 + i%13)
		d := rs.Evaluate(&txn, st)
		if d.Publish() {
			d.AlertID = AlertID(rs.Name(), rs.Generation(), txn.ID)
			alerts = append(alerts, d.AlertID)
		}
		for _, h := range d.Hits {
			w := want[h.Rule]
			if w == nil {
				w = &RuleStats{Rule: h.Rule}
				want[h.Rule] = w
			}
			if h.Mode == "shadow" {
				w.ShadowHits++
			} else {
				w.Hits++
			}
			w.LastHit = txn.EventTime.UTC()
		}
		rs.Observe(&txn, st, &d)
	}
	if len(alerts) < 3 {
		t.Fatalf("only %d alerts", len(alerts))
	}
	fb := func(id string, l Label) {
		t.Helper()
		if err := st.ApplyFeedback(Feedback{AlertID: id, Label: l}, nil); err != nil {
			t.Fatal(err)
		}
	}
	fb(alerts[0], LabelFraud)
	fb(alerts[1], LabelLegit)
	fb(alerts[2], LabelLegit)
	fb(alerts[2], LabelFraud) // corrected verdict
	fb(alerts[2], LabelFraud) // redelivered
	labelled := map[string]int{}
	for _, id := range alerts[:3] {
		for _, r := range st.alerts.get(id).rules {
			labelled[r]++
		}
	}
	got := st.RuleTallies()
	if len(got) != len(want) {
		t.Fatalf("tallies for %d rules, want %d: %+v", len(got), len(want), got)
	}
	for _, r := range got {
		w := want[r.Rule]
		if r.Hits != w.Hits || r.ShadowHits != w.ShadowHits || !r.LastHit.Equal(w.LastHit) {
			t.Errorf("rule %s: %+v, want hits %d shadow %d last %v", r.Rule, r, w.Hits, w.ShadowHits, w.LastHit)
		}
		if r.ConfirmedFraud+r.ConfirmedLegit != int64(labelled[r.Rule]) {
			t.Errorf("rule %s: %d+%d labels, want %d", r.Rule, r.ConfirmedFraud, r.ConfirmedLegit, labelled[r.Rule])
		}
	}

	snap, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := NewState(StateConfig{TrackChanges: true})
	if err := back.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.RuleTallies(), got) {
		t.Errorf("after a snapshot round trip: %+v, want %+v", back.RuleTallies(), got)
	}
	replica := NewState(StateConfig{TrackChanges: true})
	if err := st.FlushChanges(replica.Restore); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replica.RuleTallies(), got) {
		t.Errorf("after a changelog replay: %+v, want %+v", replica.RuleTallies(), got)
	}

	merged := MergeRuleStats(got, got)
	for i, r := range merged {
		g := got[i]
		if r.Rule != g.Rule || r.Hits != 2*g.Hits || r.ConfirmedFraud != 2*g.ConfirmedFraud || !r.LastHit.Equal(g.LastHit) {
			t.Errorf("merged %+v from %+v twice", r, g)
		}
	}
}

// TestHitTalliesFollowRestore: the tallies hits count into are cached by
// rule index; a tally replaced or removed by Restore must not keep
// counting into the old one.
func TestHitTalliesFollowRestore(t *testing.T) {
	rs := mustCompile(t, scoreSpec(rule("always", "true", 10, "")))
	st := NewState(StateConfig{})
	hit := func(i int) {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Second))
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
	hits := func() int64 {
		for _, r := range st.RuleTallies() {
			if r.Rule == "always" {
				return r.Hits
			}
		}
		return -1
	}
	hit(0)
	hit(1)
	if n := hits(); n != 2 {
		t.Fatalf("%d hits tallied, want 2", n)
	}
	// A changelog record of ten hits replaces the tally.
	var e encoder
	(&ruleTally{hits: 10}).marshal(&e)
	if err := st.Restore("r/always", e.b); err != nil {
		t.Fatal(err)
	}
	hit(2)
	if n := hits(); n != 11 {
		t.Errorf("%d hits after restoring 10 and one more, want 11", n)
	}
	if err := st.Restore("r/always", nil); err != nil {
		t.Fatal(err)
	}
	hit(3)
	if n := hits(); n != 1 {
		t.Errorf("%d hits after removing the tally and one more, want 1", n)
	}
}
