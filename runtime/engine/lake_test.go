package engine

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/lake/laketest"
)

// withLake configures the lake sink on env and opens the lake.
func (env *testEnv) withLake(sink *v1alpha1.LakeSink) *lake.Lake {
	env.t.Helper()
	env.rc.Pipeline.Spec.Sinks.Lake = sink
	var err error
	if env.s, err = Resolve(env.rc); err != nil {
		env.t.Fatal(err)
	}
	l, err := OpenLake(env.s.Lake, func() (string, string, error) { return laketest.AccessKey, laketest.SecretKey, nil })
	if err != nil {
		env.t.Fatal(err)
	}
	return l
}

// runLake starts an engine writing to l.
func (env *testEnv) runLake(l *lake.Lake) (*Engine, func()) {
	env.t.Helper()
	e, err := New(env.s, Options{Kafka: env.kcfg, Group: ConsumerGroup(env.rc), RuleSets: env.rc.FraudRuleSets, Lake: l})
	if err != nil {
		env.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return e, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				env.t.Errorf("engine Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			env.t.Fatal("engine did not stop")
		}
	}
}

// waitLakeRows waits until the lake's transactions hold want rows.
func waitLakeRows(t *testing.T, l *lake.Lake, want int, e *Engine) []lake.TransactionRow {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var rows []lake.TransactionRow
	var err error
	for time.Now().Before(deadline) {
		rows, err = lake.Read[lake.TransactionRow](context.Background(), l, lake.Transactions, lake.AsOf{})
		if err == nil && len(rows) >= want {
			return rows
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("lake holds %d transactions (err %v), want %d; status %+v", len(rows), err, want, e.Status().Lake)
	return nil
}

// lakeWorkload is n transactions whose event times straddle an hour
// boundary (an hour ago), so they land in two date/hour partitions.
func lakeWorkload(n int) []enginetest.Txn {
	boundary := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	gen := enginetest.NewGenerator(7, 300, 40, boundary.Add(-time.Duration(n/2)*100*time.Millisecond), 100*time.Millisecond)
	out := make([]enginetest.Txn, n)
	for i := range out {
		out[i] = gen.Next()
	}
	return out
}

// checkLakeTransactions checks the lake holds exactly the input, once each,
// every row in the partition of its event time and inside its file's
// manifest bounds.
func checkLakeTransactions(t *testing.T, l *lake.Lake, input []enginetest.Txn) {
	t.Helper()
	ctx := context.Background()
	files, err := l.Files(ctx, lake.Transactions, lake.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]lake.TransactionRow{}
	parts := map[string]bool{}
	for _, f := range files {
		data, err := l.Store().Get(ctx, f.Key)
		if err != nil {
			t.Fatalf("manifest names %s: %v", f.Key, err)
		}
		if int64(len(data)) != f.Bytes {
			t.Fatalf("%s has %d bytes, manifest says %d", f.Key, len(data), f.Bytes)
		}
		rows, err := lake.DecodeRows[lake.TransactionRow](data)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(rows)) != f.Rows {
			t.Fatalf("%s has %d rows, manifest says %d", f.Key, len(rows), f.Rows)
		}
		if f.Lineage.Pipeline != "shop" || f.Lineage.Generation != 3 || len(f.Sources) != 1 || f.Sources[0].Topic != "txns" {
			t.Fatalf("%s: lineage %+v sources %+v", f.Key, f.Lineage, f.Sources)
		}
		parts[f.Partition] = true
		for _, r := range rows {
			if prev, dup := seen[r.EventID]; dup {
				t.Fatalf("event %s twice in the lake (%+v, %+v)", r.EventID, prev, r)
			}
			seen[r.EventID] = r
			if got := lake.PartitionOf(r.EventTime); got != f.Partition {
				t.Fatalf("event %s at %s is in partition %s", r.EventID, r.EventTime, f.Partition)
			}
			if r.EventTime.Before(f.MinEventTime) || r.EventTime.After(f.MaxEventTime) {
				t.Fatalf("event %s at %s outside its file's bounds %s..%s", r.EventID, r.EventTime, f.MinEventTime, f.MaxEventTime)
			}
		}
	}
	for _, x := range input {
		r, ok := seen[x.EventID]
		if !ok {
			t.Fatalf("event %s missing from the lake", x.EventID)
		}
		if r.CustomerID != x.CustomerID || r.Amount != x.Amount || !r.EventTime.Equal(x.EventTime.Truncate(time.Millisecond)) {
			t.Fatalf("event %s: lake %+v, input %s %v %s", x.EventID, r, x.CustomerID, x.Amount, x.EventTime)
		}
	}
	if len(seen) != len(input) {
		t.Fatalf("lake holds %d events, input %d", len(seen), len(input))
	}
	if len(parts) < 2 {
		t.Fatalf("events straddling an hour landed in %d partition(s)", len(parts))
	}
}

// TestEngineLakeLocal: transactions in, the same transactions out of the
// lake (by event ID, once each, in the right hour), plus fraud decisions
// and KPI windows; a restart with more input adds exactly the new events.
func TestEngineLakeLocal(t *testing.T) {
	env := newTestEnv(t)
	l := env.withLake(&v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions, v1alpha1.DatasetFraudDecisions, v1alpha1.DatasetKPIs},
		Local: &v1alpha1.LocalLake{Path: t.TempDir()}, CommitInterval: "300ms"})
	input := lakeWorkload(1200)
	e, stop := env.runLake(l)
	produceTxns(t, env.cluster, input[:800])
	waitCaughtUp(t, e, 800)
	waitLakeRows(t, l, 800, e)
	stop()
	checkLakeTransactions(t, l, input[:800])

	e, stop = env.runLake(l)
	produceTxns(t, env.cluster, input[800:])
	waitCaughtUp(t, e, int64(len(input)))
	waitLakeRows(t, l, len(input), e)
	st := e.Status().Lake
	stop()
	checkLakeTransactions(t, l, input)
	if st == nil || !st.Healthy || st.CommittedFiles == 0 {
		t.Fatalf("lake status = %+v", st)
	}

	ctx := context.Background()
	decisions, err := lake.Read[lake.FraudDecisionRow](ctx, l, lake.FraudDecisions, lake.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	if len(decisions) != len(input) {
		t.Fatalf("fraud_decisions holds %d rows, want one per transaction (%d)", len(decisions), len(input))
	}
	amounts := map[string]float64{}
	for _, x := range input {
		amounts["txn-"+x.EventID[len("evt-"):]] = x.Amount
	}
	for _, d := range decisions {
		wantBlock := amounts[d.TransactionID] > 150
		if (d.Decision != "allow") != wantBlock || (d.AlertID != "") != wantBlock || (wantBlock && (len(d.RulesHit) != 1 || d.RulesHit[0] != "big-amount")) {
			t.Fatalf("decision %+v for amount %v", d, amounts[d.TransactionID])
		}
	}
	kpis, err := lake.Read[lake.KPIRow](ctx, l, lake.KPIs, lake.AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, k := range kpis {
		if ids[k.ID] {
			t.Fatalf("KPI window %s twice", k.ID)
		}
		ids[k.ID] = true
	}
	if len(kpis) == 0 {
		t.Fatal("no KPI windows in the lake")
	}
	// Datasets not configured are not written.
	if parts, _ := l.Partitions(ctx, lake.UserEvents); len(parts) != 0 {
		t.Fatalf("user_events written without being configured: %v", parts)
	}
}

// TestEngineLakeS3Outage runs the lake on S3 (gofakes3 over HTTP) with the
// bucket down at first: the engine keeps running, reports the failure, and
// once the bucket is back every transaction reaches the lake exactly once.
func TestEngineLakeS3Outage(t *testing.T) {
	env := newTestEnv(t)
	s3 := laketest.NewS3(t, "ecap-lake")
	l := env.withLake(&v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions},
		S3: &v1alpha1.S3Lake{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: "prod/lake", Insecure: true, Region: "us-east-1"}, CommitInterval: "300ms"})
	input := lakeWorkload(600)
	s3.SetDown(true)
	e, stop := env.runLake(l)
	defer stop()
	produceTxns(t, env.cluster, input)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ok, msg := e.LakeHealthy(); !ok && msg != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lake outage not reported: %+v", e.Status().Lake)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := e.Status()
	if st.Lake.BufferedRows == 0 {
		t.Fatalf("no rows held back during the outage: %+v", st.Lake)
	}
	for _, p := range st.Partitions {
		if p.CheckpointedUpTo > 0 {
			// The marker may only pass rows the lake holds.
			t.Fatalf("partition %d checkpointed to %d while the lake was down", p.Partition, p.CheckpointedUpTo)
		}
	}
	s3.SetDown(false)
	waitLakeRows(t, l, len(input), e)
	checkLakeTransactions(t, l, input)
	objs, err := l.Store().List(context.Background(), "prod/lake/transactions/")
	if err != nil || len(objs) == 0 {
		t.Fatalf("no objects under the prefix: %v", err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for ok, _ := e.LakeHealthy(); !ok; ok, _ = e.LakeHealthy() {
		if time.Now().After(deadline) {
			t.Fatalf("lake still unhealthy after the outage: %+v", e.Status().Lake)
		}
		time.Sleep(50 * time.Millisecond)
	}
	names := make([]string, 0, len(objs))
	for _, o := range objs {
		names = append(names, o.Key)
	}
	sort.Strings(names)
	t.Logf("%d objects, first %s", len(names), names[0])
}
