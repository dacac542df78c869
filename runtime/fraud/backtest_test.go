package fraud

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// syntheticStream makes a day of traffic: ordinary customers paying from
// home, plus three fraud patterns the sample rules target.
func syntheticStream(seed uint64) []LabeledTransaction {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []LabeledTransaction
	add := func(t Transaction, fraud bool, pattern string) {
		out = append(out, LabeledTransaction{Transaction: t, Labeled: true, Fraud: fraud, Pattern: pattern})
	}
	n := 0
	next := func(customer string, at time.Time) Transaction {
		n++
		t := baseTxn(fmt.Sprint("s", n), at)
		t.CustomerID = customer
		t.CardFingerprint = "card-" + customer
		t.DeviceID = "dev-" + customer
		t.MerchantID = fmt.Sprint("m", rng.IntN(20))
		t.Amount = 20 + rng.Float64()*60
		return t
	}
	// 200 customers, 10 ordinary payments each over 10 days.
	for c := range 200 {
		id := fmt.Sprint("c", c)
		for i := range 10 {
			add(next(id, t0.Add(time.Duration(i)*24*time.Hour+time.Duration(rng.IntN(3600))*time.Second)), false, "")
		}
	}
	day := t0.Add(11 * 24 * time.Hour)
	// Card testing: 8 payments of 1 within 8 minutes on a fresh card.
	for k := range 5 {
		for i := range 8 {
			t := next(fmt.Sprint("ct", k), day.Add(time.Duration(k)*time.Hour+time.Duration(i)*time.Minute))
			t.Amount = 1
			add(t, true, "card_testing")
		}
	}
	// Account takeover: an established customer, new device, abroad, big.
	for k := range 10 {
		t := next(fmt.Sprint("c", k), day.Add(time.Duration(k)*time.Minute))
		t.DeviceID, t.Country, t.Amount = "dev-evil", "NG", 950
		t.Lat, t.Lon = 6.52, 3.38
		add(t, true, "account_takeover")
	}
	// Impossible travel with an ordinary amount: Tokyo two hours after the
	// customer's last payment from Berlin.
	for k := 10; k < 20; k++ {
		t := next(fmt.Sprint("c", k), t0.Add(9*24*time.Hour+2*time.Hour))
		t.Lat, t.Lon = 35.68, 139.69
		add(t, true, "impossible_travel")
	}
	slices.SortStableFunc(out, func(a, b LabeledTransaction) int { return a.Transaction.EventTime.Compare(b.Transaction.EventTime) })
	return out
}

func TestBacktest(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	stream := syntheticStream(7)
	rep := Backtest(rs, slices.Values(stream), BacktestOptions{FeedbackDelay: time.Hour})

	if rep.Transactions != int64(len(stream)) || rep.Labeled != rep.Transactions || rep.Fraud != 60 {
		t.Fatalf("counts: %+v", rep)
	}
	recall := map[string]float64{}
	for _, p := range rep.Patterns {
		recall[p.Pattern] = p.Recall
	}
	// Card testing: the 5th to 8th payments of each burst hit (4 of 8).
	if recall["card_testing"] != 0.5 {
		t.Errorf("card_testing recall = %v, want 0.5", recall["card_testing"])
	}
	if recall["account_takeover"] != 1 {
		t.Errorf("account_takeover recall = %v, want 1", recall["account_takeover"])
	}
	if recall["impossible_travel"] != 1 {
		t.Errorf("impossible_travel recall = %v, want 1 (score 60 >= review 50)", recall["impossible_travel"])
	}
	if rep.Overall.FalsePositives != 0 || rep.Overall.Precision != 1 {
		t.Errorf("ordinary traffic raised alerts: %+v", rep.Overall)
	}
	wantRecall := float64(20+10+10) / 60
	if d := rep.Overall.Recall - wantRecall; d > 1e-12 || d < -1e-12 {
		t.Errorf("overall recall = %v, want %v", rep.Overall.Recall, wantRecall)
	}
	byRule := map[string]RuleBacktest{}
	for _, r := range rep.Rules {
		byRule[r.Rule] = r
	}
	if r := byRule["card-testing"]; r.Hits != 20 || r.Metrics.Precision != 1 {
		t.Errorf("card-testing: %+v", r)
	}
	if r := byRule["risky-merchant"]; r.Mode != "shadow" {
		t.Errorf("risky-merchant mode = %s", r.Mode)
	}
	if rep.FeedbackApplied == 0 {
		t.Error("no feedback applied")
	}
	if n := rs.Stats().Snapshot(); len(n) != 0 && n[0].Hits != 0 {
		t.Errorf("the backtest counted into the rule set's own stats: %+v", n)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	var m Metrics
	for _, c := range []struct{ p, a bool }{{true, true}, {true, true}, {true, false}, {false, true}, {false, false}} {
		m.add(c.p, c.a)
	}
	m.finish()
	// tp 2, fp 1, fn 1: precision 2/3, recall 2/3, F1 2/3.
	if m.TruePositives != 2 || m.FalsePositives != 1 || m.FalseNegatives != 1 || m.TrueNegatives != 1 ||
		m.Precision != 2.0/3 || m.Recall != 2.0/3 || m.F1 < 0.6666 || m.F1 > 0.6667 {
		t.Errorf("metrics = %+v", m)
	}
	var empty Metrics
	empty.finish()
	if empty.Precision != 0 || empty.Recall != 0 || empty.F1 != 0 {
		t.Errorf("empty metrics = %+v", empty)
	}
}
