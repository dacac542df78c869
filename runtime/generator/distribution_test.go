package generator

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

// sample decodes n good records of cfg into events.
func sample(t *testing.T, cfg Config, n int) (*Generator, []events.Event) {
	t.Helper()
	g := New(cfg)
	out := make([]events.Event, 0, n)
	for _, rec := range take(t, g, n) {
		if rec.Bad != "" {
			continue
		}
		ev, err := events.Decode(rec.Topic, rec.Value)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, ev)
	}
	return g, out
}

// TestFunnelConversion measures each funnel step over the sessions of
// ordinary days (promo days convert better by design).
func TestFunnelConversion(t *testing.T) {
	g, evs := sample(t, Config{Seed: 11, Customers: 400}, 60000)
	type session struct {
		start time.Time
		steps [5]bool
	}
	sessions := map[string]*session{}
	stepOf := map[events.Action]int{}
	for i, a := range FunnelSteps {
		stepOf[a] = i
	}
	for _, ev := range evs {
		u, ok := ev.(*events.UserEvent)
		if !ok {
			continue
		}
		s := sessions[u.SessionID]
		if s == nil {
			s = &session{start: u.EventTime}
			sessions[u.SessionID] = s
		}
		if i, ok := stepOf[u.Action]; ok {
			s.steps[i] = true
		}
	}
	var reached [5]int
	for _, s := range sessions {
		if g.cal.isPromoDay(s.start) || !s.steps[0] {
			continue // promo day, or cut off at the start of the sample
		}
		for i := range s.steps {
			if !s.steps[i] {
				break
			}
			reached[i]++
		}
	}
	want := []float64{RateProductView, RateAddToCart, RateCheckout, RatePurchase}
	for i, w := range want {
		got := float64(reached[i+1]) / float64(reached[i])
		t.Logf("%s -> %s: %.3f (want %.2f, %d sessions)", FunnelSteps[i], FunnelSteps[i+1], got, w, reached[i])
		if math.Abs(got-w) > 0.04 {
			t.Errorf("%s -> %s conversion %.3f, want %.2f ± 0.04", FunnelSteps[i], FunnelSteps[i+1], got, w)
		}
	}
}

// TestCustomerBehaviour checks the population model's visible outcomes:
// repeat purchasing, order values, the evening peak, and that every
// purchase event has its transaction.
func TestCustomerBehaviour(t *testing.T) {
	g, evs := sample(t, Config{Seed: 5, Customers: 300}, 60000)
	days := map[string]map[string]bool{}
	var spend []float64
	purchases := map[string]bool{}
	txIDs := map[string]bool{}
	var byHour [24]int
	for _, ev := range evs {
		switch e := ev.(type) {
		case *events.Transaction:
			if e.Label.Fraud {
				continue
			}
			txIDs[e.TransactionID] = true
			if days[e.CustomerID] == nil {
				days[e.CustomerID] = map[string]bool{}
			}
			days[e.CustomerID][e.EventTime.Format(time.DateOnly)] = true
			spend = append(spend, e.Amount)
		case *events.UserEvent:
			switch e.Action {
			case events.ActionPurchase:
				purchases[e.TransactionID] = true
			case events.ActionPageView:
				// Local hour at the customer's city.
				for _, c := range Cities {
					if c.Name == e.Geo.City {
						byHour[e.EventTime.Add(time.Duration(c.UTCOffset)*time.Hour).Hour()]++
						break
					}
				}
			}
		}
	}
	repeat := 0
	for _, d := range days {
		if len(d) >= 2 {
			repeat++
		}
	}
	rate := float64(repeat) / float64(len(days))
	s := g.Stats()
	t.Logf("%d buyers of %d customers, %.1f%% with purchases on 2+ days, over %s",
		len(days), s.Customers, 100*rate, s.EventTime.Sub(DefaultStart).Round(time.Hour))
	if rate < 0.15 || rate > 0.6 {
		t.Errorf("repeat-purchase rate %.3f, want 0.15 to 0.6", rate)
	}

	sort.Float64s(spend)
	mean := 0.0
	for _, x := range spend {
		mean += x
	}
	mean /= float64(len(spend))
	median := spend[len(spend)/2]
	t.Logf("order value over %d orders: mean %.2f, median %.2f, p95 %.2f", len(spend), mean, median, spend[len(spend)*95/100])
	if mean < 50 || mean > 130 || median > mean {
		t.Errorf("order value mean %.2f median %.2f, want a right-skewed distribution with mean 50-130", mean, median)
	}

	for id := range purchases {
		if !txIDs[id] {
			t.Fatalf("purchase event for %s has no transaction", id)
		}
	}
	if len(purchases) != len(txIDs) {
		t.Errorf("%d purchase events, %d legitimate transactions", len(purchases), len(txIDs))
	}

	evening := byHour[19] + byHour[20] + byHour[21]
	night := byHour[3] + byHour[4] + byHour[5]
	t.Logf("page views by local hour: %v", byHour)
	if evening < 8*night {
		t.Errorf("evening (19-22h) page views %d, night (3-6h) %d: want a clear evening peak", evening, night)
	}
}

// TestFraudRates measures each pattern's rate from the labels and checks
// the pattern's signature.
func TestFraudRates(t *testing.T) {
	rates := map[string]float64{PatternCardTesting: 100, PatternAccountTakeover: 40,
		PatternImpossibleTravel: 30, PatternAmountAnomaly: 30, PatternColludingMerchant: 40}
	g, evs := sample(t, Config{Seed: 3, Customers: 400, FraudRates: rates}, 80000)
	var legit int
	count := map[string]int{}
	home := map[string]string{} // customer -> country of legit orders
	var last = map[string]*events.Transaction{}
	for _, ev := range evs {
		tx, ok := ev.(*events.Transaction)
		if !ok {
			continue
		}
		if tx.Label == nil {
			t.Fatal("transaction without label")
		}
		if !tx.Label.Fraud {
			legit++
			home[tx.CustomerID] = tx.Geo.Country
			last[tx.CustomerID] = tx
			continue
		}
		count[tx.Label.Pattern]++
		switch tx.Label.Pattern {
		case PatternCardTesting:
			if tx.Amount > 5 || tx.Payment.Method != events.PaymentCard {
				t.Fatalf("card testing order of %.2f by %s", tx.Amount, tx.Payment.Method)
			}
		case PatternColludingMerchant:
			if tx.MerchantID != g.ColludingMerchant() {
				t.Fatalf("colluding order at merchant %s, want %s", tx.MerchantID, g.ColludingMerchant())
			}
		case PatternImpossibleTravel:
			prev := last[tx.CustomerID]
			if prev == nil {
				t.Fatalf("impossible travel order %s without an earlier order", tx.TransactionID)
			}
			km := haversineKm(*prev.Geo.Lat, *prev.Geo.Lon, *tx.Geo.Lat, *tx.Geo.Lon)
			if gap := tx.EventTime.Sub(prev.EventTime); gap > time.Hour || km < 3000 {
				t.Fatalf("impossible travel order %s is %s and %.0f km after the previous one", tx.TransactionID, gap, km)
			}
		case PatternAccountTakeover:
			if c, ok := home[tx.CustomerID]; !ok || c == tx.Geo.Country {
				t.Fatalf("account takeover order %s from %s, home %q", tx.TransactionID, tx.Geo.Country, c)
			}
		}
		last[tx.CustomerID] = tx
	}
	for _, p := range FraudPatterns {
		got := 1000 * float64(count[p]) / float64(legit)
		t.Logf("%s: %d orders, %.1f per 1000 legitimate (want %.0f)", p, count[p], got, rates[p])
		if math.Abs(got-rates[p]) > 0.3*rates[p] {
			t.Errorf("%s rate %.1f per 1000, want %.0f ± 30%%", p, got, rates[p])
		}
	}
}
