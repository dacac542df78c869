package segmentation

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestAnalyzeCDNOW(t *testing.T) {
	res, err := Analyze(cdnowCustomers(t), Week, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if res.CustomersScored != 2357 || len(res.Customers) != 2357 {
		t.Fatalf("scored %d customers, want 2357", res.CustomersScored)
	}
	total := 0
	for _, n := range res.Segments {
		total += n
	}
	if total != res.CustomersScored {
		t.Errorf("segment counts sum to %d, want %d", total, res.CustomersScored)
	}
	for _, r := range res.Customers {
		for _, v := range []float64{r.PAlive, r.ExpectedPurchases, r.CLV} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("customer %s: bad value in %+v", r.CustomerID, r)
			}
		}
		if r.PAlive > 1 || r.RScore < 1 || r.RScore > 5 || r.FScore < 1 || r.FScore > 5 || r.MScore < 1 || r.MScore > 5 {
			t.Fatalf("customer %s: out of range %+v", r.CustomerID, r)
		}
		if r.Frequency == 0 && r.PAlive != 1 {
			t.Errorf("customer %s: one-time buyer with P(alive) %v", r.CustomerID, r.PAlive)
		}
	}
	// CLV grows with the horizon and falls with the discount rate.
	c := res.Customers[0]
	clv := func(periods int, rate float64) float64 {
		m, err := Fit(NewFitInput(Week, cdnowCustomers(t)), Config{CLV: CLVConfig{Periods: periods, DiscountRate: &rate}})
		if err != nil {
			t.Fatal(err)
		}
		cust := Customer{ID: c.CustomerID, Frequency: c.Frequency, Recency: c.Recency, T: c.T, Monetary: c.Monetary, Spend: c.Spend}
		return m.ScoreCustomer(&cust).CLV
	}
	if base := clv(12, 0.01); !(clv(24, 0.01) > base && clv(12, 0.05) < base && clv(12, 0) > base) {
		t.Errorf("CLV not monotone in periods and discount rate")
	}
	// Undiscounted CLV is the expected value times expected purchases.
	m, _ := Fit(NewFitInput(Week, cdnowCustomers(t)), Config{})
	zero := 0.0
	m.Config.CLV = CLVConfig{Periods: 12, PeriodLength: 30.0 / 7, DiscountRate: &zero}
	cust := Customer{ID: c.CustomerID, Frequency: c.Frequency, Recency: c.Recency, T: c.T, Monetary: c.Monetary, Spend: c.Spend}
	want := m.GammaGamma.ExpectedValue(c.Frequency, c.Monetary) * m.BGNBD.ExpectedPurchases(360.0/7, c.Frequency, c.Recency, c.T)
	if got := m.ScoreCustomer(&cust).CLV; math.Abs(got-want) > 1e-9*want {
		t.Errorf("undiscounted CLV %v, want %v", got, want)
	}
}

func TestResultJSONAndCSV(t *testing.T) {
	res, err := Analyze(cdnowCustomers(t), Week, Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	bg := generic["bgnbd"].(map[string]any)
	for _, k := range []string{"r", "alpha", "a", "b", "logLikelihood"} {
		if _, ok := bg[k]; !ok {
			t.Errorf("bgnbd lacks %q: %v", k, bg)
		}
	}
	gg := generic["gammaGamma"].(map[string]any)
	for _, k := range []string{"p", "q", "v"} {
		if _, ok := gg[k]; !ok {
			t.Errorf("gammaGamma lacks %q: %v", k, gg)
		}
	}
	if generic["customersScored"].(float64) != 2357 || generic["segments"] == nil {
		t.Errorf("bad summary fields: %v %v", generic["customersScored"], generic["segments"])
	}
	row := generic["customers"].([]any)[0].(map[string]any)
	for _, k := range csvHeader {
		if _, ok := row[k]; !ok {
			t.Errorf("row lacks %q: %v", k, row)
		}
	}

	var buf bytes.Buffer
	if err := WriteCSV(&buf, res.Customers); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "customer_id,frequency,recency,T,monetary,spend,p_alive,expected_purchases,clv,r_score,f_score,m_score,segment" {
		t.Errorf("CSV header %v", recs[0])
	}
	if len(recs) != 2358 {
		t.Fatalf("%d CSV records, want 2358", len(recs))
	}
	r0 := res.Customers[0]
	if p, _ := strconv.ParseFloat(recs[1][6], 64); recs[1][0] != r0.CustomerID || p != r0.PAlive || recs[1][12] != r0.Segment {
		t.Errorf("first CSV row %v, want %+v", recs[1], r0)
	}
}
