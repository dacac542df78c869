package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// TestRuntimeHotReload runs the runtime in-process against kfake, rewrites
// its RuntimeConfig file atomically (temp file + rename, as a ConfigMap
// volume update does) and checks that the fraud rule set is hot-reloaded
// without a restart: the new generation is applied within a second and
// scores the transactions that follow, and a rule set that does not compile
// keeps the last good generation and is reported in /v1/status.
func TestRuntimeHotReload(t *testing.T) {
	const (
		partitions = 2
		ruleSet    = "amounts"
		ruleName   = "big-amount"
		batch      = 200
	)
	cluster := kafkatest.Start(t)
	cluster.CreateTopic(t, "txns", partitions, nil)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "runtime.json")
	config := func(gen int64, expr string) []byte {
		rc := v1alpha1.RuntimeConfig{
			TypeMeta: metavOf(),
			Pipeline: v1alpha1.PipelineConfig{Name: "hot", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
				Kafka:  v1alpha1.KafkaSpec{Brokers: cluster.Addrs()},
				Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
				State:  v1alpha1.StateSpec{CheckpointInterval: "300ms"},
				Sinks:  v1alpha1.SinksSpec{AlertsTopic: "alerts"},
			}},
			FraudRuleSets: []v1alpha1.FraudRuleSetConfig{{Name: ruleSet, Generation: gen, Spec: v1alpha1.FraudRuleSetSpec{
				PipelineRef: v1alpha1.LocalObjectReference{Name: "hot"},
				Rules:       []v1alpha1.FraudRule{{Name: ruleName, Expression: expr, Score: 100}},
			}}},
		}
		b, err := json.Marshal(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// rewrite replaces the config atomically and returns when the rename is done.
	rewrite := func(data []byte) time.Time {
		tmp, err := os.CreateTemp(dir, ".runtime-*.json")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tmp.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := tmp.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp.Name(), cfgPath); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	if err := os.WriteFile(cfgPath, config(1, "txn.amount > 1000.0"), 0o644); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runRuntime(ctx, cfgPath, addr, "off", groupTuning{}) }()
	stopped := false
	defer func() {
		if stopped {
			return
		}
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("runtime did not stop")
		}
	}()
	alive := func() {
		t.Helper()
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("runtime goroutine returned (restart or crash): %v", err)
		default:
		}
	}

	// status polls /v1/status until ok accepts it or the timeout passes.
	status := func(timeout, every time.Duration, what string, ok func(engine.Status) bool) engine.Status {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			alive()
			st, err := getStatus(addr)
			if err == nil && ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached within %v: %+v (%v)", what, timeout, st, err)
			}
			time.Sleep(every)
		}
	}
	ruleStatus := func(st engine.Status) engine.RuleSetStatus {
		for _, rs := range st.RuleSets {
			if rs.Name == ruleSet {
				return rs
			}
		}
		return engine.RuleSetStatus{}
	}

	gen := enginetest.NewGenerator(11, 50, 20, time.Now().Add(-5*time.Minute), time.Millisecond)
	var produced int64
	// produceBatch produces n transactions and returns them by transaction ID.
	produceBatch := func(n int) map[string]enginetest.Txn {
		t.Helper()
		out := make(map[string]enginetest.Txn, n)
		recs := make([]kafkatest.Record, 0, n)
		for range n {
			x := gen.Next()
			var v struct {
				TransactionID string `json:"transaction_id"`
			}
			if err := json.Unmarshal(x.Value, &v); err != nil || v.TransactionID == "" {
				t.Fatalf("generated transaction without transaction_id: %v", err)
			}
			out[v.TransactionID] = x
			recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
		}
		cluster.Produce(t, "txns", recs...)
		produced += int64(n)
		return out
	}
	caughtUp := func(what string) engine.Status {
		t.Helper()
		return status(20*time.Second, 20*time.Millisecond, what, func(st engine.Status) bool {
			var sum int64
			for _, p := range st.Partitions {
				sum += p.Offset
			}
			return st.Ready && len(st.Partitions) == partitions && sum == produced && st.EventsTotal >= produced
		})
	}

	// Generation 1 scores the first batch; no generated amount exceeds 1000.
	st := status(20*time.Second, 20*time.Millisecond, "ready with generation 1", func(st engine.Status) bool {
		return st.Ready && ruleStatus(st).AppliedGeneration == 1
	})
	if rs := ruleStatus(st); rs.CompiledRules != 1 || rs.LastError != "" {
		t.Fatalf("generation 1 status: %+v", rs)
	}
	batch1 := produceBatch(batch)
	st1 := caughtUp("batch 1 processed")

	// (a) Generation 2 is applied within a second of the rename.
	renamed := rewrite(config(2, "txn.amount > 10.0"))
	status(time.Second, 2*time.Millisecond, "appliedGeneration 2 within 1s of the rename", func(st engine.Status) bool {
		return ruleStatus(st).AppliedGeneration == 2
	})
	reload := time.Since(renamed)
	t.Logf("rule_hot_reload_ms=%d", reload.Milliseconds())
	if rs := ruleStatus(mustStatus(t, addr)); rs.CompiledRules != 1 || rs.LastError != "" {
		t.Fatalf("generation 2 status: %+v", rs)
	}

	// (b) Transactions produced after the reload are scored by generation 2.
	batch2 := produceBatch(batch)
	st2 := caughtUp("batch 2 processed")

	// (c) A rule set that does not compile keeps generation 2 scoring.
	rewrite(config(3, "txn.amount >"))
	st3 := status(2*time.Second, 10*time.Millisecond, "reload failure of generation 3 reported", func(st engine.Status) bool {
		return ruleStatus(st).LastError != ""
	})
	rs3 := ruleStatus(st3)
	if rs3.AppliedGeneration != 2 || rs3.CompiledRules != 1 {
		t.Errorf("after the bad generation 3: %+v, want appliedGeneration 2 with 1 compiled rule", rs3)
	}
	if !strings.Contains(rs3.LastError, "generation 3") || !strings.Contains(rs3.LastError, ruleName) {
		t.Errorf("lastError %q does not name generation 3 and rule %q", rs3.LastError, ruleName)
	}
	t.Logf("lastError after generation 3: %s", rs3.LastError)

	batch3 := produceBatch(batch)
	st4 := caughtUp("batch 3 processed")

	// (d) No restart: the same runRuntime call kept running and the events
	// total only grew.
	alive()
	totals := []int64{st1.EventsTotal, st2.EventsTotal, st3.EventsTotal, st4.EventsTotal}
	for i := 1; i < len(totals); i++ {
		if totals[i] < totals[i-1] {
			t.Errorf("eventsTotal went back: %v", totals)
		}
	}
	if st2.EventsTotal <= st1.EventsTotal || st4.EventsTotal <= st2.EventsTotal {
		t.Errorf("eventsTotal did not keep increasing: %v", totals)
	}

	// Alerts: none of generation 1 (no amount above 1000); every transaction
	// of batches 2 and 3 above 10 has exactly the generation-2 alert.
	alerts := map[string]fraud.Decision{}
	for _, r := range cluster.ReadAll(t, "alerts") {
		var d fraud.Decision
		if err := json.Unmarshal(r.Value, &d); err != nil {
			t.Fatalf("alert %s: %v", r.Key, err)
		}
		if prev, ok := alerts[d.TransactionID]; ok && prev.Generation != d.Generation {
			t.Errorf("transaction %s alerted by generations %d and %d", d.TransactionID, prev.Generation, d.Generation)
		}
		alerts[d.TransactionID] = d
	}
	for id := range batch1 {
		if d, ok := alerts[id]; ok {
			t.Errorf("batch 1 transaction %s alerted: %+v", id, d)
		}
	}
	var want, hits int
	for _, b := range []map[string]enginetest.Txn{batch2, batch3} {
		for id, x := range b {
			d, ok := alerts[id]
			if x.Amount <= 10 {
				if ok {
					t.Errorf("transaction %s of amount %.2f alerted: %+v", id, x.Amount, d)
				}
				continue
			}
			want++
			if !ok {
				t.Errorf("transaction %s of amount %.2f not alerted after the reload", id, x.Amount)
				continue
			}
			if d.Generation != 2 || d.RuleSet != ruleSet || len(d.Hits) != 1 || d.Hits[0].Rule != ruleName || d.Score != 100 {
				t.Errorf("transaction %s: decision %+v, want generation 2 with one %s hit", id, d, ruleName)
				continue
			}
			hits++
		}
	}
	if want == 0 {
		t.Fatal("no transaction above 10 after the reload; the test proves nothing")
	}
	if len(alerts) != want {
		t.Errorf("%d alerts, want %d", len(alerts), want)
	}

	cancel()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("runtime stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runtime did not stop on cancel")
	}
	t.Logf("reload %v; %d events; %d generation-2 alerts; eventsTotal %v", reload, produced, hits, totals)
}

func mustStatus(t *testing.T, addr string) engine.Status {
	t.Helper()
	st, err := getStatus(addr)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
