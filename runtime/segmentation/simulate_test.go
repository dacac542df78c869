package segmentation

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// truth are the parameters synthetic customers are drawn from: the CDNOW
// estimates, in weeks.
var (
	truthBG = CDNOWSimParams.BGNBD
	truthGG = CDNOWSimParams.GammaGamma
)

// simEnd is the calibration end of synthetic data.
var simEnd = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)

// simulateAccumulator draws n customers acquired uniformly over the year up
// to simEnd, with purchases at whole days, and accumulates them.
func simulateAccumulator(tb testing.TB, n int, seed uint64) *Accumulator {
	tb.Helper()
	s := newSimulator(seed, truthBG, truthGG)
	acc := NewAccumulator(simEnd)
	for i := range n {
		id := "c" + strconv.Itoa(i)
		ageDays := s.rng.IntN(365)
		first := simEnd.AddDate(0, 0, -ageDays)
		times, _ := s.purchases(float64(ageDays)/7, 0)
		vals := s.values(len(times) + 1)
		add := func(t time.Time, v float64) {
			if err := acc.Add(id, t, v); err != nil {
				tb.Fatal(err)
			}
		}
		add(first.Add(10*time.Hour), vals[0])
		for j, w := range times {
			// Whole days: a purchase at 3.2 days is on day 3.
			add(first.Add(time.Duration(w*7*24)*time.Hour), vals[j+1])
		}
	}
	return acc
}

// simulateCustomers draws n customers in weeks straight from the models
// (Simulate with the CDNOW parameters). Summarising by calendar day merges
// same-day purchases, which the BG/NBD does not model; with the
// heavy-tailed CDNOW rates that alone moves alpha by ~7%, so parameter
// recovery is checked on undisturbed draws.
func simulateCustomers(n int, seed uint64) []Customer {
	return Simulate(CDNOWSimParams, n, seed)
}

var (
	sim100kOnce sync.Once
	sim100k     []Customer
)

// simulated100k returns 100,000 synthetic customers, built once.
func simulated100k() []Customer {
	sim100kOnce.Do(func() { sim100k = simulateCustomers(100_000, 1) })
	return sim100k
}

// TestSimulateDeterministic checks that Simulate gives the same customers
// for the same seed, different ones for another, and that MaxAgeDays
// bounds T.
func TestSimulateDeterministic(t *testing.T) {
	a := Simulate(CDNOWSimParams, 1000, 7)
	b := Simulate(CDNOWSimParams, 1000, 7)
	c := Simulate(CDNOWSimParams, 1000, 8)
	same, differ := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
	}
	if !same {
		t.Error("same seed gave different customers")
	}
	if !differ {
		t.Error("different seeds gave the same customers")
	}
	p := CDNOWSimParams
	p.MaxAgeDays = 30
	for _, cu := range Simulate(p, 1000, 7) {
		if cu.T < 0 || cu.T >= 30.0/7 || cu.Recency > cu.T || cu.Frequency < 0 {
			t.Fatalf("customer out of bounds with MaxAgeDays 30: %+v", cu)
		}
	}
}
