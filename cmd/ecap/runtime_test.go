package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

const crashPartitions = 4

func buildECAP(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ecap")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type child struct {
	cmd  *exec.Cmd
	done chan error
}

func startRuntime(t *testing.T, bin, cfg, addr string, logf *os.File) *child {
	cmd := exec.Command(bin, "runtime", "--config", cfg, "--admin-addr", addr,
		"--kafka-session-timeout", "1500ms", "--kafka-heartbeat-interval", "200ms", "--kafka-rebalance-timeout", "5s")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	return c
}

func waitReady(t *testing.T, addr string, c *child) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			t.Fatalf("runtime exited early: %v", err)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("runtime not ready within 30s")
}

func getStatus(addr string) (engine.Status, error) {
	var st engine.Status
	resp, err := http.Get("http://" + addr + "/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// TestRuntimeCrash runs `ecap runtime` as a child process against an
// in-test kfake cluster, kills it with SIGKILL at random points under load,
// restarts it each time, and checks that the final durable state equals the
// reference computed from the input exactly and that every valid event is in
// the outputs, duplicates only as identical records.
func TestRuntimeCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs for about a minute")
	}
	bin := buildECAP(t)
	cluster := kafkatest.Start(t)
	cluster.CreateTopic(t, "txns", crashPartitions, nil)

	rc := v1alpha1.RuntimeConfig{
		TypeMeta: metavOf(),
		Pipeline: v1alpha1.PipelineConfig{Name: "crash", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: cluster.Addrs()},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
			KPIs: &v1alpha1.KPISpec{Topic: "kpis", Windows: []v1alpha1.KPIWindow{{Name: "1m", Type: v1alpha1.WindowTumbling, Size: "1m"}},
				MaxOutOfOrderness: "1s", AllowedLateness: "1s"},
			State: v1alpha1.StateSpec{CheckpointInterval: "300ms"},
			Sinks: v1alpha1.SinksSpec{EnrichedTransactionsTopic: "enriched", AlertsTopic: "alerts"},
		}},
		FraudRuleSets: []v1alpha1.FraudRuleSetConfig{{Name: "big", Generation: 1, Spec: v1alpha1.FraudRuleSetSpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: "crash"},
			Rules:       []v1alpha1.FraudRule{{Name: "big-amount", Expression: "txn.amount > 150.0", Score: 100}},
		}}},
	}
	dir := t.TempDir()
	cfgPath, logf := runtimeFiles(t, dir, rc)

	// Load: produced in the background while the runtime is killed.
	gen := enginetest.NewGenerator(7, 500, 40, time.Now().Add(-20*time.Minute), 50*time.Millisecond)
	ref := enginetest.NewReference()
	var produced int64
	var mu sync.Mutex
	loadDone := make(chan struct{})
	// One generator per goroutine: the producer's retries and the kill
	// timing each draw from their own.
	retryRNG, killRNG := rand.New(rand.NewPCG(42, 43)), rand.New(rand.NewPCG(44, 45))
	var txns []enginetest.Txn
	go func() {
		defer close(loadDone)
		for range 30 {
			var recs []kafkatest.Record
			for range 500 {
				x := gen.Next()
				ref.Add(x)
				txns = append(txns, x)
				recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
				if retryRNG.IntN(20) == 0 { // a producer retry
					recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
				}
			}
			cluster.Produce(t, "txns", recs...)
			mu.Lock()
			produced += int64(len(recs))
			mu.Unlock()
			time.Sleep(60 * time.Millisecond)
		}
	}()

	addr := freeAddr(t)
	kills := 0
	for kills < 6 {
		c := startRuntime(t, bin, cfgPath, addr, logf)
		// Kill at a random point of processing, once the partitions are
		// restored: a member killed while joining stays in kfake's group
		// (it is never expired), which stalls the next generation.
		waitReady(t, addr, c)
		time.Sleep(time.Duration(killRNG.IntN(1500)) * time.Millisecond)
		select {
		case err := <-c.done:
			t.Fatalf("runtime exited early: %v", err)
		default:
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.done
		kills++
	}
	<-loadDone

	// Final run: catch up, then stop cleanly with SIGTERM.
	c := startRuntime(t, bin, cfgPath, addr, logf)
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := getStatus(addr)
		var sum int64
		for _, p := range st.Partitions {
			sum += p.Offset
		}
		if err == nil && st.Ready && len(st.Partitions) == crashPartitions && sum == produced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime did not catch up to %d records: %+v (%v)", produced, st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The live API agrees with the reference for a sample customer.
	sample := txns[len(txns)-1].CustomerID
	resp, err := http.Get("http://" + addr + "/v1/customers/" + sample)
	if err != nil {
		t.Fatal(err)
	}
	var live engine.CustomerView
	_ = json.NewDecoder(resp.Body).Decode(&live)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || live.Transactions != ref.Customers[sample].Transactions {
		t.Errorf("/v1/customers/%s: %d %+v, want %d transactions", sample, resp.StatusCode, live, ref.Customers[sample].Transactions)
	}
	if resp, err := http.Get("http://" + addr + "/v1/customers/nobody"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/v1/customers/nobody: %v %v, want 404", resp.StatusCode, err)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("runtime did not exit 0 on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runtime did not stop on SIGTERM")
	}

	// Durable state: restore every changelog partition.
	s, err := engine.Resolve(&rc)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]engine.CustomerView{}
	for n := range crashPartitions {
		var recs [][2][]byte
		for _, r := range cluster.ReadPartition(t, s.Changelog, n) {
			recs = append(recs, [2][]byte{r.Key, r.Value})
		}
		cs, err := engine.CustomersFromChangelog(&s, int32(n), recs)
		if err != nil {
			t.Fatal(err)
		}
		for id, v := range cs {
			got[id] = v
		}
	}
	if len(got) != len(ref.Customers) {
		t.Errorf("state holds %d customers, reference %d", len(got), len(ref.Customers))
	}
	for id, want := range ref.Customers {
		v := got[id]
		if v.Transactions != want.Transactions || math.Abs(v.MonetaryTotal-float64(want.Micros)/1e6) > 1e-6 {
			t.Errorf("customer %s: %d txns / %.4f, reference %d / %.4f", id, v.Transactions, v.MonetaryTotal, want.Transactions, float64(want.Micros)/1e6)
		}
	}

	// Outputs: every valid event enriched at least once; repeats identical.
	enriched := map[string]string{}
	for _, r := range cluster.ReadAll(t, "enriched") {
		k := string(r.Key)
		if prev, ok := enriched[k]; ok && prev != string(r.Value) {
			t.Errorf("enriched %s written twice with different values", k)
		}
		enriched[k] = string(r.Value)
	}
	for _, x := range txns {
		if _, ok := enriched[x.EventID]; !ok {
			t.Errorf("event %s missing from the enriched output", x.EventID)
		}
	}
	alerts := map[string]string{}
	for _, r := range cluster.ReadAll(t, "alerts") {
		if prev, ok := alerts[string(r.Key)]; ok && prev != string(r.Value) {
			t.Errorf("alert %s written twice with different values", r.Key)
		}
		alerts[string(r.Key)] = string(r.Value)
	}
	var wantAlerts int
	for _, x := range txns {
		if x.Amount > 150 {
			wantAlerts++
		}
	}
	if len(alerts) != wantAlerts {
		t.Errorf("%d distinct alerts, want %d", len(alerts), wantAlerts)
	}
	t.Logf("%d records (%d valid events, %d customers), %d kills, %d enriched records read", produced, len(txns), len(ref.Customers), kills, len(enriched))
	_ = fmt.Sprint
	_ = context.Background
}
