package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Editing the sample FraudRuleSet while `ecap dev` runs changes the scoring
// within a second: a rule added to the file fires on the next transactions,
// under the new generation, without a restart.
func TestDevRuleFileEditChangesScoring(t *testing.T) {
	dir := t.TempDir()
	samples := filepath.Join(dir, "samples")
	if err := os.MkdirAll(samples, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("..", "..", "config", "samples")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(samples, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := &devOptions{
		samples: samples, pipeline: "shop",
		dataDir: filepath.Join(dir, "data"), port: freePort(t),
		adminAddr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		rate:      300, seed: 2, badFraction: 0.02,
		summary: filepath.Join(dir, "summary.json"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, o, io.Discard) }()

	type ruleSet struct {
		Name              string `json:"name"`
		AppliedGeneration int64  `json:"appliedGeneration"`
	}
	status := func() (events int64, sets []ruleSet) {
		resp, err := http.Get("http://" + o.adminAddr + "/v1/status")
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var st struct {
			EventsTotal int64     `json:"eventsTotal"`
			RuleSets    []ruleSet `json:"ruleSets"`
		}
		if json.NewDecoder(resp.Body).Decode(&st) != nil {
			return 0, nil
		}
		return st.EventsTotal, st.RuleSets
	}
	var before int64
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ecap dev did not start scoring within 40s")
		}
		if n, sets := status(); n > 0 && len(sets) == 1 && sets[0].AppliedGeneration > 0 {
			before = sets[0].AppliedGeneration
			break
		}
	}

	path := filepath.Join(samples, "fraudruleset_card_fraud.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const probe = "    - name: dev-edit-probe\n      expression: 'txn.amount > 0.0'\n      score: 1\n      mode: shadow\n"
	edited := strings.Replace(string(raw), "  thresholds:\n", probe+"  thresholds:\n", 1)
	if edited == string(raw) {
		t.Fatal("the sample FraudRuleSet has no thresholds: section to insert a rule before")
	}
	t0 := time.Now()
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	var after int64
	for deadline := t0.Add(5 * time.Second); after == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the edited rule set was not applied within 5s")
		}
		if _, sets := status(); len(sets) == 1 && sets[0].AppliedGeneration != before {
			after = sets[0].AppliedGeneration
		}
	}
	took := time.Since(t0)
	t.Logf("rule file edit applied in %v (generation %d -> %d)", took, before, after)
	if took > time.Second {
		t.Errorf("rule file edit took %v to apply, want under a second", took)
	}

	// The next transactions alert under the new generation with the new rule.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{"127.0.0.1:" + strconv.Itoa(o.port)},
		GroupID: "dev-reload-test", Topic: "shop.fraud-alerts", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	for {
		m, err := r.ReadMessage(rctx)
		if err != nil {
			t.Fatalf("no alert of generation %d with the new rule: %v", after, err)
		}
		var a struct {
			Generation int64 `json:"generation"`
			Hits       []struct {
				Rule string `json:"rule"`
			} `json:"hits"`
		}
		if json.Unmarshal(m.Value, &a) != nil || a.Generation != after {
			continue
		}
		hit := false
		for _, h := range a.Hits {
			hit = hit || h.Rule == "dev-edit-probe"
		}
		if !hit {
			t.Fatalf("alert of generation %d without the added always-true rule: %s", after, m.Value)
		}
		break
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ecap dev: %v", err)
	}
}
