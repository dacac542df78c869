package retentionpolicy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/audit"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/lake/laketest"
)

// lakeT0 is the first hour of the test lake; the job's clock stands at
// lakeT0+10h.
var lakeT0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// lakeErased is the customer the lake tests erase.
const lakeErased = "cus-b"

// commitRows writes rows as one file of dataset d and commits it.
func commitRows[T lake.Row](g Gomega, l *lake.Lake, d lake.Dataset, seq int, rows []T) {
	ctx := context.Background()
	data, err := lake.EncodeRows(rows)
	g.Expect(err).NotTo(HaveOccurred())
	part := lake.PartitionOf(rows[0].PartitionTime())
	e := lake.FileEntry{Path: lake.NewFileName("p0", uint64(seq)), Rows: int64(len(rows)), SchemaVersion: lake.SchemaVersion,
		MinEventTime: rows[0].PartitionTime(), MaxEventTime: rows[len(rows)-1].PartitionTime(),
		Sources: []lake.SourceRange{{Topic: "txns", Partition: 0, First: int64(10 * seq), Last: int64(10*seq + 9)}},
		Lineage: lake.Lineage{Pipeline: "shop", Generation: 1, InputTopics: []string{"txns"}}}
	sf, err := l.Stage(ctx, d, part, e, data)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = l.Commit(ctx, d, part, []lake.FileEntry{sf.Entry})
	g.Expect(err).NotTo(HaveOccurred())
}

// fillLake writes transactions and user events into hours 0..6 after
// lakeT0, two commits (files, versions) per hour and dataset: customers
// a, b and c in hours 0..5, only a and c in hour 6. Hour 4 of
// transactions is then compacted, so its older versions list files the
// newest does not.
func fillLake(g Gomega, l *lake.Lake) {
	seq := 0
	for h := 0; h <= 6; h++ {
		customers := []string{"cus-a", lakeErased, "cus-c"}
		if h == 6 {
			customers = []string{"cus-a", "cus-c"}
		}
		for f := range 2 {
			var txns []lake.TransactionRow
			var ues []lake.UserEventRow
			for i, c := range customers {
				id := fmt.Sprintf("h%d-f%d-%d", h, f, i)
				at := lakeT0.Add(time.Duration(h)*time.Hour + time.Duration(10*f+i)*time.Minute)
				txns = append(txns, lake.TransactionRow{EventID: "t-" + id, TransactionID: "t-" + id, CustomerID: c, MerchantID: "m1",
					EventTime: at, Amount: float64(100*h+10*f+i) + 0.5, Currency: "EUR", Lines: 1, Units: 2,
					Categories: []string{"books"}, Brands: []string{"acme"}, Country: "DE", Channel: "web", PaymentMethod: "card"})
				ues = append(ues, lake.UserEventRow{EventID: "u-" + id, EventTime: at, SessionID: "s-" + c, CustomerID: c,
					Action: "view", ProductID: "p1", Page: "/p/1", Channel: "web", Country: "DE"})
			}
			seq++
			commitRows(g, l, lake.Transactions, seq, txns)
			commitRows(g, l, lake.UserEvents, seq, ues)
		}
	}
	_, err := l.CompactPartition(context.Background(), lake.Transactions, lake.PartitionOf(lakeT0.Add(4*time.Hour)), 2, false)
	g.Expect(err).NotTo(HaveOccurred())
}

// storeListing is every object of a store with its content.
func storeListing(g Gomega, s lake.Store) map[string]string {
	ctx := context.Background()
	objs, err := s.List(ctx, "")
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]string{}
	for _, o := range objs {
		data, err := s.Get(ctx, o.Key)
		g.Expect(err).NotTo(HaveOccurred())
		out[o.Key] = string(data)
	}
	return out
}

// rowsByID reads a dataset's newest rows keyed by event ID, without the
// erased customer's when drop is set.
func txnRows(g Gomega, l *lake.Lake, drop bool) map[string]lake.TransactionRow {
	rows, err := lake.Read[lake.TransactionRow](context.Background(), l, lake.Transactions, lake.AsOf{})
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]lake.TransactionRow{}
	for _, r := range rows {
		if !drop || r.CustomerID != lakeErased {
			out[r.EventID] = r
		}
	}
	return out
}

func ueRows(g Gomega, l *lake.Lake, drop bool) map[string]lake.UserEventRow {
	rows, err := lake.Read[lake.UserEventRow](context.Background(), l, lake.UserEvents, lake.AsOf{})
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]lake.UserEventRow{}
	for _, r := range rows {
		if !drop || r.CustomerID != lakeErased {
			out[r.EventID] = r
		}
	}
	return out
}

// hourOf is the hour after lakeT0 of a row's event ID ("t-h3-f0-1").
func hourOf(id string) int {
	var h int
	_, _ = fmt.Sscanf(id[strings.Index(id, "-h")+2:], "%d", &h)
	return h
}

func lakeTarget(rp *v1alpha1.RetentionPolicy, kind v1alpha1.TargetKind, name string) v1alpha1.TargetStatus {
	for _, ts := range rp.Status.Targets {
		if ts.Kind == kind && ts.Name == name {
			return ts
		}
	}
	return v1alpha1.TargetStatus{Kind: "missing " + kind, Name: name}
}

// TestRetentionJobLake runs `ecap retention` (RunJob) on a Pipeline with a
// lake, once on a local directory and once on S3 (gofakes3 over HTTP),
// with a fake clock: a dry run changes no object; the real run erases the
// customer from every dataset and version (every object scanned) while
// the other customers' rows stay identical, deletes exactly the expired
// transaction partitions, archives the expired user-event partitions
// intact, keeps keepVersions versions elsewhere, writes one audit record
// per target and the counts in the status; a second run finds nothing.
func TestRetentionJobLake(t *testing.T) {
	for _, kind := range []string{"local", "s3"} {
		t.Run(kind, func(t *testing.T) { testRetentionJobLake(t, kind) })
	}
}

func testRetentionJobLake(t *testing.T, kind string) {
	ctx, g, ns := env.Setup(t)
	c := kafkatest.Start(t)
	c.CreateTopic(t, "txns", 2, nil)
	p := kafkaPipeline(ns, "shop", c.Addrs())
	// The runtime runs without the lake: the test writes the lake itself.
	e := runtimeFor(t, g, c, p.DeepCopy())
	waitApplied(g, e, 0)

	var store lake.Store
	sink := &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{"transactions", "user_events"}}
	// archive is where the archived partitions go: the lake's prefix
	// under spec.lake[].archivePrefix.
	prefix, archive := "", "archive"
	switch kind {
	case "local":
		dir := filepath.Join(t.TempDir(), "lake")
		sink.Local = &v1alpha1.LocalLake{Path: dir}
		st, err := lake.NewLocalStore(dir)
		g.Expect(err).NotTo(HaveOccurred())
		store = st
	case "s3":
		s3 := laketest.NewS3(t, "lake")
		prefix, archive = "shop", "archive/shop"
		sink.S3 = &v1alpha1.S3Lake{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: prefix, Region: "us-east-1", Insecure: true,
			Credentials: v1alpha1.CredentialsSource{SecretRef: &v1alpha1.SecretCredentials{Name: "lake-keys"}}}
		store = s3.Store(t)
	}
	p.Spec.Sinks.Lake = sink
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	fillLake(g, lake.New(store, lake.Options{Prefix: prefix}))
	l := lake.New(store, lake.Options{Prefix: prefix})

	rp := &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lake"},
		Spec: v1alpha1.RetentionPolicySpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"},
			Schedule:    "30 2 * * *",
			Erasure:     &v1alpha1.ErasureSpec{CustomerIDs: []string{lakeErased}},
			Lake: []v1alpha1.LakeRetention{
				{Selector: v1alpha1.TargetSelector{Names: []string{"transactions"}}, ExpireAfter: "6h", Action: v1alpha1.LakeDelete, KeepVersions: 2},
				{Selector: v1alpha1.TargetSelector{Pattern: "user_.*"}, ExpireAfter: "6h", Action: v1alpha1.LakeArchive, ArchivePrefix: "archive"},
				{Selector: v1alpha1.TargetSelector{Names: []string{"fraud_decisions"}}, ExpireAfter: "30d"},
			},
		},
	}
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())

	// The job's clock: lakeT0+10h, so with expireAfter 6h the hours 0..3
	// (ended by lakeT0+4h) expire and 4..6 stay.
	clock := clocktesting.NewFakeClock(lakeT0.Add(10 * time.Hour))
	opts := retentionpolicy.JobOptions{Client: env.Client, Namespace: ns, Policy: "lake", Clock: clock,
		KafkaTimeout: 10 * time.Second, AckTimeout: 30 * time.Second,
		KafkaConfig: func(context.Context, *v1alpha1.Pipeline) (kafkaio.Config, error) {
			return kafkaio.Config{Brokers: c.Addrs(), ClientID: "ecap-retention"}, nil
		},
		OpenLake: func(_ context.Context, _ *v1alpha1.Pipeline, ls *engine.LakeSettings, now func() time.Time) (*lake.Lake, error) {
			return engine.OpenLakeAt(ls, func() (string, string, error) { return laketest.AccessKey, laketest.SecretKey, nil }, now)
		}}

	beforeTxn, beforeUE := txnRows(g, l, false), ueRows(g, l, false)
	g.Expect(beforeTxn).To(HaveLen(2*3*6 + 2*2))
	g.Expect(beforeUE).To(HaveLen(2*3*6 + 2*2))

	// Dry run: the counts, and not one object changed.
	before := storeListing(g, store)
	dry := opts
	dry.DryRun = true
	g.Expect(retentionpolicy.RunJob(ctx, dry)).To(Succeed())
	g.Expect(storeListing(g, store)).To(Equal(before), "the dry run changed the lake")
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(rp.Status.LastRunDryRun).To(BeTrue())
	checkCounts := func(rp *v1alpha1.RetentionPolicy) {
		for _, d := range []string{"transactions", "user_events"} {
			le := lakeTarget(rp, v1alpha1.TargetLakeErasure, d)
			g.Expect(le.RowsErased).To(BeEquivalentTo(2*6), "%s: %+v", d, rp.Status.Targets)
		}
		td := lakeTarget(rp, v1alpha1.TargetLakeDataset, "transactions")
		g.Expect(td.PartitionsDeleted).To(BeEquivalentTo(4), "%+v", td)
		g.Expect(td.PartitionsArchived).To(BeZero())
		g.Expect(td.BytesFreed).To(BeNumerically(">", 0))
		ud := lakeTarget(rp, v1alpha1.TargetLakeDataset, "user_events")
		g.Expect(ud.PartitionsArchived).To(BeEquivalentTo(4), "%+v", ud)
		g.Expect(ud.PartitionsDeleted).To(BeZero())
		nomatch := lakeTarget(rp, v1alpha1.TargetLakeDataset, "fraud_decisions")
		g.Expect(nomatch.Message).To(ContainSubstring("spec.lake[2].selector: fraud_decisions matches no dataset the lake sink writes (transactions, user_events)"))
	}
	checkCounts(rp)
	g.Expect(lakeTarget(rp, v1alpha1.TargetLakeErasure, "transactions").Message).To(ContainSubstring("would erase 12 rows"))

	// The real run.
	g.Expect(retentionpolicy.RunJob(ctx, opts)).To(Succeed())
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(rp.Status.LastRunDryRun).To(BeFalse())
	g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionLastRunSucceeded)).To(Equal(metav1.ConditionTrue))
	checkCounts(rp)

	// Erasure: no object of the lake (data files of every version, the
	// archive) holds a row of the customer.
	objs, err := store.List(ctx, "")
	g.Expect(err).NotTo(HaveOccurred())
	files := 0
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		files++
		data, err := store.Get(ctx, o.Key)
		g.Expect(err).NotTo(HaveOccurred())
		var customers []string
		if strings.Contains(o.Key, "transactions/") {
			rows, err := lake.DecodeRows[lake.TransactionRow](data)
			g.Expect(err).NotTo(HaveOccurred())
			for _, r := range rows {
				customers = append(customers, r.CustomerID)
			}
		} else {
			rows, err := lake.DecodeRows[lake.UserEventRow](data)
			g.Expect(err).NotTo(HaveOccurred())
			for _, r := range rows {
				customers = append(customers, r.CustomerID)
			}
		}
		g.Expect(customers).NotTo(BeEmpty(), o.Key)
		g.Expect(customers).NotTo(ContainElement(lakeErased), "%s still holds the erased customer", o.Key)
	}
	g.Expect(files).To(BeNumerically(">", 0))

	// Expiry: exactly hours 0..3 of transactions are gone; the rest is
	// the other customers' rows, identical.
	wantTxn := map[string]lake.TransactionRow{}
	for id, r := range beforeTxn {
		if r.CustomerID != lakeErased && hourOf(id) >= 4 {
			wantTxn[id] = r
		}
	}
	g.Expect(txnRows(g, l, false)).To(Equal(wantTxn))
	// Archive: hours 0..3 of user events moved intact (less the erased
	// customer) under archive/, readable as a lake of their own.
	wantUE, wantArchived := map[string]lake.UserEventRow{}, map[string]lake.UserEventRow{}
	for id, r := range beforeUE {
		switch {
		case r.CustomerID == lakeErased:
		case hourOf(id) >= 4:
			wantUE[id] = r
		default:
			wantArchived[id] = r
		}
	}
	g.Expect(ueRows(g, l, false)).To(Equal(wantUE))
	g.Expect(ueRows(g, lake.New(store, lake.Options{Prefix: archive}), false)).To(Equal(wantArchived))

	// Versions: the erased partitions keep only their rewritten version;
	// hour 6 (nothing erased) keeps keepVersions=2 and time travel.
	for h, want := range map[int]int{4: 1, 5: 1, 6: 2} {
		vs, err := l.Versions(ctx, lake.Transactions, lake.PartitionOf(lakeT0.Add(time.Duration(h)*time.Hour)))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(vs).To(HaveLen(want), "hour %d", h)
	}

	// Audit: one job record per target of the real run.
	byTarget := map[string]audit.Record{}
	for _, r := range c.ReadAll(t, "shop-audit") {
		var a audit.Record
		g.Expect(json.Unmarshal(r.Value, &a)).To(Succeed())
		if a.Source != audit.SourceJob || a.DryRun {
			continue
		}
		g.Expect(string(r.Value)).NotTo(ContainSubstring(lakeErased), "audit records carry no customer IDs")
		byTarget[a.Target.Kind+"/"+a.Target.Name] = a
	}
	var keys []string
	for k := range byTarget {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	g.Expect(keys).To(Equal([]string{"Erasure/shop", "LakeDataset/fraud_decisions", "LakeDataset/transactions", "LakeDataset/user_events",
		"LakeErasure/" + archive + "/transactions", "LakeErasure/" + archive + "/user_events", "LakeErasure/transactions", "LakeErasure/user_events"}))
	g.Expect(byTarget["LakeDataset/transactions"].Partitions).To(BeEquivalentTo(4))
	g.Expect(byTarget["LakeDataset/transactions"].Bytes).To(BeNumerically(">", 0))
	g.Expect(byTarget["LakeErasure/user_events"].Entries).To(BeEquivalentTo(12))

	// A second run at the same time has nothing left to do.
	after := storeListing(g, store)
	g.Expect(retentionpolicy.RunJob(ctx, opts)).To(Succeed())
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(lakeTarget(rp, v1alpha1.TargetLakeErasure, "transactions").RowsErased).To(BeZero())
	g.Expect(lakeTarget(rp, v1alpha1.TargetLakeDataset, "transactions").PartitionsDeleted).To(BeZero())
	g.Expect(storeListing(g, store)).To(Equal(after))

	// An hour later on the job's clock, hour 4 has expired too.
	clock.Step(time.Hour)
	g.Expect(retentionpolicy.RunJob(ctx, opts)).To(Succeed())
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(lakeTarget(rp, v1alpha1.TargetLakeDataset, "transactions").PartitionsDeleted).To(BeEquivalentTo(1))
	g.Expect(lakeTarget(rp, v1alpha1.TargetLakeDataset, "user_events").PartitionsArchived).To(BeEquivalentTo(1))
	for id := range wantTxn {
		if hourOf(id) == 4 {
			delete(wantTxn, id)
		}
	}
	for id, r := range wantUE {
		if hourOf(id) == 4 {
			delete(wantUE, id)
			wantArchived[id] = r
		}
	}
	g.Expect(txnRows(g, l, false)).To(Equal(wantTxn))
	g.Expect(ueRows(g, l, false)).To(Equal(wantUE))

	// A customer erased after their partitions were archived goes from
	// the archive too; the other customer's archived rows stay identical.
	g.Expect(env.Update(ctx, rp, func() { rp.Spec.Erasure.CustomerIDs = []string{lakeErased, "cus-a"} })).To(Succeed())
	g.Expect(retentionpolicy.RunJob(ctx, opts)).To(Succeed())
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(lakeTarget(rp, v1alpha1.TargetLakeErasure, archive+"/user_events").RowsErased).To(BeEquivalentTo(2*5), "%+v", rp.Status.Targets)
	for id, r := range wantArchived {
		if r.CustomerID == "cus-a" {
			delete(wantArchived, id)
		}
	}
	arch := lake.New(store, lake.Options{Prefix: archive})
	g.Expect(ueRows(g, arch, false)).To(Equal(wantArchived))
	objs, err = store.List(ctx, archive+"/")
	g.Expect(err).NotTo(HaveOccurred())
	for _, o := range objs {
		if strings.HasPrefix(o.Key, archive+"/user_events/") && strings.HasSuffix(o.Key, ".parquet") {
			data, err := store.Get(ctx, o.Key)
			g.Expect(err).NotTo(HaveOccurred())
			rows, err := lake.DecodeRows[lake.UserEventRow](data)
			g.Expect(err).NotTo(HaveOccurred())
			for _, r := range rows {
				g.Expect(r.CustomerID).To(Equal("cus-c"), o.Key)
			}
		}
	}
}

// TestRetentionJobLakeUnreachable: an S3 lake that answers every request
// with 503 fails the run once, with Stalled=True, reason LakeUnavailable
// and the store's error in the status.
func TestRetentionJobLakeUnreachable(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	c := kafkatest.Start(t)
	c.CreateTopic(t, "txns", 2, nil)
	// The topics the Pipeline's runtime would have created.
	c.CreateTopic(t, "shop-control", 2, nil)
	c.CreateTopic(t, "shop-audit", 1, nil)
	s3 := laketest.NewS3(t, "lake")
	s3.SetDown(true)
	p := kafkaPipeline(ns, "shop", c.Addrs())
	p.Spec.Sinks.Lake = &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{"transactions"},
		S3: &v1alpha1.S3Lake{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: "us-east-1", Insecure: true,
			Credentials: v1alpha1.CredentialsSource{SecretRef: &v1alpha1.SecretCredentials{Name: "lake-keys"}}}}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	rp := &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lake"},
		Spec: v1alpha1.RetentionPolicySpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"},
			Lake: []v1alpha1.LakeRetention{{Selector: v1alpha1.TargetSelector{Names: []string{"transactions"}}, ExpireAfter: "30d"}}},
	}
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(testenv.Condition(rp, v1alpha1.ConditionReady)).NotTo(BeNil())
	}).Should(Succeed())

	t0 := time.Now()
	err := retentionpolicy.RunJob(ctx, retentionpolicy.JobOptions{Client: env.Client, Namespace: ns, Policy: "lake",
		Clock: clocktesting.NewFakeClock(lakeT0), KafkaTimeout: 10 * time.Second,
		KafkaConfig: func(context.Context, *v1alpha1.Pipeline) (kafkaio.Config, error) {
			return kafkaio.Config{Brokers: c.Addrs(), ClientID: "ecap-retention"}, nil
		},
		OpenLake: func(_ context.Context, _ *v1alpha1.Pipeline, ls *engine.LakeSettings, now func() time.Time) (*lake.Lake, error) {
			return engine.OpenLakeAt(ls, func() (string, string, error) { return laketest.AccessKey, laketest.SecretKey, nil }, now)
		}})
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("LakeDataset transactions"))
	g.Expect(time.Since(t0)).To(BeNumerically("<", 60*time.Second), "one bounded attempt, no retry loop")
	g.Expect(s3.Requests.Load()).To(BeNumerically(">", 0), "the job reached the fake")
	check := func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		stalled := testenv.Condition(rp, v1alpha1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(v1alpha1.ReasonLakeUnavailable))
		g.Expect(stalled.Message).To(ContainSubstring(s3.Bucket))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionLastRunSucceeded)).To(Equal(metav1.ConditionFalse))
		ts := lakeTarget(rp, v1alpha1.TargetLakeDataset, "transactions")
		g.Expect(ts.Message).To(ContainSubstring("failed"))
	}
	g.Eventually(check).Should(Succeed())
	g.Consistently(check).Should(Succeed())
	t.Logf("after %s: Stalled: %s", time.Since(t0).Round(time.Second), testenv.Condition(rp, v1alpha1.ConditionStalled).Message)
}

// TestRetentionJobLakeWithoutSink: spec.lake on a Pipeline without a lake
// sink is reported per entry, and the run succeeds without touching Kafka.
func TestRetentionJobLakeWithoutSink(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	g.Expect(env.Client.Create(ctx, kafkaPipeline(ns, "shop", []string{"127.0.0.1:1"}))).To(Succeed())
	rp := &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lake"},
		Spec: v1alpha1.RetentionPolicySpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"},
			Lake: []v1alpha1.LakeRetention{{Selector: v1alpha1.TargetSelector{Pattern: ".*"}, ExpireAfter: "30d"}}},
	}
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())
	opened := false
	g.Expect(retentionpolicy.RunJob(ctx, retentionpolicy.JobOptions{Client: env.Client, Namespace: ns, Policy: "lake",
		Clock: clocktesting.NewFakeClock(lakeT0), KafkaTimeout: time.Second,
		OpenLake: func(context.Context, *v1alpha1.Pipeline, *engine.LakeSettings, func() time.Time) (*lake.Lake, error) {
			opened = true
			return nil, fmt.Errorf("no lake")
		}})).To(Succeed())
	g.Expect(opened).To(BeFalse())
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(rp.Status.Targets).To(HaveLen(1))
	g.Expect(rp.Status.Targets[0].Kind).To(Equal(v1alpha1.TargetLakeDataset))
	g.Expect(rp.Status.Targets[0].Message).To(ContainSubstring("spec.lake[0]: Pipeline shop has no lake sink (spec.sinks.lake)"))
	g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionLastRunSucceeded)).To(Equal(metav1.ConditionTrue))
}
