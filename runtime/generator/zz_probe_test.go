package generator

import (
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

func TestZZProbeDev(t *testing.T) {
	start := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
	cfg := Config{Seed: 1, Customers: 2000, Start: start, BadFraction: 0.02,
		FraudRates: map[string]float64{"card_testing": 40, "account_takeover": 20, "impossible_travel": 20, "amount_anomaly": 20, "colluding_merchant": 20}}
	cfg.TimeScale = 300 / cfg.NaturalRate()
	for _, span := range []time.Duration{4*time.Minute + 25*time.Second, time.Hour, 6 * time.Hour} {
		c := cfg
		c.End = start.Add(span)
		g := New(c)
		var n int
		for {
			r, ok := g.Next()
			if !ok {
				break
			}
			n++
			_ = r
		}
		s := g.Stats()
		t.Logf("span %v timescale %.1f records %d txns %d legit %d fraud %v", span, c.TimeScale, n, s.ByKind[events.KindTransaction], s.LegitTransactions, s.Fraud)
	}
}
