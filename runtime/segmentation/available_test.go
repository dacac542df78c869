package segmentation

import (
	"strings"
	"testing"
	"time"
)

// With every part requested and the data fit for it, FitAvailable returns
// Fit's model.
func TestFitAvailableEqualsFitOnCDNOW(t *testing.T) {
	customers := cdnowCustomers(t)
	in := NewFitInput(Week, customers)
	want, err := Fit(in, Config{})
	if err != nil {
		t.Fatal(err)
	}
	got, notes, err := FitAvailable(in, Config{}, Parts{Churn: true, Value: true, MinCustomers: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got.NoChurn || got.NoValue || notes != (FitNotes{}) {
		t.Fatalf("parts left out: %+v, %+v", got, notes)
	}
	if got.BGNBD != want.BGNBD || got.GammaGamma != want.GammaGamma {
		t.Errorf("FitAvailable %+v %+v, Fit %+v %+v", got.BGNBD, got.GammaGamma, want.BGNBD, want.GammaGamma)
	}
}

// Customers without repeat purchases still get RFM segments; the churn and
// value parts are left out with the reason, and rows carry no P(alive) or
// CLV.
func TestFitAvailableWithoutRepeatBuyers(t *testing.T) {
	var customers []Customer
	for i := range 200 {
		customers = append(customers, Customer{ID: string(rune('a'+i%26)) + strings.Repeat("x", i/26), T: float64(i % 7), Spend: float64(1 + i%50)})
	}
	m, notes, err := FitAvailable(NewFitInput(Day, customers), Config{}, Parts{Churn: true, Value: true, MinCustomers: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !m.NoChurn || !m.NoValue || !strings.Contains(notes.Churn, "repeat purchase") || notes.Value == "" {
		t.Fatalf("model %+v, notes %+v: want RFM only, with reasons", m, notes)
	}
	rows := m.Score(customers)
	scores := map[int]bool{}
	for _, r := range rows {
		if r.PAlive != 0 || r.CLV != 0 || r.ExpectedPurchases != 0 || r.Segment == "" {
			t.Fatalf("row %+v: want a segment and no churn figures", r)
		}
		scores[r.MScore] = true
	}
	if len(scores) < 2 {
		t.Errorf("monetary scores %v: want the spends ranked", scores)
	}

	few, notes, err := FitAvailable(NewFitInput(Day, customers[:20]), Config{}, Parts{Churn: true, MinCustomers: 100})
	if err != nil || !few.NoChurn || !strings.Contains(notes.Churn, "fewer than the 100") {
		t.Errorf("20 customers with minCustomers 100: %+v, %v", notes, err)
	}
}

func TestCustomerOfStandings(t *testing.T) {
	end := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	acc := NewAccumulator(end.AddDate(1, 0, 0))
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, p := range []struct {
		id, day string
		amount  float64
	}{
		{"in", "2025-06-01", 10}, {"in", "2025-06-01", 5}, {"in", "2025-06-15", 20}, {"in", "2025-06-30", 30},
		{"later", "2025-07-01", 10},
		{"both", "2025-06-10", 10}, {"both", "2025-07-10", 10},
	} {
		if err := acc.Add(p.id, day(p.day).Add(13*time.Hour), p.amount); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id   string
		want Standing
	}{{"in", Calibrated}, {"later", NotYetAcquired}, {"both", PurchasedAfterEnd}} {
		s, _ := acc.Summary(tc.id)
		c, st := CustomerOf(tc.id, &s, end, Day)
		if st != tc.want {
			t.Errorf("%s: standing %v, want %v", tc.id, st, tc.want)
		}
		if tc.id == "in" && (c.Frequency != 2 || c.Recency != 29 || c.T != 29 || c.Monetary != 25 || c.Spend != 65) {
			t.Errorf("in: %+v, want x=2 t_x=29 T=29 monetary=25 spend=65", c)
		}
	}
}
