package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

func TestResolve(t *testing.T) {
	s, err := Resolve(testRuntimeConfig([]string{"k:9092"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Changelog != "shop-changelog" || s.CheckpointInterval != 200*time.Millisecond || s.Dedup.Window != time.Hour ||
		s.Validator.MaxAge != 30*24*time.Hour || !s.Catalog || s.KPI == nil {
		t.Errorf("defaults not applied: %+v", s)
	}
	tests := []struct {
		name  string
		edit  func(rc *v1alpha1.RuntimeConfig)
		field string
	}{
		{"no brokers", func(rc *v1alpha1.RuntimeConfig) { rc.Pipeline.Spec.Kafka.Brokers = nil }, "pipeline.spec.kafka.brokers"},
		{"no transactions", func(rc *v1alpha1.RuntimeConfig) { rc.Pipeline.Spec.Topics.Transactions = "" }, "pipeline.spec.topics.transactions"},
		{"dlq is input", func(rc *v1alpha1.RuntimeConfig) { rc.Pipeline.Spec.Topics.DeadLetter = "txns" }, "pipeline.spec.topics.deadLetter"},
		{"bad duration", func(rc *v1alpha1.RuntimeConfig) { rc.Pipeline.Spec.State.CheckpointInterval = "5 parsecs" }, "pipeline.spec.state.checkpointInterval"},
		{"bad window", func(rc *v1alpha1.RuntimeConfig) { rc.Pipeline.Spec.KPIs.Windows[0].Size = "" }, "pipeline.spec.kpis"},
		{"small dedup", func(rc *v1alpha1.RuntimeConfig) { rc.Pipeline.Spec.Dedup.MaxEntries = 3 }, "pipeline.spec.dedup.maxEntries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := testRuntimeConfig([]string{"k:9092"})
			tt.edit(rc)
			_, err := Resolve(rc)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("error %v does not name %s", err, tt.field)
			}
		})
	}
}

func TestSetRuleSetsKeepsLastGood(t *testing.T) {
	rc := testRuntimeConfig([]string{"127.0.0.1:1"})
	s, _ := Resolve(rc)
	e, err := New(s, Options{Kafka: kafkaConfigFor(rc), Group: "g", RuleSets: rc.FraudRuleSets})
	if err != nil {
		t.Fatal(err)
	}
	bad := rc.FraudRuleSets[0]
	bad.Generation = 2
	bad.Spec.Rules = []v1alpha1.FraudRule{{Name: "broken", Expression: "txn.no_such_field > 1", Score: 1}}
	if errs := e.SetRuleSets([]v1alpha1.FraudRuleSetConfig{bad}); len(errs) != 1 {
		t.Fatalf("errors %v, want one", errs)
	}
	st := e.Status().RuleSets
	if len(st) != 1 || st[0].AppliedGeneration != 1 || st[0].LastError == "" {
		t.Fatalf("rule set status after a bad reload: %+v", st)
	}
	good := rc.FraudRuleSets[0]
	good.Generation = 3
	if errs := e.SetRuleSets([]v1alpha1.FraudRuleSetConfig{good}); len(errs) != 0 {
		t.Fatal(errs)
	}
	if st := e.Status().RuleSets; st[0].AppliedGeneration != 3 || st[0].LastError != "" {
		t.Fatalf("rule set status after a good reload: %+v", st)
	}
}
