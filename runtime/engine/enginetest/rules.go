package enginetest

import "github.com/ecap-dev/ecap/api/v1alpha1"

// ChainRuleSet is the fraud rule set of the engine chain benchmarks
// (runtime/engine/enginebench) and of runtime/fraud's BenchmarkProcess: two
// count features, one per card and one per customer, and two rules reading
// them.
func ChainRuleSet(pipeline string) v1alpha1.FraudRuleSetSpec {
	return v1alpha1.FraudRuleSetSpec{
		PipelineRef: v1alpha1.LocalObjectReference{Name: pipeline},
		Features: []v1alpha1.VelocityFeature{
			{Name: "card_txns_10m", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "10m"},
			{Name: "customer_txns_1h", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCustomer, Window: "1h"},
		},
		Rules: []v1alpha1.FraudRule{
			{Name: "card-burst", Expression: "features.card_txns_10m >= 5", Score: 60},
			{Name: "big-amount", Expression: "txn.amount > 150.0 && features.customer_txns_1h >= 2", Score: 60},
		},
	}
}
