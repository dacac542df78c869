package fraud

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFeedbackPrecision(t *testing.T) {
	h := NewHolder(WithClock(fixedClock))
	spec := scoreSpec(
		rule("big", "txn.amount > 100.0", 60, ""),
		rule("trial", "txn.amount > 500.0", 10, "shadow"),
	)
	if _, err := h.Update("rs", 1, spec); err != nil {
		t.Fatal(err)
	}
	st := NewState(StateConfig{})
	var alerts []string
	for i, amount := range []float64{150, 600, 700, 200, 50} {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Minute))
		txn.Amount = amount
		d, _ := h.Process(&txn, st)
		alerts = append(alerts, d.AlertID)
	}
	if alerts[4] != "" {
		t.Fatalf("a 50 payment raised alert %s", alerts[4])
	}
	labels := []Label{LabelLegit, LabelFraud, LabelFraud, LabelLegit}
	for i, l := range labels {
		if err := st.ApplyFeedback(Feedback{AlertID: alerts[i], Label: l}, h.Stats()); err != nil {
			t.Fatal(err)
		}
	}
	// Redelivered feedback changes nothing.
	if err := st.ApplyFeedback(Feedback{AlertID: alerts[1], Label: LabelFraud}, h.Stats()); err != nil {
		t.Fatal(err)
	}
	big, _ := h.Stats().Rule("big")
	trial, _ := h.Stats().Rule("trial")
	if p, ok := big.Precision(); !ok || p != 0.5 || big.ConfirmedFraud != 2 || big.ConfirmedLegit != 2 {
		t.Errorf("big: %+v precision %v", big, p)
	}
	if p, ok := trial.Precision(); !ok || p != 1 || trial.ShadowHits != 2 {
		t.Errorf("trial: %+v precision %v", trial, p)
	}
	if s := big.Status(); s.Precision != "0.500" || s.Hits != 4 || s.LastHitTime == nil {
		t.Errorf("status = %+v", s)
	}
	m := st.Merchant("m-1")
	if m.ConfirmedFraud != 2 || m.ConfirmedLegit != 2 || m.Alerts != 4 || m.Transactions != 5 {
		t.Errorf("merchant = %+v", m)
	}

	// An analyst corrects a verdict: counts move, they do not double.
	if err := st.ApplyFeedback(Feedback{AlertID: alerts[0], Label: LabelFraud}, h.Stats()); err != nil {
		t.Fatal(err)
	}
	big, _ = h.Stats().Rule("big")
	if big.ConfirmedFraud != 3 || big.ConfirmedLegit != 1 || st.Merchant("m-1").ConfirmedFraud != 3 {
		t.Errorf("after relabel: %+v, merchant %+v", big, st.Merchant("m-1"))
	}

	if err := st.ApplyFeedback(Feedback{AlertID: "nope", Label: LabelFraud}, h.Stats()); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("unknown alert: %v", err)
	}
	if err := st.ApplyFeedback(Feedback{AlertID: alerts[0], Label: "maybe"}, h.Stats()); err == nil {
		t.Error("invalid label accepted")
	}
}

func TestFeedbackRaisesMerchantRisk(t *testing.T) {
	rs := mustCompile(t, scoreSpec(rule("big", "txn.amount > 100.0", 60, "")))
	st := NewState(StateConfig{})
	before := st.Merchant("m-1").Risk()
	for i := range 20 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Minute))
		txn.Amount = 500
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
		if err := st.ApplyFeedback(Feedback{AlertID: d.AlertID, Label: LabelFraud}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// precision 21/22; expected 20; (20 + 1) / (20 + 100) = 0.175.
	txn := baseTxn("next", t0.Add(time.Hour))
	got := rs.Features(&txn, st).Detectors.MerchantRisk
	if before != 0.01 || got < 0.1749 || got > 0.1751 {
		t.Errorf("merchant risk %v -> %v, want 0.01 -> 0.175", before, got)
	}
}

func TestAlertLogIsBounded(t *testing.T) {
	rs := mustCompile(t, scoreSpec(rule("all", "true", 60, "")))
	st := NewState(StateConfig{MaxAlerts: 100})
	var ids []string
	for i := range 1000 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Second))
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
		ids = append(ids, d.AlertID)
	}
	if n := st.Size().Alerts; n != 100 {
		t.Errorf("%d alerts kept, bound is 100", n)
	}
	if err := st.ApplyFeedback(Feedback{AlertID: ids[0], Label: LabelFraud}, nil); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("oldest alert still known: %v", err)
	}
	if err := st.ApplyFeedback(Feedback{AlertID: ids[999], Label: LabelFraud}, nil); err != nil {
		t.Errorf("newest alert forgotten: %v", err)
	}
	if len(st.alerts.order)-st.alerts.head > 2*100+1024 {
		t.Errorf("eviction order grows: %d entries", len(st.alerts.order)-st.alerts.head)
	}
	// A replayed transaction replaces its alert, keeping the label.
	txn := baseTxn("t999", t0.Add(999*time.Second))
	d := rs.Evaluate(&txn, st)
	rs.Observe(&txn, st, &d)
	if a := st.alerts.get(ids[999]); a == nil || a.label != labelFraud || st.Size().Alerts != 100 {
		t.Errorf("replay lost the label or grew the log: %+v", a)
	}
}

// TestAlertLogTellsCollidingIDsApart: alert IDs that share their log key
// (an AlertID's first 16 hex digits), and IDs AlertID does not make, are
// each kept, found, labelled, replaced, snapshotted and forgotten in their
// turn like any other.
func TestAlertLogTellsCollidingIDsApart(t *testing.T) {
	rs := mustCompile(t, scoreSpec(rule("all", "true", 60, "")))
	st := NewState(StateConfig{MaxAlerts: 4})
	record := func(at time.Time) []byte {
		var e encoder
		(&alertEntry{rules: []string{"all"}, merchant: "m-1", at: unixNano(at)}).marshal(&e)
		return e.b
	}
	first := AlertID("rs", 1, "restored")
	twin := first[:16] + strings.Repeat("0", 16) // same key
	if twin == first || alertKey(twin) != alertKey(first) {
		t.Fatal("the test wants two IDs with one key")
	}
	upper := strings.ToUpper(first)
	ids := []string{"odd", first, twin, upper}
	for i, id := range ids {
		if err := st.Restore("a/"+id, record(t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.Size().Alerts; n != 4 || len(st.alerts.other) != 1 {
		t.Fatalf("%d alerts restored (%d by their string), want 4 (1)", n, len(st.alerts.other))
	}
	for i, id := range ids {
		if a := st.alerts.get(id); a == nil || a.id != id || a.at != unixNano(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("alert %s: %+v", id, a)
		}
	}
	if err := st.ApplyFeedback(Feedback{AlertID: twin, Label: LabelFraud}, nil); err != nil {
		t.Errorf("feedback on the twin: %v", err)
	}
	if err := st.ApplyFeedback(Feedback{AlertID: upper, Label: LabelLegit}, nil); err != nil {
		t.Errorf("feedback on the upper-case ID: %v", err)
	}
	if st.alerts.get(first).label != labelNone || st.alerts.get(twin).label != labelFraud || st.alerts.get(upper).label != labelLegit {
		t.Error("feedback labelled the wrong alert")
	}
	var keys []string
	st.Keys(func(r EntryRef) {
		if r.rec == recAlert {
			keys = append(keys, r.Key())
		}
	})
	slices.Sort(keys)
	if want := []string{"a/" + upper, "a/" + twin, "a/" + first, "a/odd"}; !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}

	// The first one goes (a tombstone); the twin, replaced, stays one
	// entry with its label.
	if err := st.Restore("a/"+first, nil); err != nil {
		t.Fatal(err)
	}
	st.alerts.put(st, twin, &alertEntry{rules: []string{"all"}, at: unixNano(t0.Add(5 * time.Second))}, false)
	if n := st.Size().Alerts; n != 3 || st.alerts.get(first) != nil || st.alerts.get(twin).label != labelFraud {
		t.Fatalf("after removing the first and replacing the twin: %d alerts, twin %+v", n, st.alerts.get(twin))
	}
	st.alerts.put(st, first, &alertEntry{rules: []string{"all"}, at: unixNano(t0.Add(6 * time.Second))}, false)
	if n := st.Size().Alerts; n != 4 || st.alerts.get(first) == nil {
		t.Fatalf("the first one back: %d alerts", n)
	}

	// A snapshot keeps them all, in the order of their event times.
	snap, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := NewState(StateConfig{MaxAlerts: 4})
	if err := back.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if again, _ := back.MarshalBinary(); string(again) != string(snap) {
		t.Error("the restored snapshot encodes differently")
	}

	// New alerts push the others out, oldest first.
	for _, s := range []*State{st, back} {
		order := []string{"odd", upper, twin, first}
		for i := range order {
			txn := baseTxn(fmt.Sprint("n", i), t0.Add(time.Minute+time.Duration(i)*time.Second))
			d := rs.Evaluate(&txn, s)
			rs.Observe(&txn, s, &d)
			for j, id := range order {
				if gone := s.alerts.get(id) == nil; gone != (j <= i) {
					t.Errorf("after %d new alerts, %s gone: %v", i+1, id, gone)
				}
			}
			if n := s.Size().Alerts; n != 4 {
				t.Errorf("%d alerts kept, bound is 4", n)
			}
		}
	}

	// Expiry forgets the twins as well.
	for i, id := range []string{first, twin} {
		if err := st.Restore("a/"+id, record(t0.Add(2*time.Minute+time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	st.Expire(t0.Add(2*time.Minute + st.cfg.AlertTTL + 2*time.Second))
	if n := st.Size().Alerts; n != 0 || len(st.alerts.otherIDs) != 0 {
		t.Errorf("after expiry %d alerts and %d refs by string are left", n, len(st.alerts.otherIDs))
	}
}
