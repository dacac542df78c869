package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/generator"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// generatedTransactions writes a labelled NDJSON history with some bad
// records and returns its path.
func generatedTransactions(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	g, err := generator.NewChecked(generator.Config{
		Seed: 7, Customers: 500, BadFraction: 0.01,
		End:        generator.DefaultStart.Add(30 * 24 * time.Hour),
		FraudRates: map[string]float64{"card_testing": 30, "account_takeover": 20, "impossible_travel": 20, "amount_anomaly": 20, "colluding_merchant": 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := generator.NewFileSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := generator.Run(context.Background(), g, sink, generator.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, generator.TransactionsFile)
}

func backtestJSON(t *testing.T, o *backtestOptions) backtestOutput {
	t.Helper()
	var out bytes.Buffer
	if err := runBacktest(context.Background(), o, &out); err != nil {
		t.Fatalf("backtest: %v", err)
	}
	var rep backtestOutput
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	return rep
}

func TestBacktestOnGeneratedHistory(t *testing.T) {
	file := generatedTransactions(t)
	rules := filepath.Join("..", "..", "config", "samples", "fraudruleset_card_fraud.yaml")
	rep := backtestJSON(t, &backtestOptions{rules: rules, events: file})

	if rep.Transactions == 0 || rep.Labeled != rep.Transactions || rep.Fraud == 0 {
		t.Fatalf("transactions %d, labelled %d, fraud %d: want a labelled history with fraud", rep.Transactions, rep.Labeled, rep.Fraud)
	}
	if len(rep.Skipped) == 0 {
		t.Errorf("bad records were not reported as skipped")
	}
	if rep.Overall.Recall <= 0 || rep.Overall.Precision <= 0 {
		t.Errorf("overall precision %.3f recall %.3f: the sample rules catch none of the injected fraud", rep.Overall.Precision, rep.Overall.Recall)
	}
	hits := int64(0)
	for _, r := range rep.Rules {
		hits += r.Hits
	}
	if hits == 0 || len(rep.Rules) != 6 {
		t.Errorf("rules %+v: want the six sample rules with hits", rep.Rules)
	}

	// The same history read from a Kafka topic gives the same report.
	kafka := kafkatest.Start(t)
	kafka.CreateTopic(t, "txns", 3, nil)
	lines, err := readLines(file)
	if err != nil {
		t.Fatal(err)
	}
	var recs []kafkatest.Record
	for i, l := range lines {
		recs = append(recs, kafkatest.Record{Key: []byte{byte(i)}, Value: l})
	}
	kafka.Produce(t, "txns", recs...)
	fromTopic := backtestJSON(t, &backtestOptions{rules: rules, topic: "txns", brokers: kafka.Addrs()})
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(fromTopic)
	if !bytes.Equal(a, b) {
		t.Errorf("report from the topic differs from the report from the file:\n%s\n%s", a, b)
	}
}

func TestBacktestBadInput(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(broken, []byte(`apiVersion: analytics.ecap.dev/v1alpha1
kind: FraudRuleSet
metadata: {name: r}
spec:
  pipelineRef: {name: shop}
  rules:
    - {name: broken, expression: "txn.amount >", score: 10}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runBacktest(context.Background(), &backtestOptions{rules: broken, events: filepath.Join(dir, "none.ndjson")}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `rule "broken"`) {
		t.Fatalf("error = %v, want the broken rule named", err)
	}
	good := filepath.Join("..", "..", "config", "samples", "fraudruleset_card_fraud.yaml")
	err = runBacktest(context.Background(), &backtestOptions{rules: good, events: filepath.Join(dir, "none.ndjson")}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "none.ndjson") {
		t.Fatalf("error = %v, want the missing events file named", err)
	}
}
