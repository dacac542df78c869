package engine

import (
	"bufio"
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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/admin"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/segmentation"
)

// cdnowDir is the CDNOW sample beside the repository.
var cdnowDir = filepath.Join("..", "..", "..", "shared", "datasets", "cdnow")

var cdnowCalibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// cdnowRow is one line of CDNOW_sample.txt.
type cdnowRow struct {
	line     int
	customer string
	day      time.Time
	cds      int
	amount   float64
}

// readCDNOW reads the raw log ("master_id sample_id yyyymmdd cds dollars");
// the customer ID is sample_id without leading zeros, as in
// cdnow_customers_summary.csv. A missing dataset fails the test.
func readCDNOW(t testing.TB) []cdnowRow {
	t.Helper()
	f, err := os.Open(filepath.Join(cdnowDir, "CDNOW_sample.txt"))
	if err != nil {
		t.Fatalf("CDNOW dataset missing: %v", err)
	}
	defer f.Close()
	var out []cdnowRow
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		id, err1 := strconv.Atoi(fs[1])
		day, err2 := time.Parse("20060102", fs[2])
		cds, err3 := strconv.Atoi(fs[3])
		amount, err4 := strconv.ParseFloat(fs[4], 64)
		if len(fs) != 5 || err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			t.Fatalf("CDNOW_sample.txt line %d: %q", line, sc.Text())
		}
		out = append(out, cdnowRow{line: line, customer: strconv.Itoa(id), day: day, cds: cds, amount: amount})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// cdnowEvent encodes a CDNOW row as a platform transaction event: one order
// line of the row's CDs, keyed by customer.
func cdnowEvent(r cdnowRow) kafkatest.Record {
	qty := max(r.cds, 1)
	// The amount is the line total; one line of quantity 1 at the total
	// keeps it exact whatever the per-CD price.
	m := map[string]any{
		"event_id": fmt.Sprintf("cdnow-%05d", r.line), "type": "transaction", "schema_version": 1,
		"event_time": r.day.Add(12 * time.Hour).Format(time.RFC3339), "transaction_id": fmt.Sprintf("cdnow-txn-%05d", r.line),
		"customer_id": r.customer, "merchant_id": "cdnow", "channel": "web",
		"lines":  []map[string]any{{"product_id": fmt.Sprintf("cds-%d", qty), "quantity": 1, "unit_price": r.amount}},
		"amount": r.amount, "currency": "USD",
		"payment": map[string]any{"method": "card", "card_fingerprint": "fp-" + r.customer},
		"geo":     map[string]any{"country": "US"},
	}
	b, _ := json.Marshal(m)
	return kafkatest.Record{Key: []byte(r.customer), Value: b}
}

// cdnowCalibrationRecords returns the transaction events of the CDNOW
// calibration period (to 1997-09-30 inclusive): a backfill of the history
// the model is fitted on.
func cdnowCalibrationRecords(t testing.TB) []kafkatest.Record {
	var out []kafkatest.Record
	for _, r := range readCDNOW(t) {
		if !r.day.After(cdnowCalibrationEnd) {
			out = append(out, cdnowEvent(r))
		}
	}
	return out
}

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
	recs := cdnowCalibrationRecords(t)
	env.cluster.Produce(t, "txns", recs...)

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

	// Same state, second run: the same profile records.
	if errs := e.SetSegmentations([]v1alpha1.SegmentationConfig{cdnowSegmentation("2")}); len(errs) > 0 {
		t.Fatal(errs)
	}
	waitRun(t, e, "cdnow", "2")
	all := env.cluster.ReadAll(t, "profiles")
	if len(all) != 2*len(want) {
		t.Fatalf("%d profile records after two runs, want %d", len(all), 2*len(want))
	}
	first := map[string]string{}
	for _, r := range all {
		k := string(r.Key)
		if prev, ok := first[k]; ok {
			if prev != string(r.Value) {
				t.Errorf("customer %s: second run wrote %s, first %s", k, r.Value, prev)
			}
			continue
		}
		first[k] = string(r.Value)
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
