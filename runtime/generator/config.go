package generator

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultStart is the event time the generator starts at unless told
// otherwise: a fixed date, so that runs are reproducible, early enough in
// the autumn that a few months of data cover the November/December peak.
var DefaultStart = time.Date(2025, time.September, 1, 0, 0, 0, 0, time.UTC)

// Model holds the parameters of the customer population.
type Model struct {
	// R and Alpha are the shape and rate of the Gamma distribution of
	// purchase rates λ, in purchases per week.
	R, Alpha float64
	// A and B are the parameters of the Beta distribution of the dropout
	// probability p after each purchase.
	A, B float64
	// SpendP, SpendQ and SpendGamma are the Gamma-Gamma spend parameters: an
	// order's spend is Gamma(SpendP, ν) with ν ~ Gamma(SpendQ, SpendGamma),
	// so the mean order value is SpendP*SpendGamma/(SpendQ-1).
	SpendP, SpendQ, SpendGamma float64
}

// DefaultModel is close to the BG/NBD and Gamma-Gamma fits published for
// retail (Fader, Hardie and Lee's CDNOW sample: r=0.243, α=4.41 weeks,
// a=0.79, b=2.43), with spend scaled to a mean order of 80 currency units.
var DefaultModel = Model{R: 0.25, Alpha: 4, A: 0.8, B: 2.4, SpendP: 6, SpendQ: 4, SpendGamma: 40}

// Fraud patterns: the label.pattern values of injected fraud.
const (
	PatternCardTesting       = "card_testing"
	PatternAccountTakeover   = "account_takeover"
	PatternImpossibleTravel  = "impossible_travel"
	PatternAmountAnomaly     = "amount_anomaly"
	PatternColludingMerchant = "colluding_merchant"
)

// FraudPatterns lists the patterns in the fixed order the generator
// handles them.
var FraudPatterns = []string{PatternCardTesting, PatternAccountTakeover, PatternImpossibleTravel,
	PatternAmountAnomaly, PatternColludingMerchant}

// DefaultFraudRates is fraudulent transactions per 1000 legitimate ones, by
// pattern: about 1.1% fraud in all, the order of magnitude card-not-present
// e-commerce sees.
var DefaultFraudRates = map[string]float64{
	PatternCardTesting:       4,
	PatternAccountTakeover:   2,
	PatternImpossibleTravel:  1.5,
	PatternAmountAnomaly:     2,
	PatternColludingMerchant: 1.5,
}

// Config configures a Generator. The zero value, with defaults filled in,
// is a valid configuration.
type Config struct {
	// Seed fixes every random choice: the same Config gives the same records,
	// byte for byte.
	Seed uint64
	// Customers is the population at Start. Default 1000.
	Customers int
	// AcquisitionPerDay is the mean number of new customers per day (a
	// Poisson process). Default Customers/50; negative means none.
	AcquisitionPerDay float64
	// Products is the catalogue size. Default 200.
	Products int
	// Start is the event time of the first record. Default DefaultStart.
	Start time.Time
	// End, if set, stops the generator before the first record past it.
	End time.Time
	// Currency is the shop's currency, an ISO 4217 code with two decimals.
	// Default USD.
	Currency string
	// BadFraction is the share of records, 0 to 1, that are deliberately
	// bad (see BadReasons). Default 0.
	BadFraction float64
	// FraudRates sets fraudulent transactions per 1000 legitimate ones by
	// pattern; patterns left out take DefaultFraudRates, 0 turns one off.
	FraudRates map[string]float64
	// PromoEveryDays makes every n-th day (UTC, counted from the Unix epoch)
	// a promo day. Default 14; negative means only Black Friday and Cyber
	// Monday.
	PromoEveryDays int
	// PriceChangesPerDay is the mean number of price changes per day across
	// the catalogue. Default Products/100 (each price moves about every 100
	// days); negative means none.
	PriceChangesPerDay float64
	// TimeScale multiplies every customer's session rate, acquisition and
	// price changes: a live demo with few customers uses it to reach a
	// useful event rate without pushing event times ahead of the clock. It
	// compresses lifetimes (customers buy TimeScale times as often) and the
	// wait before each fraud episode, not sessions or the timing inside a
	// fraud episode (probe spacing, the gap of impossible travel). Default 1.
	TimeScale float64
	// Model is the population model. Zero means DefaultModel.
	Model Model
}

func (c Config) withDefaults() (Config, error) {
	if c.Customers == 0 {
		c.Customers = 1000
	}
	if c.Customers < 0 {
		return c, fmt.Errorf("customers must be positive, got %d", c.Customers)
	}
	if c.AcquisitionPerDay == 0 {
		c.AcquisitionPerDay = float64(c.Customers) / 50
	}
	c.AcquisitionPerDay = max(c.AcquisitionPerDay, 0)
	if c.Products == 0 {
		c.Products = 200
	}
	if c.Products < len(Categories) {
		return c, fmt.Errorf("products must be at least %d, one per category, got %d", len(Categories), c.Products)
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC()
	if !c.End.IsZero() && !c.End.After(c.Start) {
		return c, fmt.Errorf("end %s is not after start %s", c.End.Format(time.RFC3339), c.Start.Format(time.RFC3339))
	}
	if c.Currency == "" {
		c.Currency = "USD"
	}
	if !(c.BadFraction >= 0 && c.BadFraction <= 1) {
		return c, fmt.Errorf("bad fraction must be within 0 to 1, got %v", c.BadFraction)
	}
	rates := make(map[string]float64, len(FraudPatterns))
	for _, p := range FraudPatterns {
		rates[p] = DefaultFraudRates[p]
	}
	for _, p := range sortedKeys(c.FraudRates) {
		v := c.FraudRates[p]
		if !slices.Contains(FraudPatterns, p) {
			return c, fmt.Errorf("unknown fraud pattern %q, want one of %s", p, strings.Join(FraudPatterns, ", "))
		}
		if !(v >= 0 && v <= 1000) {
			return c, fmt.Errorf("fraud rate of %s must be within 0 to 1000 per 1000 transactions, got %v", p, v)
		}
		rates[p] = v
	}
	c.FraudRates = rates
	if c.PromoEveryDays == 0 {
		c.PromoEveryDays = 14
	}
	if c.PriceChangesPerDay == 0 {
		c.PriceChangesPerDay = float64(c.Products) / 100
	}
	c.PriceChangesPerDay = max(c.PriceChangesPerDay, 0)
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if !(c.TimeScale > 0) || math.IsInf(c.TimeScale, 0) {
		return c, fmt.Errorf("time scale must be positive, got %v", c.TimeScale)
	}
	if c.Model == (Model{}) {
		c.Model = DefaultModel
	}
	m := c.Model
	if !(m.R > 0 && m.Alpha > 0 && m.A > 0 && m.B > 0 && m.SpendP > 0 && m.SpendQ > 1 && m.SpendGamma > 0) {
		return c, fmt.Errorf("invalid model %+v: all parameters must be positive and SpendQ above 1", m)
	}
	return c, nil
}

// ParseFraudRates parses "pattern=per1000,..." as the --fraud-rate flag
// takes it.
func ParseFraudRates(s string) (map[string]float64, error) {
	rates := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return rates, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("fraud rate %q: want pattern=per1000", part)
		}
		if !slices.Contains(FraudPatterns, name) {
			return nil, fmt.Errorf("unknown fraud pattern %q, want one of %s", name, strings.Join(FraudPatterns, ", "))
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || !(v >= 0 && v <= 1000) {
			return nil, fmt.Errorf("fraud rate %q: want a number from 0 to 1000", part)
		}
		rates[name] = v
	}
	return rates, nil
}

// NaturalRate estimates the records per second (event time) the
// configuration produces at its start, before acquisition adds to it. A live
// run that wants rate r uses TimeScale r/NaturalRate.
func (c Config) NaturalRate() float64 {
	c, err := c.withDefaults()
	if err != nil {
		return 0
	}
	sessionsPerSecond := float64(c.Customers) * c.Model.R / c.Model.Alpha / SessionConversion / secondsPerWeek
	return sessionsPerSecond * meanRecordsPerSession * c.TimeScale
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
