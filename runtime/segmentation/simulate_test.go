package segmentation

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// truth are the parameters synthetic customers are drawn from: the CDNOW
// estimates, in weeks.
var (
	truthBG = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	truthGG = GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
)

// simulator draws customers from the BG/NBD and gamma-gamma processes.
type simulator struct {
	rng            *rand.Rand
	rate, drop, nu func() float64
	valueShape     float64
}

func newSimulator(seed uint64, bg BGNBD, gg GammaGamma) *simulator {
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	s := &simulator{rng: rand.New(src), valueShape: gg.P}
	s.rate = distuv.Gamma{Alpha: bg.R, Beta: bg.Alpha, Src: src}.Rand
	s.drop = distuv.Beta{Alpha: bg.A, Beta: bg.B, Src: src}.Rand
	s.nu = distuv.Gamma{Alpha: gg.Q, Beta: gg.V, Src: src}.Rand
	return s
}

// purchases returns the repeat purchase times in (0, until] of one customer
// whose first purchase is at 0, and whether the customer is still alive at
// split (a time <= until). While alive, purchases come at Poisson rate
// lambda; right after each repeat purchase the customer drops out with
// probability p (FHL 2005, section 3).
func (s *simulator) purchases(until, split float64) (times []float64, aliveAtSplit bool) {
	lambda, p := s.rate(), s.drop()
	t := 0.0
	for {
		t += s.rng.ExpFloat64() / lambda
		if t > until {
			return times, true
		}
		times = append(times, t)
		if s.rng.Float64() < p {
			return times, t > split
		}
	}
}

// values returns n transaction values of one customer.
func (s *simulator) values(n int) []float64 {
	nu := s.nu()
	g := distuv.Gamma{Alpha: s.valueShape, Beta: nu, Src: s.rng}
	out := make([]float64, n)
	for i := range out {
		out[i] = g.Rand()
	}
	return out
}

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

// simulateCustomers draws n customers in weeks straight from the models:
// ages are whole days up to a year, purchase times continuous. (Summarising
// by calendar day merges same-day purchases, which the BG/NBD does not
// model; with the heavy-tailed CDNOW rates that alone moves alpha by ~7%,
// so parameter recovery is checked on undisturbed draws.)
func simulateCustomers(n int, seed uint64) []Customer {
	s := newSimulator(seed, truthBG, truthGG)
	out := make([]Customer, n)
	for i := range out {
		T := float64(s.rng.IntN(365)) / 7
		times, _ := s.purchases(T, 0)
		vals := s.values(len(times) + 1)
		c := Customer{ID: "c" + strconv.Itoa(i), Frequency: len(times), T: T, Spend: vals[0]}
		for j, t := range times {
			c.Recency = t
			c.Monetary += vals[j+1]
		}
		c.Spend += c.Monetary
		if c.Frequency > 0 {
			c.Monetary /= float64(c.Frequency)
		}
		out[i] = c
	}
	return out
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
