// Package enginebench holds the engine's measurements, shared by its
// `go test -bench` functions and by hack/benchreport.
package enginebench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/cputime"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest/embedkafka"
	"github.com/ecap-dev/ecap/runtime/state"
)

// Figure is one measured value.
type Figure struct {
	Name  string
	Value float64
	Unit  string
}

// RuntimeConfig is the pipeline the measurements run: KPIs on two windows
// and two dimensions, catalog enrichment, one fraud rule set with velocity
// features, enriched output.
func RuntimeConfig(brokers []string) *v1alpha1.RuntimeConfig {
	return &v1alpha1.RuntimeConfig{
		Pipeline: v1alpha1.PipelineConfig{Name: "bench", Namespace: "bench", Generation: 1, Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: brokers},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", ProductUpdates: "products", DeadLetter: "dlq"},
			KPIs: &v1alpha1.KPISpec{Topic: "kpis", Windows: []v1alpha1.KPIWindow{
				{Name: "1m", Type: v1alpha1.WindowTumbling, Size: "1m"},
				{Name: "1h", Type: v1alpha1.WindowHopping, Size: "1h", Advance: "5m"}},
				Dimensions: []v1alpha1.KPIDimension{v1alpha1.DimensionCategory, v1alpha1.DimensionCountry}},
			State: v1alpha1.StateSpec{CheckpointInterval: "1s"},
			Sinks: v1alpha1.SinksSpec{AlertsTopic: "alerts", EnrichedTransactionsTopic: "enriched"},
		}},
		FraudRuleSets: []v1alpha1.FraudRuleSetConfig{{Name: "card", Generation: 1, Spec: enginetest.ChainRuleSet("bench")}},
	}
}

func messages(gen *enginetest.Generator, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		x := gen.Next()
		msgs[i] = kafka.Message{Offset: int64(i), Key: x.Key, Value: x.Value}
	}
	return msgs
}

func newLocal(customers, products int) (*engine.Local, *enginetest.Generator, error) {
	rc := RuntimeConfig([]string{"unused:9092"})
	s, err := engine.Resolve(rc)
	if err != nil {
		return nil, nil, err
	}
	l, err := engine.NewLocal(s, rc.FraudRuleSets)
	if err != nil {
		return nil, nil, err
	}
	gen := enginetest.NewGenerator(1, customers, products, time.Now().Add(-6*time.Hour), 20*time.Millisecond)
	v := events.NewValidator(events.ValidatorConfig{})
	for _, pu := range gen.ProductUpdates() {
		ev, err := v.Decode(events.KindProductUpdate, pu[1])
		if err != nil {
			return nil, nil, err
		}
		l.Catalog().Upsert(engine.ProductFromUpdate(ev.(*events.ProductUpdate)))
	}
	return l, gen, nil
}

// EngineChain measures the whole chain on one core (GOMAXPROCS=1): events
// per CPU second and per wall-clock second (medians of five rounds), and the per-event latency quantiles of a second pass that
// processes events one at a time.
func EngineChain(n int) ([]Figure, error) {
	l, gen, err := newLocal(20_000, 500)
	if err != nil {
		return nil, err
	}
	msgs := messages(gen, n)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	// Five rounds of n/5 events each, reported as the median round: one
	// round is about a quarter of a second, and on a shared virtual machine
	// single rounds vary by a third.
	const rounds = 5
	var rates, walls []float64
	per := n / rounds
	for r := range rounds {
		part := msgs[r*per : (r+1)*per]
		runtime.GC()
		t0, cpu0 := time.Now(), cputime.Process()
		for i := 0; i < len(part); i += 1000 {
			l.ProcessTransactions(part[i:min(i+1000, len(part))])
		}
		wall := float64(len(part)) / time.Since(t0).Seconds()
		// Per core: events per second of the CPU time the process used (one
		// P, so the chain and its garbage collection), which a busy
		// neighbour on a shared machine does not inflate the way it
		// inflates wall time.
		rate := wall
		if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
			rate = float64(len(part)) / cpu
		}
		rates, walls = append(rates, rate), append(walls, wall)
	}
	slices.Sort(rates)
	slices.Sort(walls)
	rate, wall := rates[rounds/2], walls[rounds/2]

	more := messages(gen, min(n, 20_000))
	lat := make([]float64, len(more))
	for i := range more {
		more[i].Offset = int64(n + i)
		t := time.Now()
		l.ProcessTransactions(more[i : i+1])
		lat[i] = float64(time.Since(t).Nanoseconds()) / 1e3
	}
	slices.Sort(lat)
	return []Figure{
		{"engine_events_per_sec_per_core", rate, "events/s"},
		{"engine_events_per_sec_wall", wall, "events/s"},
		{"process_latency_p50_us", lat[len(lat)/2], "us"},
		{"process_latency_p99_us", lat[len(lat)*99/100], "us"},
	}, nil
}

// StateBytesPerCustomer measures state heap per customer right after a
// checkpoint (the steady state: a checkpoint clears the lists of changes
// since the previous one), over customers*3 transactions:
//
//   - state_bytes_per_customer: the customer state of issue #3 item 7, a
//     state.Store fed the partition's purchases;
//   - partition_state_bytes_per_customer: everything one partition keeps
//     (customer Store, fraud states with velocity windows, dedup filters, KPI
//     panes);
//   - checkpoint_bytes_per_customer: what the first checkpoint writes (all
//     of the state: every customer and fraud entry is new).
func StateBytesPerCustomer(customers int) ([]Figure, error) {
	_, gen, err := newLocal(customers, 500)
	if err != nil {
		return nil, err
	}
	msgs := messages(gen, customers*3)
	purchases := make([]state.Purchase, 0, len(msgs))
	v := events.NewValidator(events.ValidatorConfig{})
	for i := range msgs {
		ev, err := v.Decode(events.KindTransaction, msgs[i].Value)
		if err != nil {
			return nil, err
		}
		t := ev.(*events.Transaction)
		purchases = append(purchases, state.Purchase{Offset: int64(i), CustomerID: strings.Clone(t.CustomerID), EventTime: t.EventTime,
			Amount: t.Amount, DeviceID: strings.Clone(t.Device.ID), Country: strings.Clone(t.Geo.Country)})
	}

	before := heapInUse()
	store := state.NewStore("txns", 0)
	for _, p := range purchases {
		if _, err := store.Apply(p); err != nil {
			return nil, err
		}
	}
	store.Checkpoint()
	storeBytes := float64(heapInUse()) - float64(before)
	c := float64(store.Len())
	// The inputs were live when before was read: keep them live until
	// after, so only the Store's heap is counted.
	runtime.KeepAlive(store)
	runtime.KeepAlive(purchases)

	before = heapInUse()
	l, _, err := newLocal(customers, 500)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(msgs); i += 1000 {
		l.ProcessTransactions(msgs[i:min(i+1000, len(msgs))])
	}
	ckpt, err := l.CheckpointBytes()
	if err != nil {
		return nil, err
	}
	// A second checkpoint brings the other changelog slot up to date too,
	// which clears what the partition remembers for it: the steady state
	// between checkpoints, not the one after a first full write.
	if _, err := l.CheckpointBytes(); err != nil {
		return nil, err
	}
	l.DiscardOutput()
	partBytes := float64(heapInUse()) - float64(before)
	lc := float64(l.Customers())
	runtime.KeepAlive(l)
	runtime.KeepAlive(msgs)
	return []Figure{
		{"state_bytes_per_customer", storeBytes / c, "bytes"},
		{"partition_state_bytes_per_customer", partBytes / lc, "bytes"},
		{"checkpoint_bytes_per_customer", float64(ckpt) / lc, "bytes"},
	}, nil
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// EndToEnd produces n transactions to an in-process kfake cluster, measures
// the raw consume rate of the topic (kafkaio.MeasureRawConsume) and the
// engine's rate over the same records in the same run, then the restore rate
// of the changelog the engine wrote.
func EndToEnd(n int) ([]Figure, error) {
	ctx := context.Background()
	cluster, err := embedkafka.Start(ctx, embedkafka.Options{GroupMinSessionTimeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	rc := RuntimeConfig(cluster.Addrs())
	s, err := engine.Resolve(rc)
	if err != nil {
		return nil, err
	}
	kcfg := kafkaio.Config{Brokers: cluster.Addrs(), MaxWait: 100 * time.Millisecond}
	cl, err := kafkaio.NewClient(kcfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	const partitions = 4
	if err := cl.EnsureTopics(ctx, kafkaio.TopicSpec{Name: "txns", Partitions: partitions}, kafkaio.TopicSpec{Name: "products", Partitions: 1}); err != nil {
		return nil, err
	}
	if err := engine.EnsureTopics(ctx, kcfg, &s); err != nil {
		return nil, err
	}
	gen := enginetest.NewGenerator(3, 50_000, 500, time.Now().Add(-6*time.Hour), 20*time.Millisecond)
	w := cl.NewWriter()
	var batch []kafka.Message
	for _, pu := range gen.ProductUpdates() {
		batch = append(batch, kafka.Message{Topic: "products", Key: pu[0], Value: pu[1]})
	}
	for i := range n {
		x := gen.Next()
		batch = append(batch, kafka.Message{Topic: "txns", Key: x.Key, Value: x.Value})
		if len(batch) == 5000 || i == n-1 {
			if err := w.WriteBatch(ctx, batch); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	_ = w.Close()

	raw, err := kafkaio.MeasureRawConsume(ctx, kcfg, "txns")
	if err != nil {
		return nil, err
	}

	e, err := engine.New(s, engine.Options{Kafka: kcfg, Group: "bench-engine", RuleSets: rc.FraudRuleSets})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	// The clock starts when the engine is ready: partitions restored and
	// the catalog loaded, before which it processes nothing. Only what is
	// processed after that counts (sum0 is what a slow poll missed).
	var t0 time.Time
	var sum0 int64
	var cpu0 time.Duration
	stopProfile := func() {}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st := e.Status()
		var sum int64
		for _, p := range st.Partitions {
			sum += p.Offset
		}
		if t0.IsZero() && st.Ready {
			if !st.CatalogLoaded || st.CatalogProducts != gen.Products {
				cancel()
				return nil, fmt.Errorf("engine ready with the catalog not loaded: %+v", st)
			}
			t0, sum0, cpu0 = time.Now(), sum, cputime.Process()
			stopProfile = profileWindow()
		}
		if !t0.IsZero() && sum == int64(n) && len(st.Partitions) == partitions {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			return nil, fmt.Errorf("engine did not catch up: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(t0)
	cpu := cputime.Process() - cpu0
	stopProfile()
	cancel()
	if err := <-done; err != nil {
		return nil, err
	}
	e2e := float64(int64(n)-sum0) / elapsed.Seconds()

	var rr engine.RestoreResult
	for p := range int32(partitions) {
		r, err := engine.RestorePartition(ctx, kcfg, &s, p)
		if err != nil {
			return nil, err
		}
		rr.Bytes += r.Bytes
		rr.Elapsed += r.Elapsed
	}
	return []Figure{
		{"e2e_events_per_sec", e2e, "events/s"},
		{"raw_consume_events_per_sec", raw.RecordsPerSec(), "events/s"},
		{"e2e_to_raw_ratio", e2e / raw.RecordsPerSec(), "ratio"},
		// CPU of the whole process per event (engine, kafka-go and the
		// in-process kfake broker), the cost behind each rate.
		{"e2e_cpu_us_per_event", cpu.Seconds() * 1e6 / float64(int64(n)-sum0), "us"},
		{"raw_consume_cpu_us_per_event", raw.CPU.Seconds() * 1e6 / float64(raw.Records), "us"},
		{"restore_mb_per_sec", float64(rr.Bytes) / 1e6 / rr.Elapsed.Seconds(), "MB/s"},
	}, nil
}

// profileWindow starts a CPU profile into the file named by
// BENCH_E2E_CPUPROFILE, if set, and returns what stops it: a profile of
// the end-to-end measurement alone, without the set-up, the raw consume and
// the restore around it.
func profileWindow() func() {
	path := os.Getenv("BENCH_E2E_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "BENCH_E2E_CPUPROFILE:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "BENCH_E2E_CPUPROFILE:", err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
