package fraud

import (
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// sampleSpec mirrors the "card-fraud" FraudRuleSet sample
// (config/samples) and the YAML in docs/fraud.md; TestDocsSampleMatches
// keeps the two in step.
func sampleSpec() v1alpha1.FraudRuleSetSpec {
	shadow := v1alpha1.RuleModeShadow
	return v1alpha1.FraudRuleSetSpec{
		PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"},
		Features: []v1alpha1.VelocityFeature{
			{Name: "card_txns_10m", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "10m"},
			{Name: "card_amount_10m", Aggregation: v1alpha1.AggregationSum, Field: "amount", KeyBy: v1alpha1.KeyCard, Window: "10m"},
			{Name: "device_cards_1h", Aggregation: v1alpha1.AggregationDistinctCount, Field: "card", KeyBy: v1alpha1.KeyDevice, Window: "1h"},
			{Name: "customer_txns_1h", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCustomer, Window: "1h"},
		},
		Rules: []v1alpha1.FraudRule{
			{
				Name:        "card-testing",
				Description: "Many small payments on one card within 10 minutes, a stolen card being tested.",
				Expression:  `txn.card_fingerprint != "" && features.card_txns_10m >= 5 && features.card_amount_10m <= 10.0 * double(features.card_txns_10m)`,
				Score:       60,
				Severity:    v1alpha1.SeverityHigh,
			},
			{
				Name:        "device-card-fanout",
				Description: "Four or more cards used from one device within an hour.",
				Expression:  `features.device_cards_1h >= 4`,
				Score:       50,
				Severity:    v1alpha1.SeverityHigh,
			},
			{
				Name:        "high-amount-zscore",
				Description: "Amount far above the customer's usual spend.",
				Expression:  `detectors.amount_zscore > 4.0 && txn.amount > 200.0`,
				Score:       40,
				Severity:    v1alpha1.SeverityMedium,
			},
			{
				Name:        "impossible-travel",
				Description: "Faster than an airliner since the previous located payment.",
				Expression:  `detectors.geo_velocity_kmh > 900.0 && detectors.geo_distance_km > 300.0`,
				Score:       60,
				Severity:    v1alpha1.SeverityHigh,
			},
			{
				Name:        "account-takeover",
				Description: "An established customer on a new device, from a new country, spending well above average.",
				Expression:  `customer.txn_count >= 3 && detectors.new_device && detectors.new_country && txn.amount > 3.0 * customer.avg_amount`,
				Score:       100,
				Severity:    v1alpha1.SeverityCritical,
			},
			{
				Name:        "risky-merchant",
				Description: "Large payment at a merchant with a high estimated fraud rate; on trial.",
				Expression:  `detectors.merchant_risk > 0.05 && txn.amount > 100.0`,
				Score:       30,
				Severity:    v1alpha1.SeverityLow,
				Mode:        shadow,
			},
		},
		Thresholds: v1alpha1.OutcomeThresholds{Review: 50, Block: 100},
		Priority:   v1alpha1.AlertPriorities{Review: "P3", Block: "P1"},
		CostLimit:  10000,
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixedClock is a fake clock for EvaluatedAt.
func fixedClock() time.Time { return t0.Add(time.Hour) }

func mustCompile(t testing.TB, spec v1alpha1.FraudRuleSetSpec) *RuleSet {
	t.Helper()
	rs, err := Compile("card-fraud", 3, spec, WithClock(fixedClock))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rs
}

// baseTxn is an ordinary card payment from Berlin.
func baseTxn(id string, at time.Time) Transaction {
	return Transaction{
		ID:              id,
		EventTime:       at,
		CustomerID:      "c-1",
		Amount:          42.5,
		Currency:        "EUR",
		PaymentMethod:   "card",
		CardFingerprint: "card-1",
		DeviceID:        "dev-1",
		IP:              "203.0.113.7",
		Country:         "DE",
		City:            "Berlin",
		Lat:             52.52,
		Lon:             13.405,
		HasGeo:          true,
		MerchantID:      "m-1",
		Channel:         "web",
		Lines:           2,
		Units:           3,
		Categories:      []string{"books", "toys"},
		Margin:          11.2,
	}
}

// history observes n ordinary payments, one a day before t0, with amounts
// from amounts (cycled).
func history(rs *RuleSet, st *State, n int, amounts ...float64) {
	for i := 0; i < n; i++ {
		txn := baseTxn("h-"+string(rune('a'+i%26))+string(rune('a'+i/26)), t0.Add(-time.Duration(n-i)*24*time.Hour))
		txn.Amount = amounts[i%len(amounts)]
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
}
