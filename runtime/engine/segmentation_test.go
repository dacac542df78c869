package engine

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/admin"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/segmentation"
	"github.com/ecap-dev/ecap/runtime/state"
)

// cdnowDir is the CDNOW sample beside the repository.
var cdnowDir = filepath.Join("..", "..", "..", "shared", "datasets", "cdnow")

var cdnowCalibrationEnd = enginetest.CDNOWCalibrationEnd

// cdnowRecords returns the transaction events of the whole CDNOW sample
// (6,919 rows, to 1998-06-30): a backfill of the calibration period and
// the holdout period after it, in the file's order (by customer).
func cdnowRecords(t testing.TB) []kafkatest.Record {
	txns, err := enginetest.CDNOWEvents(cdnowDir, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(txns) != cdnowRows {
		t.Fatalf("%d CDNOW rows, want %d", len(txns), cdnowRows)
	}
	out := make([]kafkatest.Record, len(txns))
	for i, x := range txns {
		out[i] = kafkatest.Record{Key: x.Key, Value: x.Value}
	}
	return out
}

// cdnowRows and cdnowHoldoutRows count the CDNOW sample's rows and those
// after the calibration end.
const (
	cdnowRows        = 6919
	cdnowHoldoutRows = 6919 - 4960
)

// newBackfillEnv is a test environment whose Pipeline accepts events from
// 1997: validation.maxEventAge is the Pipeline's setting for backfills.
func newBackfillEnv(t *testing.T) *testEnv {
	c := kafkatest.Start(t)
	rc := &v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: "cdnow", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
		Kafka:      v1alpha1.KafkaSpec{Brokers: c.Addrs()},
		Topics:     v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
		Validation: v1alpha1.ValidationSpec{MaxEventAge: "1600w"},
		State:      v1alpha1.StateSpec{CheckpointInterval: "200ms"},
		Sinks:      v1alpha1.SinksSpec{CustomerProfilesTopic: "profiles"},
	}}}
	env := &testEnv{t: t, cluster: c, rc: rc}
	var err error
	if env.s, err = Resolve(rc); err != nil {
		t.Fatal(err)
	}
	env.kcfg = fastGroupConfig(c.Addrs())
	c.CreateTopic(t, "txns", testPartitions, nil)
	if err := EnsureTopics(context.Background(), env.kcfg, &env.s); err != nil {
		t.Fatal(err)
	}
	return env
}

// cdnowSegmentation is the Segmentation of FHL 2005's calibration: weeks,
// calibration end 1997-09-30, run on demand with value runNow.
func cdnowSegmentation(runNow string) v1alpha1.SegmentationConfig {
	return v1alpha1.SegmentationConfig{Name: "cdnow", Generation: 2, RunNow: runNow, Spec: v1alpha1.SegmentationSpec{
		PipelineRef: v1alpha1.LocalObjectReference{Name: "cdnow"}, Schedule: "@every 24h", TimeUnit: v1alpha1.UnitWeek,
		CalibrationEnd: &metav1.Time{Time: cdnowCalibrationEnd},
	}}
}

// waitRun waits until engine e reports a run of the Segmentation that
// answered runNow, and returns it.
func waitRun(t *testing.T, e *Engine, name, runNow string) *SegmentationRun {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last []SegmentationStatus
	for time.Now().Before(deadline) {
		last = e.Status().Segmentations
		for _, s := range last {
			if s.Name == name && s.LastRun != nil && s.LastRun.RunNow == runNow {
				return s.LastRun
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no run of %s answering %q: %+v", name, runNow, last)
	return nil
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// The CDNOW calibration period, produced to Kafka as transaction events and
// consumed by the runtime, gives the BG/NBD estimates of Fader, Hardie & Lee
// (2005) in /v1/status; the profiles topic and the lookup API carry each
// customer's (x, t_x, T) as in the published summary.
func TestSegmentationReproducesCDNOWThroughKafka(t *testing.T) {
	env := newBackfillEnv(t)
	// The Segmentation is known before the first event, so the customers'
	// summaries are frozen at the calibration end as the holdout period's
	// purchases arrive.
	env.rc.Segmentations = []v1alpha1.SegmentationConfig{cdnowSegmentation("")}
	recs := cdnowRecords(t)
	// Half the sample, a restart (the state comes back from the
	// changelog), then the rest.
	half := len(recs) / 2
	env.cluster.Produce(t, "txns", recs[:half]...)
	e1, stop1 := env.run()
	waitCaughtUp(t, e1, int64(half))
	stop1()
	env.cluster.Produce(t, "txns", recs[half:]...)

	e, stop := env.run()
	defer stop()
	waitCaughtUp(t, e, int64(len(recs)))
	if d := e.Status().DeadLettered; d != 0 {
		r := env.cluster.ReadAll(t, "dlq")[0]
		t.Fatalf("%d CDNOW events dead-lettered, e.g. %s: %v", d, r.Value, r.Headers)
	}
	if errs := e.SetSegmentations([]v1alpha1.SegmentationConfig{cdnowSegmentation("1")}); len(errs) > 0 {
		t.Fatal(errs)
	}
	run := waitRun(t, e, "cdnow", "1")
	if run.BGNBD == nil {
		t.Fatalf("no BG/NBD in the run: %+v", run)
	}
	m := run.BGNBD
	for _, p := range []struct {
		name      string
		got, want float64
	}{{"r", m.R, 0.243}, {"alpha", m.Alpha, 4.414}, {"a", m.A, 0.793}, {"b", m.B, 2.426}} {
		if round(p.got, 3) != p.want {
			t.Errorf("%s = %.6f, want %.3f (FHL 2005)", p.name, p.got, p.want)
		}
	}
	if round(m.LogLikelihood, 1) != -9582.4 {
		t.Errorf("log-likelihood = %.4f, want -9582.4", m.LogLikelihood)
	}
	if run.CustomersScored != 2357 || run.CustomersFitted != 2357 || run.ProfilesWritten != 2357 {
		t.Errorf("scored %d, fitted %d, profiles %d; want 2357 each", run.CustomersScored, run.CustomersFitted, run.ProfilesWritten)
	}
	if run.CalibrationUnknown != 0 || run.NotYetAcquired != 0 || run.TransactionsAfterCalibration != cdnowHoldoutRows {
		t.Errorf("calibration unknown %d, not yet acquired %d, holdout transactions %d; want 0, 0, %d",
			run.CalibrationUnknown, run.NotYetAcquired, run.TransactionsAfterCalibration, cdnowHoldoutRows)
	}
	// The cohort matrix equals the one computed from the raw transactions.
	gotCohorts, _ := json.Marshal(run.Cohorts)
	cohorts, err := enginetest.CDNOWCohorts(cdnowDir, cdnowCalibrationEnd)
	if err != nil {
		t.Fatal(err)
	}
	wantCohorts, _ := json.Marshal(cohorts)
	if string(gotCohorts) != string(wantCohorts) {
		t.Errorf("cohorts\n%s\nwant (from the raw transactions)\n%s", gotCohorts, wantCohorts)
	}
	if run.GammaGamma == nil || run.Notes != (segmentation.FitNotes{}) {
		t.Errorf("gamma-gamma %+v, notes %+v: want a full model", run.GammaGamma, run.Notes)
	}
	t.Logf("CDNOW run: %s, snapshot pause %s, r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.2f", run.Duration, run.SnapshotPause, m.R, m.Alpha, m.A, m.B, m.LogLikelihood)

	// Profiles: one per customer, (x, t_x, T) as published.
	want := cdnowSummary(t)
	profiles := map[string]Profile{}
	for _, r := range env.cluster.ReadAll(t, "profiles") {
		var p Profile
		if err := json.Unmarshal(r.Value, &p); err != nil {
			t.Fatalf("profile %s: %v", r.Value, err)
		}
		if string(r.Key) != p.CustomerID {
			t.Errorf("profile keyed %q has customer_id %q", r.Key, p.CustomerID)
		}
		profiles[p.CustomerID] = p
	}
	if len(profiles) != len(want) {
		t.Fatalf("%d profiles, want %d", len(profiles), len(want))
	}
	for id, w := range want {
		p := profiles[id]
		if p.Frequency != w.x || round(p.Recency, 2) != w.tx || round(p.T, 2) != w.T {
			t.Errorf("customer %s: (x, t_x, T) = (%d, %.2f, %.2f), published (%d, %.2f, %.2f)", id, p.Frequency, p.Recency, p.T, w.x, w.tx, w.T)
		}
		if p.PAlive == nil || p.CLV == nil || p.Segment == "" || p.Generation != 2 || !p.ModelRunTime.Equal(run.RunTime) {
			t.Errorf("customer %s: incomplete profile %+v", id, p)
		}
	}

	// The lookup API serves the same profile.
	srv := httpAdmin(t, e)
	var got Profile
	if code := getJSON(t, srv+"/v1/segmentations/cdnow/customers/1", &got); code != http.StatusOK {
		t.Fatalf("lookup of customer 1: HTTP %d", code)
	}
	wantJSON, _ := json.Marshal(profiles["1"])
	gotJSON, _ := json.Marshal(got)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("lookup %s, topic %s", gotJSON, wantJSON)
	}
	for _, path := range []string{"/v1/segmentations/cdnow/customers/nobody", "/v1/segmentations/other/customers/1"} {
		if code := getJSON(t, srv+path, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d, want 404", path, code)
		}
	}

	// Same state, second run: every profile is unchanged, none is
	// written again.
	if errs := e.SetSegmentations([]v1alpha1.SegmentationConfig{cdnowSegmentation("2")}); len(errs) > 0 {
		t.Fatal(errs)
	}
	run2 := waitRun(t, e, "cdnow", "2")
	if run2.ProfilesWritten != 0 || run2.ProfilesUnchanged != len(want) {
		t.Errorf("second run wrote %d profiles, %d unchanged; want 0, %d", run2.ProfilesWritten, run2.ProfilesUnchanged, len(want))
	}
	if n := len(env.cluster.ReadAll(t, "profiles")); n != len(want) {
		t.Errorf("%d profile records after two runs, want %d", n, len(want))
	}
	// The lookup still serves the profile as written, with the run time
	// of the run that wrote it.
	got = Profile{}
	if code := getJSON(t, srv+"/v1/segmentations/cdnow/customers/1", &got); code != http.StatusOK {
		t.Fatalf("lookup of customer 1: HTTP %d", code)
	}
	if gotJSON, _ := json.Marshal(got); string(gotJSON) != string(wantJSON) {
		t.Errorf("lookup after the second run %s, topic %s", gotJSON, wantJSON)
	}

	// A purchase after the calibration end changes no calibration summary:
	// nothing is written. One inside the period changes that customer's
	// summary and so the model: profiles are written again.
	holdout := enginetest.CustomerTxn("extra-1", "1", time.Date(1998, 1, 5, 12, 0, 0, 0, time.UTC), 10, 1)
	inPeriod := enginetest.CustomerTxn("extra-2", "1", time.Date(1997, 9, 15, 12, 0, 0, 0, time.UTC), 10, 1)
	for k, x := range []enginetest.Txn{holdout, inPeriod} {
		env.cluster.Produce(t, "txns", kafkatest.Record{Key: x.Key, Value: x.Value})
		waitCaughtUp(t, e, int64(len(recs)+k+1))
		runNow := fmt.Sprint("extra-", k)
		if errs := e.SetSegmentations([]v1alpha1.SegmentationConfig{cdnowSegmentation(runNow)}); len(errs) > 0 {
			t.Fatal(errs)
		}
		r := waitRun(t, e, "cdnow", runNow)
		switch {
		case k == 0 && (r.ProfilesWritten != 0 || r.TransactionsAfterCalibration != cdnowHoldoutRows+1):
			t.Errorf("after a holdout purchase: %d profiles written, %d holdout transactions; want 0, %d", r.ProfilesWritten, r.TransactionsAfterCalibration, cdnowHoldoutRows+1)
		case k == 1 && (r.ProfilesWritten == 0 || r.ProfilesWritten+r.ProfilesUnchanged != len(want)):
			t.Errorf("after a calibration-period purchase: %d profiles written, %d unchanged", r.ProfilesWritten, r.ProfilesUnchanged)
		}
	}
}

// publishedCustomer is a row of cdnow_customers_summary.csv.
type publishedCustomer struct {
	x     int
	tx, T float64
}

func cdnowSummary(t *testing.T) map[string]publishedCustomer {
	f, err := os.Open(filepath.Join(cdnowDir, "cdnow_customers_summary.csv"))
	if err != nil {
		t.Fatalf("CDNOW dataset missing: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]publishedCustomer{}
	for _, r := range rows[1:] {
		x, _ := strconv.Atoi(r[1])
		tx, _ := strconv.ParseFloat(r[2], 64)
		T, _ := strconv.ParseFloat(r[3], 64)
		out[r[0]] = publishedCustomer{x: x, tx: tx, T: T}
	}
	return out
}

// fastGroupConfig is newTestEnv's Kafka tuning: quick group joins and
// failure detection.
func fastGroupConfig(brokers []string) kafkaio.Config {
	return kafkaio.Config{Brokers: brokers, SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		MaxWait: 100 * time.Millisecond, JoinGroupBackoff: 200 * time.Millisecond}
}

func httpAdmin(t *testing.T, e *Engine) string {
	srv, err := admin.Listen("127.0.0.1:0", admin.Handler(AdminBackend{E: e}, e.Metrics().Registry))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + srv.Addr()
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// A calibration end the runtime learns of after consuming purchases on
// both sides of it (a Segmentation created, or its calibrationEnd
// changed, after the fact) cannot be split out of the state: those
// customers are counted as unknown and left out, and the rest are fitted.
func TestSegmentationCalibrationEndSetLateIsReported(t *testing.T) {
	env := newBackfillEnv(t)
	recs := cdnowRecords(t)
	env.cluster.Produce(t, "txns", recs...)
	e, stop := env.run()
	defer stop()
	waitCaughtUp(t, e, int64(len(recs)))
	if errs := e.SetSegmentations([]v1alpha1.SegmentationConfig{cdnowSegmentation("late")}); len(errs) > 0 {
		t.Fatal(errs)
	}
	run := waitRun(t, e, "cdnow", "late")
	// 684 of CDNOW's 2,357 customers purchased in both periods.
	if run.CalibrationUnknown != 684 || run.CustomersFitted != 2357-684 || run.CustomersScored != 2357-684 {
		t.Errorf("unknown %d, fitted %d, scored %d; want 684, 1673, 1673", run.CalibrationUnknown, run.CustomersFitted, run.CustomersScored)
	}
	if run.BGNBD == nil || round(run.BGNBD.R, 3) == 0.243 {
		t.Errorf("BG/NBD %+v: want a model of the known customers only", run.BGNBD)
	}
}

// Two replicas sharing a consumer group each own some partitions; through
// the fit-input exchange both fit the model a single replica fits over all
// partitions, bit for bit, and between them score every customer once.
func TestSegmentationReplicasFitTheSingleReplicaModel(t *testing.T) {
	recs := cdnowRecords(t)

	single := newBackfillEnv(t)
	single.rc.Segmentations = []v1alpha1.SegmentationConfig{cdnowSegmentation("")}
	single.cluster.Produce(t, "txns", recs...)
	e, stop := single.run()
	waitCaughtUp(t, e, int64(len(recs)))
	e.SetSegmentations([]v1alpha1.SegmentationConfig{cdnowSegmentation("go")})
	want := waitRun(t, e, "cdnow", "go")
	stop()

	env := newBackfillEnv(t)
	env.rc.Segmentations = []v1alpha1.SegmentationConfig{cdnowSegmentation("")}
	env.cluster.Produce(t, "txns", recs...)
	e1, stop1 := env.run()
	defer stop1()
	e2, stop2 := env.run()
	defer stop2()
	// Wait until the two split the partitions and hold every record.
	deadline := time.Now().Add(60 * time.Second)
	for {
		s1, s2 := e1.Status(), e2.Status()
		var sum int64
		for _, p := range append(s1.Partitions, s2.Partitions...) {
			sum += p.Offset
		}
		if s1.Ready && s2.Ready && len(s1.Partitions) > 0 && len(s2.Partitions) > 0 &&
			len(s1.Partitions)+len(s2.Partitions) == testPartitions && sum == int64(len(recs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not split and catch up: %+v / %+v", s1.Partitions, s2.Partitions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range []*Engine{e1, e2} {
		if errs := r.SetSegmentations([]v1alpha1.SegmentationConfig{cdnowSegmentation("go")}); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	runs := []*SegmentationRun{waitRun(t, e1, "cdnow", "go"), waitRun(t, e2, "cdnow", "go")}
	scored := 0
	segments := map[string]int{}
	for i, run := range runs {
		if run.BGNBD == nil || *run.BGNBD != *want.BGNBD {
			t.Errorf("replica %d: BG/NBD %+v, single replica %+v", i+1, run.BGNBD, want.BGNBD)
		}
		if run.GammaGamma == nil || *run.GammaGamma != *want.GammaGamma {
			t.Errorf("replica %d: gamma-gamma %+v, single replica %+v", i+1, run.GammaGamma, want.GammaGamma)
		}
		if g, w := fmt.Sprint(run.Cohorts), fmt.Sprint(want.Cohorts); g != w || len(run.Cohorts) == 0 {
			t.Errorf("replica %d: cohorts %s, single replica %s", i+1, g, w)
		}
		if run.CustomersFitted != want.CustomersFitted {
			t.Errorf("replica %d fitted %d customers, single replica %d", i+1, run.CustomersFitted, want.CustomersFitted)
		}
		if run.CustomersScored == 0 || run.CustomersScored == want.CustomersScored {
			t.Errorf("replica %d scored %d of %d customers: the partitions are not split", i+1, run.CustomersScored, want.CustomersScored)
		}
		scored += run.CustomersScored
		for s, n := range run.Segments {
			segments[s] += n
		}
	}
	if scored != want.CustomersScored {
		t.Errorf("replicas scored %d customers together, single replica %d", scored, want.CustomersScored)
	}
	if fmt.Sprint(segments) != fmt.Sprint(want.Segments) {
		t.Errorf("segments over replicas %v, single replica %v", segments, want.Segments)
	}
	t.Logf("replica runs %s / %s; single %s; partitions %v / %v", runs[0].Duration, runs[1].Duration, want.Duration, runs[0].Partitions, runs[1].Partitions)
}

// A scheduled run on customers too new for the BG/NBD still segments them:
// the model keeps the RFM part and the status says why the rest is missing.
func TestSegmentationScheduledRunWithoutChurnModel(t *testing.T) {
	env := newBackfillEnv(t)
	now := time.Now().UTC()
	var recs []kafkatest.Record
	for i := range 300 {
		x := enginetest.CustomerTxn(fmt.Sprintf("live-%d", i), strconv.Itoa(i%120), now.Add(-time.Duration(300-i)*time.Second), float64(5+i%17), 1)
		rec := kafkatest.Record{Key: x.Key, Value: x.Value}
		recs = append(recs, rec)
	}
	env.cluster.Produce(t, "txns", recs...)
	e, stop := env.run()
	defer stop()
	waitCaughtUp(t, e, int64(len(recs)))
	seg := v1alpha1.SegmentationConfig{Name: "live", Generation: 1, Spec: v1alpha1.SegmentationSpec{
		PipelineRef: v1alpha1.LocalObjectReference{Name: "cdnow"}, Schedule: "@every 1s", OutputTopic: "live-profiles"}}
	if errs := e.SetSegmentations([]v1alpha1.SegmentationConfig{seg}); len(errs) > 0 {
		t.Fatal(errs)
	}
	var run *SegmentationRun
	for deadline := time.Now().Add(30 * time.Second); run == nil && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st := e.Status().Segmentations; len(st) == 1 {
			run = st[0].LastRun
		}
	}
	if run == nil {
		t.Fatalf("no scheduled run: %+v", e.Status().Segmentations)
	}
	if run.RunID != "slot-"+strconv.FormatInt(run.RunTime.Unix(), 10) {
		t.Errorf("run ID %q: want a schedule slot", run.RunID)
	}
	if run.CustomersScored != 120 || run.BGNBD != nil || run.Notes.Churn == "" || run.Notes.Value == "" {
		t.Errorf("run %+v: want 120 customers segmented by RFM only, with notes", run)
	}
	total := 0
	for _, n := range run.Segments {
		total += n
	}
	if total != 120 {
		t.Errorf("segments %v count %d customers, want 120", run.Segments, total)
	}
	for _, r := range env.cluster.ReadAll(t, "live-profiles") {
		var p map[string]any
		if err := json.Unmarshal(r.Value, &p); err != nil {
			t.Fatal(err)
		}
		if _, ok := p["p_alive"]; ok || p["segment"] == "" {
			t.Fatalf("profile %s: want a segment and no p_alive without the BG/NBD", r.Value)
		}
	}
}

// Invalid Segmentations are refused with the field named and reported in
// /v1/status; valid ones are applied.
func TestSetSegmentationsNamesTheField(t *testing.T) {
	env := newBackfillEnv(t)
	e, err := New(env.s, Options{Kafka: env.kcfg, Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	good := cdnowSegmentation("")
	badSchedule := cdnowSegmentation("")
	badSchedule.Name, badSchedule.Spec.Schedule = "bad-schedule", "every day"
	badRule := cdnowSegmentation("")
	badRule.Name = "bad-rule"
	badRule.Spec.RFM.Segments = []v1alpha1.SegmentRule{{Name: "x", Recency: &v1alpha1.ScoreRange{Min: 1, Max: 9}}}
	errs := e.SetSegmentations([]v1alpha1.SegmentationConfig{good, badSchedule, badRule})
	if len(errs) != 2 || !strings.Contains(errs[0].Error()+errs[1].Error(), "spec.schedule") || !strings.Contains(errs[0].Error()+errs[1].Error(), "spec.rfm") {
		t.Fatalf("errors %v: want spec.schedule and spec.rfm named", errs)
	}
	st := e.Status().Segmentations
	if len(st) != 3 || st[2].Name != "cdnow" || st[2].AppliedGeneration != 2 || st[0].LastError == "" || st[1].LastError == "" {
		t.Errorf("status %+v", st)
	}
}

// The runtime keeps frozen summaries for at most four calibration ends; a
// Segmentation needing a fifth is refused naming the field, and the days
// in use keep their place.
func TestSetSegmentationsBoundsCalibrationEnds(t *testing.T) {
	env := newBackfillEnv(t)
	e, err := New(env.s, Options{Kafka: env.kcfg, Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	var segs []v1alpha1.SegmentationConfig
	for i := range 5 {
		c := cdnowSegmentation("")
		c.Name = fmt.Sprint("s", i)
		c.Spec.CalibrationEnd = &metav1.Time{Time: cdnowCalibrationEnd.AddDate(0, 0, -i)}
		segs = append(segs, c)
	}
	segs = append(segs, cdnowSegmentation("")) // shares s0's day
	// s4 first: it was configured before the others.
	if errs := e.SetSegmentations(segs[4:5]); len(errs) > 0 {
		t.Fatal(errs)
	}
	errs := e.SetSegmentations(segs)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "segmentations[s3]") || !strings.Contains(errs[0].Error(), "spec.calibrationEnd") {
		t.Fatalf("errors %v: want s3 refused, naming spec.calibrationEnd", errs)
	}
	end := state.DayOf(cdnowCalibrationEnd)
	if got, want := e.seg.calibrationDays(), []int32{end - 4, end - 2, end - 1, end}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tracked days %v, want %v", got, want)
	}
}

// "@every" slots are aligned to the epoch, so replicas started at different
// times agree on them.
func TestEverySlotsAreAligned(t *testing.T) {
	s, err := scheduleParser.Parse("@every 15m")
	if err != nil {
		t.Fatal(err)
	}
	a := firstSlot(s, time.Date(2026, 1, 1, 10, 7, 3, 0, time.UTC))
	b := firstSlot(s, time.Date(2026, 1, 1, 10, 14, 59, 0, time.UTC))
	if !a.Equal(b) || !a.Equal(time.Date(2026, 1, 1, 10, 15, 0, 0, time.UTC)) {
		t.Errorf("slots %s and %s, want both 10:15", a, b)
	}
	if n := nextSlot(s, a); !n.Equal(a.Add(15 * time.Minute)) {
		t.Errorf("next slot %s", n)
	}
}

// BenchmarkSegmentationRunOffline is a Segmentation run over 1,000,000
// customers in 4 partitions without Kafka; it reports the longest
// per-partition pause of event processing (the summary copy) as pause-ns.
func BenchmarkSegmentationRunOffline(b *testing.B) {
	s, err := Resolve(&v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: "bench", Spec: v1alpha1.PipelineSpec{
		Kafka: v1alpha1.KafkaSpec{Brokers: []string{"unused:9092"}}, Topics: v1alpha1.PipelineTopics{Transactions: "t", DeadLetter: "d"}}}})
	if err != nil {
		b.Fatal(err)
	}
	var pause time.Duration
	for b.Loop() {
		m, err := MeasureSegmentationRun(s, 4, 250_000)
		if err != nil {
			b.Fatal(err)
		}
		if m.Customers != 1_000_000 {
			b.Fatalf("scored %d customers", m.Customers)
		}
		pause = max(pause, m.Pause)
	}
	b.ReportMetric(float64(pause.Nanoseconds()), "pause-ns")
}

// A partition's part larger than one record travels in chunks, in any
// order, and is reassembled exactly; of two parts of one partition the one
// further ahead in the input wins.
func TestPartExchangeChunksAndPrefersNewerParts(t *testing.T) {
	job, err := newSegJob(cdnowSegmentation(""), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := &segmentation.FitInput{Unit: segmentation.Week}
	for i := range 60_000 {
		in.Add(&segmentation.Customer{Frequency: i % 7, Recency: float64(i % 5), T: 10, Monetary: float64(i%7) * 1.5, Spend: float64(i) + 0.25})
	}
	in.Canonicalize()
	old := &segmentation.FitInput{Unit: segmentation.Week, Triples: []segmentation.TripleCount{{Count: 1}}, Spends: []segmentation.SpendCount{{Count: 1}}}
	recs, err := partRecords("parts", job, "now-x", 2, 500, in)
	if err != nil {
		t.Fatal(err)
	}
	oldRecs, err := partRecords("parts", job, "now-x", 2, 400, old)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 2 {
		t.Fatalf("%d records: want the part chunked", len(recs))
	}
	x := newPartExchange("parts")
	feed := func(ms []kafka.Message) {
		for _, m := range ms {
			if len(m.Value) > 1<<20 {
				t.Fatalf("record of %d bytes exceeds Kafka's default limit", len(m.Value))
			}
			var r partRecord
			if err := json.Unmarshal(m.Value, &r); err != nil {
				t.Fatal(err)
			}
			x.add(&r)
		}
	}
	// Newer chunks in reverse order, with the older part in between.
	for i := len(recs) - 1; i >= 0; i-- {
		feed(recs[i : i+1])
		if i == 1 {
			feed(oldRecs)
		}
	}
	key := (&partRecord{Segmentation: job.name, Generation: job.generation, RunID: "now-x"}).runKey()
	got, missing, _ := x.complete(key, 3, map[int32]bool{0: true, 1: true})
	if len(missing) != 0 {
		t.Fatalf("missing %v", missing)
	}
	want, _ := json.Marshal(in)
	if string(got[2]) != string(want) {
		t.Errorf("reassembled part differs from the published one (%d and %d bytes)", len(got[2]), len(want))
	}
	if _, missing, _ := x.complete(key, 4, map[int32]bool{0: true, 1: true}); fmt.Sprint(missing) != "[3]" {
		t.Errorf("missing %v, want [3]", missing)
	}
}
