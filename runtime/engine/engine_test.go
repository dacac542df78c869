package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/kpi"
	"github.com/ecap-dev/ecap/runtime/state"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
)

const testPartitions = 4

func testRuntimeConfig(brokers []string) *v1alpha1.RuntimeConfig {
	return &v1alpha1.RuntimeConfig{
		Pipeline: v1alpha1.PipelineConfig{Name: "shop", Namespace: "test", Generation: 3, Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: brokers},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", UserEvents: "uevents", ProductUpdates: "products", DeadLetter: "dlq"},
			KPIs: &v1alpha1.KPISpec{Topic: "kpis", Windows: []v1alpha1.KPIWindow{{Name: "1m", Type: v1alpha1.WindowTumbling, Size: "1m"}},
				Dimensions:        []v1alpha1.KPIDimension{v1alpha1.DimensionCategory, v1alpha1.DimensionCountry},
				MaxOutOfOrderness: "1s", AllowedLateness: "1s"},
			State: v1alpha1.StateSpec{CheckpointInterval: "200ms"},
			Sinks: v1alpha1.SinksSpec{AlertsTopic: "alerts", EnrichedTransactionsTopic: "enriched"},
		}},
		FraudRuleSets: []v1alpha1.FraudRuleSetConfig{{Name: "big", Generation: 1, Spec: v1alpha1.FraudRuleSetSpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"},
			Rules:       []v1alpha1.FraudRule{{Name: "big-amount", Expression: "txn.amount > 150.0", Score: 100}},
		}}},
	}
}

type testEnv struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	rc      *v1alpha1.RuntimeConfig
	s       Settings
	kcfg    kafkaio.Config
}

func newTestEnv(t *testing.T) *testEnv {
	c := kafkatest.Start(t)
	env := &testEnv{t: t, cluster: c, rc: testRuntimeConfig(c.Addrs())}
	var err error
	if env.s, err = Resolve(env.rc); err != nil {
		t.Fatal(err)
	}
	env.kcfg = testKafkaConfig(c.Addrs())
	for _, topic := range []string{"txns", "uevents"} {
		c.CreateTopic(t, topic, testPartitions, nil)
	}
	c.CreateTopic(t, "products", 2, nil)
	if err := EnsureTopics(context.Background(), env.kcfg, &env.s); err != nil {
		t.Fatal(err)
	}
	return env
}

// testKafkaConfig is the engine tests' connection: short session and
// join timings, so that rebalances in tests take little time.
func testKafkaConfig(brokers []string) kafkaio.Config {
	return kafkaio.Config{Brokers: brokers, SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		MaxWait: 100 * time.Millisecond, JoinGroupBackoff: 200 * time.Millisecond}
}

// run starts an engine and returns a stop func that cancels it and waits.
func (env *testEnv) run() (*Engine, func()) {
	env.t.Helper()
	return env.start(Options{})
}

// start starts an engine with o completed from env (Kafka, group, rule sets,
// segmentations) and returns a stop func that cancels it and waits.
func (env *testEnv) start(o Options) (*Engine, func()) {
	env.t.Helper()
	o.Kafka, o.Group, o.RuleSets, o.Segmentations = env.kcfg, ConsumerGroup(env.rc), env.rc.FraudRuleSets, env.rc.Segmentations
	e, err := New(env.s, o)
	if err != nil {
		env.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	return e, func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					env.t.Errorf("engine Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				env.t.Fatal("engine did not stop")
			}
		})
	}
}

// waitCaughtUp waits until the engine's state includes `total` transaction
// records over all partitions.
func waitCaughtUp(t *testing.T, e *Engine, total int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st := e.Status()
		var sum int64
		for _, p := range st.Partitions {
			sum += p.Offset
		}
		if st.Ready && len(st.Partitions) == testPartitions && sum == total {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("engine did not catch up to %d records: %+v", total, e.Status())
}

func produceTxns(t *testing.T, c *kafkatest.Cluster, txns []enginetest.Txn) {
	recs := make([]kafkatest.Record, len(txns))
	for i, x := range txns {
		recs[i] = kafkatest.Record{Key: x.Key, Value: x.Value}
	}
	c.Produce(t, "txns", recs...)
}

// restoredCustomers restores every changelog partition as a new owner would.
func restoredCustomers(t *testing.T, env *testEnv) map[string]CustomerView {
	out := map[string]CustomerView{}
	for n := range testPartitions {
		rc := newRestoreCollector(env.s.Transactions, int32(n))
		for _, r := range env.cluster.ReadPartition(t, env.s.Changelog, n) {
			if err := rc.add(r.Key, r.Value); err != nil {
				t.Fatal(err)
			}
		}
		p, _ := newPartition(&env.s, int32(n))
		p, err := finishRestore(&env.s, p, rc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		p.store.Range(func(id string, c *state.Customer) bool {
			out[id] = NewCustomerView(id, int32(n), c)
			return true
		})
	}
	return out
}

func checkCustomers(t *testing.T, got map[string]CustomerView, ref *enginetest.Reference) {
	t.Helper()
	if len(got) != len(ref.Customers) {
		t.Errorf("state holds %d customers, reference %d", len(got), len(ref.Customers))
	}
	for id, want := range ref.Customers {
		c, ok := got[id]
		if !ok {
			t.Errorf("customer %s missing from state", id)
			continue
		}
		if c.Transactions != want.Transactions || math.Abs(c.MonetaryTotal-float64(want.Micros)/1e6) > 1e-6 {
			t.Errorf("customer %s: state %d txns / %.4f, reference %d / %.4f", id, c.Transactions, c.MonetaryTotal, want.Transactions, float64(want.Micros)/1e6)
		}
	}
}

func TestEngineEndToEnd(t *testing.T) {
	env := newTestEnv(t)
	now := time.Now().UTC()
	// Event times span ~8 minutes ending a minute ago, so that several
	// 1m windows close.
	gen := enginetest.NewGenerator(1, 200, 50, now.Add(-10*time.Minute), 200*time.Millisecond)
	prods := productRecords(gen)
	env.cluster.Produce(t, "products", prods...)

	e, stop := env.run()
	// Let the catalog load before the transactions arrive.
	deadline := time.Now().Add(20 * time.Second)
	for e.Status().CatalogProducts < gen.Products && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}

	ref := enginetest.NewReference()
	var txns []enginetest.Txn
	for range 2000 {
		x := gen.Next()
		ref.Add(x)
		txns = append(txns, x)
	}
	dups := txns[100:150] // re-sent by a retrying producer
	input := append(append([]enginetest.Txn{}, txns...), dups...)
	bad := gen.BadEvents(now)
	for _, b := range bad {
		input = append(input, enginetest.Txn{Key: b.Key, Value: b.Value})
	}
	produceTxns(t, env.cluster, input)
	waitCaughtUp(t, e, int64(len(input)))
	if got := testutil.ToFloat64(e.metrics.duplicates.WithLabelValues("txns")); got != float64(len(dups)) {
		t.Errorf("duplicates = %v, want %d", got, len(dups))
	}
	if e.Status().DeadLettered != int64(len(bad)) {
		t.Errorf("status DLQ count = %d, want %d", e.Status().DeadLettered, len(bad))
	}
	stop()

	t.Run("dead letters", func(t *testing.T) {
		dlq := env.cluster.ReadAll(t, "dlq")
		if len(dlq) != len(bad) {
			t.Fatalf("%d dead letters, want %d", len(dlq), len(bad))
		}
		byValue := map[string]kafkatest.Record{}
		for _, r := range dlq {
			byValue[string(r.Value)] = r
		}
		for _, b := range bad {
			r, ok := byValue[string(b.Value)]
			if !ok {
				t.Errorf("%s: record not dead-lettered unchanged", b.Reason)
				continue
			}
			h := map[string]string{}
			for _, kh := range r.Headers {
				h[kh.Key] = string(kh.Value)
			}
			if h[events.HeaderDLQReason] != b.Reason {
				t.Errorf("%s: reason header %q", b.Reason, h[events.HeaderDLQReason])
			}
			if h[events.HeaderSourceTopic] != "txns" || h[events.HeaderSourcePartition] == "" || h[events.HeaderSourceOffset] == "" {
				t.Errorf("%s: source headers %v", b.Reason, h)
			}
			if _, ok := h[events.HeaderDLQDetail]; !ok {
				t.Errorf("%s: no detail header", b.Reason)
			}
			if _, ok := h[events.HeaderDLQField]; !ok {
				t.Errorf("%s: no field header", b.Reason)
			}
		}
	})

	t.Run("customer state", func(t *testing.T) {
		checkCustomers(t, restoredCustomers(t, env), ref)
	})

	t.Run("alerts", func(t *testing.T) {
		want := map[string]bool{}
		for _, x := range txns {
			if x.Amount > 150 {
				want[x.EventID] = true
			}
		}
		got := map[string]bool{}
		for _, r := range env.cluster.ReadAll(t, "alerts") {
			var d struct {
				AlertID       string `json:"alert_id"`
				TransactionID string `json:"transaction_id"`
				Outcome       string `json:"outcome"`
			}
			if err := json.Unmarshal(r.Value, &d); err != nil {
				t.Fatal(err)
			}
			if string(r.Key) != d.AlertID || d.AlertID == "" {
				t.Errorf("alert key %q, id %q", r.Key, d.AlertID)
			}
			got[d.TransactionID] = true
		}
		if len(got) != len(want) {
			t.Errorf("%d distinct alerted transactions, want %d", len(got), len(want))
		}
	})

	t.Run("kpis", func(t *testing.T) {
		type key struct {
			part  int32
			start time.Time
		}
		type agg struct {
			orders int64
			micros int64
		}
		partOf := func(k []byte) int32 {
			var b kafka.Murmur2Balancer
			return int32(b.Balance(kafka.Message{Key: k}, 0, 1, 2, 3))
		}
		wantByWin := map[key]*agg{}
		for _, x := range txns {
			k := key{partOf(x.Key), x.EventTime.Truncate(time.Minute)}
			if wantByWin[k] == nil {
				wantByWin[k] = &agg{}
			}
			wantByWin[k].orders++
			wantByWin[k].micros += int64(math.Round(x.Amount * 1e6))
		}
		seen := map[string]bool{}
		var checked int
		for _, r := range env.cluster.ReadAll(t, "kpis") {
			var res kpi.WindowResult
			if err := json.Unmarshal(r.Value, &res); err != nil {
				t.Fatal(err)
			}
			if string(r.Key) != res.ID {
				t.Errorf("KPI key %q != id %q", r.Key, res.ID)
			}
			if seen[res.ID] || res.Dimension != kpi.DimensionAll {
				continue
			}
			seen[res.ID] = true
			w := wantByWin[key{res.Partition, res.Start}]
			if w == nil {
				t.Errorf("window %s has no reference", res.ID)
				continue
			}
			if res.Orders != w.orders || math.Abs(res.Revenue-float64(w.micros)/1e6) > 1e-6 {
				t.Errorf("window %s: %d orders / %.6f, reference %d / %.6f", res.ID, res.Orders, res.Revenue, w.orders, float64(w.micros)/1e6)
			}
			checked++
		}
		if checked < 4*testPartitions {
			t.Errorf("only %d closed windows checked", checked)
		}
	})

	t.Run("restart", func(t *testing.T) {
		e, stop := env.run()
		var more []enginetest.Txn
		for range 300 {
			x := gen.Next()
			ref.Add(x)
			more = append(more, x)
		}
		produceTxns(t, env.cluster, more)
		waitCaughtUp(t, e, int64(len(input)+len(more)))
		v, ok := e.Customer(more[0].CustomerID)
		if !ok {
			t.Errorf("customer %s not found through the engine", more[0].CustomerID)
		} else if want := ref.Customers[more[0].CustomerID]; v.Transactions != want.Transactions {
			t.Errorf("live state: %d txns, want %d", v.Transactions, want.Transactions)
		}
		stop()
		checkCustomers(t, restoredCustomers(t, env), ref)
	})
	_ = strconv.Itoa
}

func kafkaConfigFor(rc *v1alpha1.RuntimeConfig) kafkaio.Config {
	return kafkaio.Config{Brokers: rc.Pipeline.Spec.Kafka.Brokers}
}
