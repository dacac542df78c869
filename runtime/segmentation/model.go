package segmentation

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Config tunes the scoring. Zero fields take the documented defaults.
type Config struct {
	// Horizon is the period, in the fit's unit, over which expected purchases
	// are reported. Defaults to one year (365 days, 365/7 weeks).
	Horizon float64 `json:"horizon,omitempty"`
	// CLV configures customer lifetime value.
	CLV CLVConfig `json:"clv,omitzero"`
	// RFM configures RFM scores and segments.
	RFM RFMConfig `json:"rfm,omitzero"`
}

// CLVConfig configures customer lifetime value.
//
// CLV is the discounted expected value of a customer's purchases over
// Periods periods of PeriodLength each (the discrete-period form of Fader,
// Hardie & Lee 2005, "RFM and CLV", with the BG/NBD for the purchase counts):
//
//	CLV = E[Z | x, m] · Σ_{k=1..K} (E[Y(kΔ)] - E[Y((k-1)Δ)]) / (1+d)^k
//
// where E[Y(t)] is the BG/NBD expected number of purchases in (T, T+t],
// E[Z | x, m] the gamma-gamma expected transaction value, Δ the period
// length and d the discount rate per period: purchases expected in period
// k are discounted as if they happened at its end.
type CLVConfig struct {
	// Periods is the number of periods K. Defaults to 12.
	Periods int `json:"periods,omitempty"`
	// PeriodLength is the length Δ of one period in the fit's unit. Defaults
	// to 30 days (30/7 weeks).
	PeriodLength float64 `json:"periodLength,omitempty"`
	// DiscountRate is the discount rate d per period. Defaults to 0.01 when
	// nil (about 12.7% a year for monthly periods).
	DiscountRate *float64 `json:"discountRate,omitempty"`
}

// RFMConfig configures RFM scores and segments.
type RFMConfig struct {
	// Bins is the number of score values N; scores run 1..N. Defaults to 5.
	Bins int `json:"bins,omitempty"`
	// Rules are the segment rules, tried in order; the first match wins.
	// Defaults to DefaultSegmentRules(Bins).
	Rules []SegmentRule `json:"rules,omitempty"`
	// Fallback names customers no rule matches. Defaults to "Other".
	Fallback string `json:"fallback,omitempty"`
}

// withDefaults returns c with defaults filled for unit u, or an error.
func (c Config) withDefaults(u Unit) (Config, error) {
	if err := u.Validate(); err != nil {
		return c, err
	}
	if c.Horizon == 0 {
		c.Horizon = 365 / u.days()
	}
	if c.CLV.Periods == 0 {
		c.CLV.Periods = 12
	}
	if c.CLV.PeriodLength == 0 {
		c.CLV.PeriodLength = 30 / u.days()
	}
	if c.CLV.DiscountRate == nil {
		d := 0.01
		c.CLV.DiscountRate = &d
	} else {
		d := *c.CLV.DiscountRate
		c.CLV.DiscountRate = &d
	}
	if c.RFM.Bins == 0 {
		c.RFM.Bins = DefaultBins
	}
	if c.RFM.Rules == nil {
		c.RFM.Rules = DefaultSegmentRules(c.RFM.Bins)
	} else {
		c.RFM.Rules = slices.Clone(c.RFM.Rules)
	}
	if c.RFM.Fallback == "" {
		c.RFM.Fallback = DefaultFallbackSegment
	}
	switch {
	case !(c.Horizon > 0) || math.IsInf(c.Horizon, 0):
		return c, fmt.Errorf("horizon must be positive, got %v", c.Horizon)
	case c.CLV.Periods < 0 || c.CLV.Periods > 10000:
		return c, fmt.Errorf("clv.periods must be within 1..10000, got %d", c.CLV.Periods)
	case !(c.CLV.PeriodLength > 0) || math.IsInf(c.CLV.PeriodLength, 0):
		return c, fmt.Errorf("clv.periodLength must be positive, got %v", c.CLV.PeriodLength)
	case !(*c.CLV.DiscountRate > -1) || math.IsInf(*c.CLV.DiscountRate, 0):
		return c, fmt.Errorf("clv.discountRate must be > -1, got %v", *c.CLV.DiscountRate)
	case c.RFM.Bins < 1 || c.RFM.Bins > 100:
		return c, fmt.Errorf("rfm.bins must be within 1..100, got %d", c.RFM.Bins)
	}
	if err := validateRules(c.RFM.Rules, c.RFM.Bins); err != nil {
		return c, err
	}
	return c, nil
}

// Model is everything needed to score customers: the fitted BG/NBD and
// gamma-gamma models, the RFM thresholds and the scoring configuration. It
// is small and JSON-serialisable, so a fitting replica can hand it to the
// others.
type Model struct {
	// Unit is the time unit of the fit.
	Unit Unit `json:"unit"`
	// Customers is the number of customers fitted.
	Customers int `json:"customers"`
	// BGNBD is the purchase and dropout model.
	BGNBD BGNBD `json:"bgnbd"`
	// GammaGamma is the transaction value model.
	GammaGamma GammaGamma `json:"gammaGamma"`
	// RFM holds the score thresholds.
	RFM RFMModel `json:"rfm"`
	// Config is the scoring configuration, defaults filled in.
	Config Config `json:"config"`
	// NoChurn is set when the model has no BG/NBD part (FitAvailable could
	// not fit it or was told to skip it): rows then carry no P(alive),
	// expected purchases or CLV.
	NoChurn bool `json:"noChurn,omitempty"`
	// NoValue is set when the model has no gamma-gamma part: rows then carry
	// no CLV.
	NoValue bool `json:"noValue,omitempty"`
}

// Fit fits the models to a fit input, which it does not modify. The input
// is canonicalised first, so any split into merged parts gives the same
// model bit for bit.
func Fit(in *FitInput, cfg Config) (*Model, error) {
	cfg, err := cfg.withDefaults(in.Unit)
	if err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	c := in.Clone()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid fit input: %w", err)
	}
	c.Canonicalize()
	m := &Model{Unit: c.Unit, Customers: c.Customers(), Config: cfg}
	if m.BGNBD, err = FitBGNBD(c.Triples); err != nil {
		return nil, err
	}
	if m.GammaGamma, err = FitGammaGamma(c.Values); err != nil {
		return nil, err
	}
	m.RFM = newRFMModel(c, cfg.RFM.Bins)
	return m, nil
}

// Row is one scored customer.
type Row struct {
	// CustomerID identifies the customer.
	CustomerID string `json:"customer_id"`
	// Frequency is the number of repeat purchase days, x.
	Frequency int `json:"frequency"`
	// Recency is the time from first to last purchase day, t_x.
	Recency float64 `json:"recency"`
	// T is the time from the first purchase day to the calibration end.
	T float64 `json:"T"`
	// Monetary is the mean value of repeat purchase days.
	Monetary float64 `json:"monetary"`
	// Spend is the total value of all purchase days; the monetary score
	// ranks it.
	Spend float64 `json:"spend"`
	// PAlive is the probability that the customer is still active.
	PAlive float64 `json:"p_alive"`
	// ExpectedPurchases is the expected number of purchases over the horizon.
	ExpectedPurchases float64 `json:"expected_purchases"`
	// CLV is the discounted expected value over the CLV periods.
	CLV float64 `json:"clv"`
	// RScore is the recency score, higher for more recent buyers.
	RScore int `json:"r_score"`
	// FScore is the frequency score.
	FScore int `json:"f_score"`
	// MScore is the monetary score.
	MScore int `json:"m_score"`
	// Segment is the name of the first matching segment rule.
	Segment string `json:"segment"`
}

// ScoreCustomer scores one customer.
func (m *Model) ScoreCustomer(c *Customer) Row {
	return newScorer(m, false).score(c)
}

// scorer scores customers for one goroutine.
type scorer struct {
	m *Model
	// ts holds the horizon and then the end of each CLV period.
	ts, alive []float64
	// discount[k] is 1/(1+d)^(k+1).
	discount []float64
	// memo caches the parts of a row that depend on (x, T) only; with
	// whole-day times many customers share them. nil disables it.
	memo map[xT]aliveValues
}

type xT struct {
	x int
	T float64
}

// aliveValues are the expected purchases over the horizon and the
// discounted sum of expected purchases per CLV period, for a customer known
// to be alive.
type aliveValues struct{ purchases, discounted float64 }

// maxMemo bounds the memo of one scorer.
const maxMemo = 1 << 16

func newScorer(m *Model, memo bool) *scorer {
	clv := &m.Config.CLV
	s := &scorer{
		m:        m,
		ts:       make([]float64, clv.Periods+1),
		alive:    make([]float64, clv.Periods+1),
		discount: make([]float64, clv.Periods),
	}
	s.ts[0] = m.Config.Horizon
	f := 1.0
	for k := range clv.Periods {
		s.ts[k+1] = float64(k+1) * clv.PeriodLength
		f /= 1 + *clv.DiscountRate
		s.discount[k] = f
	}
	if memo {
		s.memo = make(map[xT]aliveValues)
	}
	return s
}

func (s *scorer) aliveValues(x int, T float64) aliveValues {
	key := xT{x, T}
	if v, ok := s.memo[key]; ok {
		return v
	}
	s.m.BGNBD.expectedPurchasesAliveAt(s.ts, x, T, s.alive)
	v := aliveValues{purchases: s.alive[0]}
	prev := 0.0
	for k, cur := range s.alive[1:] {
		v.discounted += (cur - prev) * s.discount[k]
		prev = cur
	}
	if s.memo != nil {
		if len(s.memo) >= maxMemo {
			clear(s.memo)
		}
		s.memo[key] = v
	}
	return v
}

func (s *scorer) score(c *Customer) Row {
	m := s.m
	row := Row{
		CustomerID: c.ID,
		Frequency:  c.Frequency,
		Recency:    c.Recency,
		T:          c.T,
		Monetary:   c.Monetary,
		Spend:      c.Spend,
	}
	row.RScore, row.FScore, row.MScore = m.RFM.Scores(c)
	row.Segment = SegmentOf(m.Config.RFM.Rules, m.Config.RFM.Fallback, row.RScore, row.FScore, row.MScore)
	if m.NoChurn {
		return row
	}
	// E[Y(t)] = P(alive) · E[Y(t) | alive], and the latter depends on
	// (x, T) only.
	row.PAlive = m.BGNBD.PAlive(c.Frequency, c.Recency, c.T)
	av := s.aliveValues(c.Frequency, c.T)
	row.ExpectedPurchases = row.PAlive * av.purchases
	mean := c.Monetary
	if !(mean > 0) {
		mean = 0
	}
	if !m.NoValue {
		row.CLV = m.GammaGamma.ExpectedValue(c.Frequency, mean) * row.PAlive * av.discounted
	}
	return row
}

// Score scores customers into rows[i] for customers[i], in parallel over
// GOMAXPROCS goroutines. Rows do not depend on each other or on how the
// work is split.
func (m *Model) Score(customers []Customer) []Row {
	rows := make([]Row, len(customers))
	const chunk = 4096
	workers := min(runtime.GOMAXPROCS(0), (len(customers)+chunk-1)/chunk)
	if workers <= 1 {
		s := newScorer(m, true)
		for i := range customers {
			rows[i] = s.score(&customers[i])
		}
		return rows
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next int
	)
	for range workers {
		wg.Go(func() {
			s := newScorer(m, true)
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= len(customers) {
					return
				}
				for i := lo; i < min(lo+chunk, len(customers)); i++ {
					rows[i] = s.score(&customers[i])
				}
			}
		})
	}
	wg.Wait()
	return rows
}

// Analyze fits the models to customers summarised in unit u and scores
// them: the single-process path of the `ecap segment` command.
func Analyze(customers []Customer, u Unit, cfg Config) (*Result, error) {
	if len(customers) == 0 {
		return nil, errors.New("no customers to analyze")
	}
	m, err := Fit(NewFitInput(u, customers), cfg)
	if err != nil {
		return nil, err
	}
	return NewResult(m, m.Score(customers)), nil
}
