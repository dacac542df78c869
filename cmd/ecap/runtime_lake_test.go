package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/lake"
)

// TestRuntimeLakeCrash runs `ecap runtime` with a local lake sink under
// load, kills it with SIGKILL at random points several times, restarts it,
// and checks that the lake's latest versions hold every input transaction
// exactly once and that no manifest version names a missing or partial file.
func TestRuntimeLakeCrash(t *testing.T) {
	bin := buildECAP(t)
	cluster := kafkatest.Start(t)
	cluster.CreateTopic(t, "txns", crashPartitions, nil)
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	rc := v1alpha1.RuntimeConfig{
		TypeMeta: metavOf(),
		Pipeline: v1alpha1.PipelineConfig{Name: "lakecrash", Namespace: "test", Generation: 2, Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: cluster.Addrs()},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
			State:  v1alpha1.StateSpec{CheckpointInterval: "300ms"},
			Sinks: v1alpha1.SinksSpec{Lake: &v1alpha1.LakeSink{
				Datasets:       []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions, v1alpha1.DatasetFraudDecisions},
				Local:          &v1alpha1.LocalLake{Path: lakeDir},
				CommitInterval: "700ms",
			}},
		}},
		FraudRuleSets: []v1alpha1.FraudRuleSetConfig{{Name: "big", Generation: 1, Spec: v1alpha1.FraudRuleSetSpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: "lakecrash"},
			Rules:       []v1alpha1.FraudRule{{Name: "big-amount", Expression: "txn.amount > 150.0", Score: 100}},
		}}},
	}
	cfgPath, logf := runtimeFiles(t, dir, rc)

	// Load in the background, with producer retries (duplicates the dedup
	// stage drops), while the runtime is killed.
	// Event times three hours back, across an hour boundary: closed hours,
	// which the runtime compacts between the kills too.
	gen := enginetest.NewGenerator(11, 400, 40, time.Now().UTC().Truncate(time.Hour).Add(-3*time.Hour-5*time.Minute), 60*time.Millisecond)
	retryRNG, killRNG := rand.New(rand.NewPCG(52, 53)), rand.New(rand.NewPCG(54, 55))
	var txns []enginetest.Txn
	var produced int64
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for range 40 {
			var recs []kafkatest.Record
			for range 250 {
				x := gen.Next()
				txns = append(txns, x)
				recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
				if retryRNG.IntN(20) == 0 {
					recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
				}
			}
			cluster.Produce(t, "txns", recs...)
			produced += int64(len(recs))
			time.Sleep(300 * time.Millisecond) // spread over the kills
		}
	}()

	addr := freeAddr(t)
	for kill := range 6 {
		c := startRuntime(t, bin, cfgPath, addr, logf)
		waitReady(t, addr, c)
		// Random points: before, during and after staging and commits.
		time.Sleep(time.Duration(200+killRNG.IntN(1800)) * time.Millisecond)
		select {
		case err := <-c.done:
			t.Fatalf("runtime exited early (run %d): %v", kill, err)
		default:
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-c.done
	}
	<-loadDone

	// Final run: catch up and commit everything, then stop with SIGTERM.
	c := startRuntime(t, bin, cfgPath, addr, logf)
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := getStatus(addr)
		var sum int64
		for _, p := range st.Partitions {
			sum += p.Offset
		}
		if err == nil && st.Ready && len(st.Partitions) == crashPartitions && sum == produced && st.Lake != nil &&
			st.Lake.StagedFiles == 0 && st.Lake.BufferedRows == 0 && allCheckpointed(st.Partitions) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime did not catch up to %d records and commit: %+v (%v)", produced, st, err)
		}
		time.Sleep(100 * time.Millisecond)
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

	ctx := context.Background()
	st, err := lake.NewLocalStore(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	l := lake.New(st, lake.Options{})
	// No manifest version, old or new, names a missing or partial file.
	versions, compactions := 0, 0
	referenced := map[string]bool{}
	for _, d := range []lake.Dataset{lake.Transactions, lake.FraudDecisions} {
		parts, err := l.Partitions(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			vs, err := l.Versions(ctx, d, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				versions++
				m, err := l.Manifest(ctx, d, p, v)
				if err != nil {
					t.Fatal(err)
				}
				if m.Operation == "compact" {
					compactions++
				}
				for _, f := range m.Files {
					key := string(d) + "/" + p + "/" + f.Path
					referenced[key] = true
					data, err := st.Get(ctx, key)
					if err != nil {
						t.Fatalf("%s v%d names %s: %v", p, v, f.Path, err)
					}
					if int64(len(data)) != f.Bytes {
						t.Fatalf("%s: %d bytes, manifest says %d", key, len(data), f.Bytes)
					}
					var n int
					if d == lake.Transactions {
						rows, err := lake.DecodeRows[lake.TransactionRow](data)
						if err != nil {
							t.Fatalf("%s: %v", key, err)
						}
						n = len(rows)
					} else {
						rows, err := lake.DecodeRows[lake.FraudDecisionRow](data)
						if err != nil {
							t.Fatalf("%s: %v", key, err)
						}
						n = len(rows)
					}
					if int64(n) != f.Rows {
						t.Fatalf("%s: %d rows, manifest says %d", key, n, f.Rows)
					}
				}
			}
		}
	}
	// Every input transaction exactly once, with its values.
	rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]lake.TransactionRow{}
	for _, r := range rows {
		if _, dup := seen[r.EventID]; dup {
			t.Fatalf("event %s twice in the lake", r.EventID)
		}
		seen[r.EventID] = r
	}
	for _, x := range txns {
		r, ok := seen[x.EventID]
		if !ok {
			t.Fatalf("event %s missing from the lake", x.EventID)
		}
		if r.CustomerID != x.CustomerID || r.Amount != x.Amount {
			t.Fatalf("event %s: lake %+v, input %s %v", x.EventID, r, x.CustomerID, x.Amount)
		}
	}
	if len(rows) != len(txns) {
		t.Fatalf("lake holds %d transactions, input %d", len(rows), len(txns))
	}
	decisions, err := lake.Read[lake.FraudDecisionRow](ctx, l, lake.FraudDecisions, lake.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range decisions {
		if ids[d.TransactionID] {
			t.Fatalf("decision on %s twice", d.TransactionID)
		}
		ids[d.TransactionID] = true
	}
	if len(decisions) != len(txns) {
		t.Fatalf("lake holds %d decisions, input %d transactions", len(decisions), len(txns))
	}
	files, orphans := 0, 0
	all, _ := st.List(ctx, "")
	for _, o := range all {
		if filepath.Ext(o.Key) == ".parquet" {
			files++
			if !referenced[o.Key] {
				orphans++ // written by a checkpoint a kill cut short
			}
		}
	}
	t.Logf("%d records produced, %d transactions, 6 kills, %d manifest versions (%d compactions), %d parquet files (%d never committed), %d rows visible",
		produced, len(txns), versions, compactions, files, orphans, len(rows))
}

// allCheckpointed reports whether every partition's checkpoint covers its
// offset, so no lake file is waiting for a checkpoint.
func allCheckpointed(ps []engine.PartitionStatus) bool {
	for _, p := range ps {
		if p.CheckpointedUpTo != p.Offset {
			return false
		}
	}
	return true
}
