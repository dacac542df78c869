package segmentation

import (
	"math/rand/v2"
	"strconv"

	"gonum.org/v1/gonum/stat/distuv"
)

// SimParams are the population parameters Simulate draws customers from.
type SimParams struct {
	// BGNBD drives purchases and dropout: each customer's purchase rate is
	// Gamma(R, Alpha) and dropout probability Beta(A, B), in weeks.
	BGNBD BGNBD
	// GammaGamma drives transaction values: each customer's scale is
	// Gamma(Q, V) and each value Gamma(P, scale).
	GammaGamma GammaGamma
	// MaxAgeDays bounds the customers' ages: each first purchase lies a
	// uniform whole number of days in [0, MaxAgeDays) before the end of
	// the calibration period. Zero means 365.
	MaxAgeDays int
}

// CDNOWSimParams are the BG/NBD and gamma-gamma estimates of the CDNOW
// data set (Fader, Hardie and Lee 2005), in weeks, with ages up to a year:
// a realistic population for tests and benchmarks.
var CDNOWSimParams = SimParams{
	BGNBD:      BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
	GammaGamma: GammaGamma{P: 6.25, Q: 3.74, V: 15.44},
	MaxAgeDays: 365,
}

// Simulate draws n synthetic customers, in weeks, straight from the BG/NBD
// and gamma-gamma processes: for each, an age T in whole days up to
// MaxAgeDays, continuous repeat purchase times in (0, T] and a value per
// purchase. The customers are named "c0", "c1", ...; the same parameters,
// n and seed give the same customers. It is for tests, benchmarks and
// demos: Fit on its output recovers the parameters.
//
// Purchases are not merged by calendar day as an Accumulator would merge
// them, so the draws follow the models exactly.
func Simulate(p SimParams, n int, seed uint64) []Customer {
	maxAge := p.MaxAgeDays
	if maxAge <= 0 {
		maxAge = 365
	}
	s := newSimulator(seed, p.BGNBD, p.GammaGamma)
	out := make([]Customer, n)
	for i := range out {
		T := float64(s.rng.IntN(maxAge)) / 7
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
