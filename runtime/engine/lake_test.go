package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
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
	return env.start(Options{Lake: l})
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
		// One source for a file of the runtime, several once compacted.
		if f.Lineage.Pipeline != "shop" || f.Lineage.Generation != 3 || len(f.Lineage.InputTopics) != 1 || f.Lineage.InputTopics[0] != "txns" ||
			len(f.Sources) == 0 || (len(f.Sources) > 1 && f.Lineage.Operation != "compact") {
			t.Fatalf("%s: lineage %+v sources %+v", f.Key, f.Lineage, f.Sources)
		}
		for _, src := range f.Sources {
			if src.Topic != "txns" || src.First > src.Last {
				t.Fatalf("%s: source %+v", f.Key, src)
			}
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
	l := env.withLake(&v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions, v1alpha1.DatasetFraudDecisions,
		v1alpha1.DatasetKPIs, v1alpha1.DatasetUserEvents}, Local: &v1alpha1.LocalLake{Path: t.TempDir()}, CommitInterval: "300ms"})
	env.s.Lake.CompactAfter = time.Nanosecond // both hours of the workload have ended
	input := lakeWorkload(1200)
	e, stop := env.runLake(l)
	produceTxns(t, env.cluster, input[:800])
	waitCaughtUp(t, e, 800)
	waitLakeRows(t, l, 800, e)
	stop()
	checkLakeTransactions(t, l, input[:800])

	e, stop = env.runLake(l)
	produceTxns(t, env.cluster, input[800:])
	// User events, one of them sent twice.
	var ues []kafkatest.Record
	at := time.Now().UTC().Add(-time.Minute)
	for i := range 40 {
		v, _ := json.Marshal(map[string]any{"event_id": fmt.Sprintf("ue-%03d", i), "type": "user_event", "schema_version": 1,
			"event_time": at.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano), "session_id": "ses-1",
			"customer_id": enginetest.CustomerID(i % 7), "action": "search", "query": "shoes"})
		ues = append(ues, kafkatest.Record{Key: []byte(enginetest.CustomerID(i % 7)), Value: v})
	}
	env.cluster.Produce(t, "uevents", append(ues, ues[5])...)
	waitCaughtUp(t, e, int64(len(input)))
	waitLakeRows(t, l, len(input), e)
	waitLakeUserEvents(t, l, 40)
	st := e.Status().Lake
	stop()
	checkLakeTransactions(t, l, input)
	if st == nil || !st.Healthy || st.CommittedFiles == 0 {
		t.Fatalf("lake status = %+v", st)
	}

	ctx := context.Background()
	// The closed hours were compacted (rows unchanged, checked above).
	compacted := 0
	parts, err := l.Partitions(ctx, lake.Transactions)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		vs, _ := l.Versions(ctx, lake.Transactions, p)
		for _, v := range vs {
			if m, err := l.Manifest(ctx, lake.Transactions, p, v); err == nil && m.Operation == "compact" {
				compacted++
			}
		}
	}
	if compacted == 0 {
		t.Fatalf("no transactions partition was compacted")
	}
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
	waitLakeUserEvents(t, l, 40)
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
	// Datasets not configured are not written (the rule set decides on
	// every transaction here).
	if parts, err := l.Partitions(context.Background(), lake.FraudDecisions); err != nil || len(parts) != 0 {
		t.Fatalf("fraud_decisions written without being configured: %v %v", parts, err)
	}
	names := make([]string, 0, len(objs))
	for _, o := range objs {
		names = append(names, o.Key)
	}
	sort.Strings(names)
	t.Logf("%d objects, first %s", len(names), names[0])
}

func TestResolveLake(t *testing.T) {
	base := func() *v1alpha1.LakeSink {
		return &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions}, Local: &v1alpha1.LocalLake{Path: "/lake"}}
	}
	rc := testRuntimeConfig([]string{"k:9092"})
	rc.Pipeline.Spec.Sinks.Lake = base()
	s, err := Resolve(rc)
	if err != nil {
		t.Fatal(err)
	}
	if s.Lake == nil || s.Lake.CommitInterval != DefaultLakeCommitInterval || !s.Lake.Datasets[lake.Transactions] || s.Lake.Local != "/lake" {
		t.Fatalf("lake settings = %+v", s.Lake)
	}
	for _, tc := range []struct {
		name  string
		edit  func(l *v1alpha1.LakeSink)
		field string
	}{
		{"no datasets", func(l *v1alpha1.LakeSink) { l.Datasets = nil }, "pipeline.spec.sinks.lake.datasets"},
		{"unknown dataset", func(l *v1alpha1.LakeSink) { l.Datasets = append(l.Datasets, "orders") }, "pipeline.spec.sinks.lake.datasets[1]"},
		{"bad interval", func(l *v1alpha1.LakeSink) { l.CommitInterval = "soon" }, "pipeline.spec.sinks.lake.commitInterval"},
		{"both targets", func(l *v1alpha1.LakeSink) { l.S3 = &v1alpha1.S3Lake{Endpoint: "s3", Bucket: "b"} }, "exactly one of local or s3"},
		{"no target", func(l *v1alpha1.LakeSink) { l.Local = nil }, "exactly one of local or s3"},
		{"relative path", func(l *v1alpha1.LakeSink) { l.Local.Path = "lake" }, "pipeline.spec.sinks.lake.local.path"},
		{"no bucket", func(l *v1alpha1.LakeSink) { l.Local, l.S3 = nil, &v1alpha1.S3Lake{Endpoint: "s3"} }, "pipeline.spec.sinks.lake.s3.bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := testRuntimeConfig([]string{"k:9092"})
			rc.Pipeline.Spec.Sinks.Lake = base()
			tc.edit(rc.Pipeline.Spec.Sinks.Lake)
			if _, err := Resolve(rc); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
	// An engine with a lake sink needs an opened lake.
	rc.Pipeline.Spec.Sinks.Lake = base()
	s, _ = Resolve(rc)
	if _, err := New(s, Options{Kafka: kafkaio.Config{Brokers: []string{"k:9092"}}, Group: "g"}); err == nil || !strings.Contains(err.Error(), "pipeline.spec.sinks.lake") {
		t.Fatalf("New without a lake: %v", err)
	}
}

// TestSnapshotLakeFiles: the staged lake files survive a snapshot round
// trip, and a snapshot written before the lake existed still decodes.
func TestSnapshotLakeFiles(t *testing.T) {
	rc := testRuntimeConfig([]string{"k:9092"})
	s, err := Resolve(rc)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPartition(&s, 1)
	p.nextFB = 42
	noLake, err := encodeSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	staged := lake.StagedFile{Dataset: lake.Transactions, Partition: "date=2026-11-20/hour=10",
		Entry: lake.FileEntry{Path: "part-p1-x-000001.parquet", Rows: 3, Sources: []lake.SourceRange{{Topic: "txns", Partition: 1, First: 5, Last: 9}}}}
	inflight := &lakeFile{sf: lake.StagedFile{Dataset: lake.KPIs, Partition: "date=2026-11-20/hour=11", Entry: lake.FileEntry{Path: "part-p1-y-000002.parquet"}}}
	p.lake.staged = []lake.StagedFile{staged}
	p.lake.inflight = []*lakeFile{inflight}
	withLake, err := encodeSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := newPartition(&s, 1)
	if err := decodeSnapshot(q, withLake); err != nil {
		t.Fatal(err)
	}
	if len(q.lake.staged) != 2 || q.lake.staged[0].Entry.Path != staged.Entry.Path || q.lake.staged[0].Entry.Sources[0].Last != 9 ||
		q.lake.staged[1].Dataset != lake.KPIs || q.nextFB != 42 {
		t.Fatalf("restored lake files = %+v, nextFB %d", q.lake.staged, q.nextFB)
	}
	// The format before the lake: it ends after the feedback offset.
	old := noLake[:len(noLake)-1] // the empty lake blob is one length byte
	r, _ := newPartition(&s, 1)
	if err := decodeSnapshot(r, old); err != nil {
		t.Fatal(err)
	}
	if r.nextFB != 42 || len(r.lake.staged) != 0 {
		t.Fatalf("old snapshot restored nextFB %d, lake %v", r.nextFB, r.lake.staged)
	}
}

// waitLakeUserEvents waits until user_events holds want distinct rows and
// checks none is there twice.
func waitLakeUserEvents(t *testing.T, l *lake.Lake, want int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ue, err := lake.Read[lake.UserEventRow](ctx, l, lake.UserEvents, lake.AsOf{})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, r := range ue {
			if ids[r.EventID] || r.Query != "shoes" || r.SessionID != "ses-1" {
				t.Fatalf("user event row %+v (seen before: %v)", r, ids[r.EventID])
			}
			ids[r.EventID] = true
		}
		if len(ue) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("user_events holds %d rows, want %d", len(ue), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
