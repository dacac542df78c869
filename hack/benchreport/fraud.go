package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/offline"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/generator"
)

// sampleRuleSetPath is the sample FraudRuleSet measured, relative to the
// repository root.
const sampleRuleSetPath = "config/samples/fraudruleset_card_fraud.yaml"

func init() {
	measurements = append(measurements,
		measurement{"fraud rule evaluation", fraudRuleEval},
		measurement{"fraud backtest", fraudBacktest},
	)
}

// loadSampleRuleSet reads the sample rule set and admits it as the API
// server would, schema defaults applied.
func loadSampleRuleSet() (*v1alpha1.FraudRuleSet, error) {
	path, err := repoFile(sampleRuleSetPath)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	obj, err := offline.Admit(context.Background(), raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sampleRuleSetPath, err)
	}
	rs, ok := obj.(*v1alpha1.FraudRuleSet)
	if !ok {
		return nil, fmt.Errorf("%s: admitted a %T, want a FraudRuleSet", sampleRuleSetPath, obj)
	}
	return rs, nil
}

// repoFile finds rel under the working directory or one of its parents,
// so the report runs from any directory inside the repository.
func repoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found in the working directory or its parents", rel)
		}
		dir = parent
	}
}

// compileSample compiles the sample rule set and returns it with the
// median compile time over runs compilations (the first is a warm-up that
// also pays for building the CEL environment's one-time tables).
func compileSample(runs int) (*fraud.RuleSet, time.Duration, error) {
	obj, err := loadSampleRuleSet()
	if err != nil {
		return nil, 0, err
	}
	// A manifest read from a file has no generation yet; the API server
	// would give it 1.
	gen := max(obj.Generation, 1)
	if _, err := fraud.Compile(obj.Name, gen, obj.Spec); err != nil {
		return nil, 0, fmt.Errorf("compile %s: %w", obj.Name, err)
	}
	var rs *fraud.RuleSet
	times := make([]time.Duration, runs)
	for i := range times {
		start := time.Now()
		rs, err = fraud.Compile(obj.Name, gen, obj.Spec)
		times[i] = time.Since(start)
		if err != nil {
			return nil, 0, fmt.Errorf("compile %s: %w", obj.Name, err)
		}
	}
	return rs, median(times), nil
}

// benchT0 is the event time of the measured transactions; the populated
// history lies in the weeks before it.
var benchT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// benchTxn is an ordinary card payment of customer c: a repeat customer
// on a known device, card and city.
func benchTxn(id string, at time.Time, c, i int) fraud.Transaction {
	return fraud.Transaction{
		ID:              id,
		EventTime:       at,
		CustomerID:      "c" + strconv.Itoa(c),
		Amount:          float64(20 + (c+i)%80),
		Currency:        "EUR",
		PaymentMethod:   "card",
		CardFingerprint: "card" + strconv.Itoa(c),
		DeviceID:        "dev" + strconv.Itoa(c%700),
		IP:              "203.0.113." + strconv.Itoa(c%250+1),
		Country:         "DE",
		City:            "Berlin",
		Lat:             52.52,
		Lon:             13.405,
		HasGeo:          true,
		MerchantID:      "m" + strconv.Itoa((c+i)%50),
		Channel:         "web",
		Lines:           2,
		Units:           3,
		Categories:      []string{"books", "toys"},
		Margin:          11.2,
	}
}

// populatedState is a partition of 1000 customers who each paid 20 times,
// about a day apart, over the weeks before benchT0, so evaluation reads
// populated histories, merchant counters and velocity windows.
func populatedState(rs *fraud.RuleSet) *fraud.State {
	st := fraud.NewState(fraud.StateConfig{})
	for i := range 20 {
		for c := range 1000 {
			at := benchT0.Add(-time.Duration(20-i)*26*time.Hour + time.Duration(c)*time.Second)
			txn := benchTxn("h"+strconv.Itoa(c)+"-"+strconv.Itoa(i), at, c, i)
			d := rs.Evaluate(&txn, st)
			rs.Observe(&txn, st, &d)
		}
	}
	return st
}

// fraudRuleEval measures compiling the sample rule set and scoring one
// transaction with it: the median of five testing.Benchmark runs of
// Evaluate over 4096 distinct ordinary payments against a populated state.
// Nothing is observed between iterations, so every one sees the same
// state; none of the payments hits a rule.
func fraudRuleEval() ([]figure, error) {
	rs, compile, err := compileSample(10)
	if err != nil {
		return nil, err
	}
	st := populatedState(rs)
	txns := make([]fraud.Transaction, 4096)
	for i := range txns {
		c := i % 1000
		txns[i] = benchTxn("b"+strconv.Itoa(i), benchT0.Add(time.Duration(i)*time.Second), c, 20+i/1000)
	}
	var runErr error
	perTxn := make([]float64, 5)
	for run := range perTxn {
		res := testing.Benchmark(func(b *testing.B) {
			i := 0
			for b.Loop() {
				d := rs.Evaluate(&txns[i%len(txns)], st)
				if len(d.Errors) > 0 && runErr == nil {
					runErr = fmt.Errorf("rule %s failed: %s", d.Errors[0].Rule, d.Errors[0].Message)
				}
				i++
			}
		})
		if res.N == 0 {
			return nil, fmt.Errorf("rule evaluation benchmark did not run")
		}
		perTxn[run] = float64(res.T.Nanoseconds()) / float64(res.N)
	}
	if runErr != nil {
		return nil, runErr
	}
	return []figure{
		{"rule_eval_ns_per_txn", median(perTxn), "ns"},
		{"rule_compile_ms", float64(compile.Microseconds()) / 1000, "ms"},
	}, nil
}

// The backtest replays backtestDays of generated traffic from a population
// of backtestCustomers at their natural rate (no TimeScale): about 30,000
// transactions, some 300 of them fraudulent, in a few seconds.
const (
	backtestDays      = 90
	backtestCustomers = 30_000
)

// fraudBacktest backtests the sample rule set over generated, labelled
// transactions: the generator's default model and fraud rates, a fixed
// seed, no bad records and no feedback. An alert (review or block) predicts
// fraud; shadow-mode hits do not count.
func fraudBacktest() ([]figure, error) {
	rs, _, err := compileSample(1)
	if err != nil {
		return nil, err
	}
	cfg := generator.Config{Seed: 1, Customers: backtestCustomers}
	cfg.Start = generator.DefaultStart
	cfg.End = cfg.Start.Add(backtestDays * 24 * time.Hour)
	gen, err := generator.NewChecked(cfg)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	var txns []fraud.LabeledTransaction
	for {
		rec, ok := gen.Next()
		if !ok {
			break
		}
		if rec.Topic != events.KindTransaction || rec.Bad != "" {
			continue
		}
		ev, err := events.Decode(events.KindTransaction, rec.Value)
		if err != nil {
			return nil, fmt.Errorf("generated transaction does not decode: %w", err)
		}
		t, ok := ev.(*events.Transaction)
		if !ok {
			return nil, fmt.Errorf("generated transaction decoded as %T", ev)
		}
		txns = append(txns, engine.LabeledTransaction(t))
	}
	report := fraud.Backtest(rs, slices.Values(txns), fraud.BacktestOptions{})
	if report.Labeled == 0 || report.Fraud == 0 {
		return nil, fmt.Errorf("generator gave %d labelled transactions, %d fraudulent: nothing to score", report.Labeled, report.Fraud)
	}
	return []figure{
		{"fraud_backtest_transactions", float64(report.Transactions), "transactions"},
		{"fraud_backtest_fraud", float64(report.Fraud), "transactions"},
		{"fraud_precision", report.Overall.Precision, "ratio"},
		{"fraud_recall", report.Overall.Recall, "ratio"},
	}, nil
}

// median returns the median of xs, the mean of the middle two for an even
// count; it sorts xs.
func median[T float64 | time.Duration](xs []T) T {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
