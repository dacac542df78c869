package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

func init() {
	measurements = append(measurements, measurement{"fraud decision latency and hot reload", fraudLatency})
}

// Settings of the latency measurement.
const (
	latencyRate       = 10_000 // transactions per second offered
	latencyWarmup     = 3 * time.Second
	latencyMeasure    = 12 * time.Second
	latencyReloads    = 5
	latencyPartitions = 4
	latencyTick       = 5 * time.Millisecond
)

// fraudLatency runs the real pieces of a cluster deployment, each in a
// process of its own as in a cluster: a kube-apiserver (envtest) with the
// ECAP manager and its admission webhooks (in this process), the embedded
// Kafka (hack/kafkad), and `ecap runtime` on the Pipeline's resolved
// RuntimeConfig, watching the FraudRuleSets on the API server. It offers
// 10,000 transactions per second and measures, per alerted transaction,
// the time from handing it to the producer to reading its alert back from
// the alerts topic. Every tenth transaction alerts (those whose ID ends in
// 0): the sample rule set gets one extra shadow-mode rule that says so
// (shadow hits are published and never change the outcome). One in ten is
// already far above a real alert rate; alerting on every transaction would
// instead measure an alert log (the state feedback is matched against) ten
// times too large. Every transaction takes the same path through the
// engine whether it alerts or not. While the load runs it edits the
// FraudRuleSet several times and measures each time from the update call
// to the first alert scored by the new generation.
func fraudLatency() ([]figure, error) {
	obj, err := loadSampleRuleSet()
	if err != nil {
		return nil, err
	}
	total := int(float64(latencyRate)*(latencyWarmup+latencyMeasure+3*time.Second).Seconds()) + 100
	recs, err := encodeTransactions(total)
	if err != nil {
		return nil, err
	}
	// The generator's garbage is not the engine's to collect.
	runtime.GC()
	env, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, err := env.CreateNamespace(ctx, "bench")
	if err != nil {
		return nil, err
	}
	// The broker runs in a process of its own (hack/kafkad), as it does in
	// a deployment; it outlives ctx: the engine's last checkpoint goes to
	// it.
	cluster, err := startKafkad()
	if err != nil {
		return nil, err
	}
	defer cluster.Close()

	p := testenv.Pipeline(ns, "bench")
	p.Spec.Kafka.Brokers = cluster.Addrs()
	p.Spec.Sinks.AlertsTopic = "alerts"
	if err := env.Client.Create(ctx, p); err != nil {
		return nil, err
	}
	rs := &v1alpha1.FraudRuleSet{}
	rs.Namespace, rs.Name = ns, obj.Name
	rs.Spec = *obj.Spec.DeepCopy()
	rs.Spec.PipelineRef.Name = p.Name
	rs.Spec.Rules = append(rs.Spec.Rules, v1alpha1.FraudRule{Name: "every-tenth-transaction", Expression: `txn.id.endsWith("0")`, Score: 1,
		Mode: v1alpha1.RuleModeShadow, Description: "reload 0"})
	if err := env.Client.Create(ctx, rs); err != nil {
		return nil, fmt.Errorf("create FraudRuleSet: %w", err)
	}

	kcfg := kafkaio.Config{Brokers: cluster.Addrs(), MaxWait: 100 * time.Millisecond}
	cl, err := kafkaio.NewClient(kcfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := cl.EnsureTopics(ctx, kafkaio.TopicSpec{Name: "txns", Partitions: latencyPartitions}); err != nil {
		return nil, err
	}
	rc := &v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: p.Name, Namespace: ns, Generation: 1, Spec: p.Spec}}
	s, err := engine.Resolve(rc)
	if err != nil {
		return nil, err
	}
	if err := engine.EnsureTopics(ctx, kcfg, &s); err != nil {
		return nil, err
	}
	rt, err := startRuntime(rc, env.Kubeconfig)
	if err != nil {
		return nil, err
	}
	defer func() {
		if rt != nil {
			_ = rt.stop(30 * time.Second)
		}
	}()
	if err := rt.waitReady(latencyPartitions, time.Minute); err != nil {
		return nil, err
	}

	m := &latencyRecorder{sent: map[string]time.Time{}, firstOfGen: map[int64]time.Time{}}
	readers := m.readAlerts(ctx, cluster.Addrs())
	prodErr := make(chan error, 1)
	prodCtx, stopProd := context.WithCancel(ctx)
	defer stopProd()
	go func() { prodErr <- m.produce(prodCtx, cl, recs) }()

	time.Sleep(latencyWarmup)
	m.startMeasuring()
	if path := os.Getenv("BENCH_RUNTIME_CPU"); path != "" {
		// The runtime's CPU profile over the measurement, for go tool pprof.
		go func() {
			if err := rt.saveProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(latencyMeasure.Seconds())), path); err != nil {
				fmt.Fprintf(os.Stderr, "benchreport: runtime CPU profile: %v\n", err)
			}
		}()
	}
	var reloads []time.Duration
	gap := latencyMeasure / (latencyReloads + 1)
	for i := 1; i <= latencyReloads; i++ {
		time.Sleep(gap)
		cur := &v1alpha1.FraudRuleSet{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rs), cur); err != nil {
			return nil, err
		}
		last := len(cur.Spec.Rules) - 1
		cur.Spec.Rules[last].Description = fmt.Sprintf("reload %d", i)
		t0 := time.Now()
		if err := env.Client.Update(ctx, cur); err != nil {
			return nil, fmt.Errorf("update FraudRuleSet: %w", err)
		}
		at, err := m.waitGeneration(cur.Generation, 10*time.Second)
		if err != nil {
			return nil, err
		}
		reloads = append(reloads, at.Sub(t0))
	}
	time.Sleep(gap)
	offered, lat := m.stopMeasuring()
	ckptCount, ckptSum, err := rt.histogram("ecap_checkpoint_duration_seconds")
	if err != nil {
		return nil, err
	}
	pauseCount, pauseSum, err := rt.histogram("ecap_checkpoint_pause_seconds")
	if err != nil {
		return nil, err
	}
	stopProd()
	if err := <-prodErr; err != nil {
		return nil, err
	}
	err = rt.stop(30 * time.Second)
	rt = nil
	if err != nil {
		return nil, err
	}
	cancel()
	readers.Wait()
	if len(lat) < offered*9/10 {
		return nil, fmt.Errorf("only %d of %d alerting transactions got their alert back", len(lat), offered)
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	window := latencyMeasure.Seconds()
	return []figure{
		{"fraud_decision_p50_ms", pct(0.50), "ms"},
		{"fraud_decision_p99_ms", pct(0.99), "ms"},
		{"fraud_decision_offered_per_sec", 10 * float64(offered) / window, "events/s"},
		{"rule_hot_reload_ms", float64(median(reloads).Microseconds()) / 1000, "ms"},
		{"rule_hot_reload_max_ms", float64(slices.Max(reloads).Microseconds()) / 1000, "ms"},
		// The partition pauses while its checkpoint is written: the tail.
		{"fraud_decision_checkpoint_mean_ms", 1000 * ckptSum / max(float64(ckptCount), 1), "ms"},
		// Of which the partition waits for the encoding, under its lock.
		{"fraud_decision_checkpoint_pause_mean_ms", 1000 * pauseSum / max(float64(pauseCount), 1), "ms"},
	}, nil
}

// latencyRecorder pairs produced transactions with their alerts.
type latencyRecorder struct {
	mu         sync.Mutex
	sent       map[string]time.Time // transaction ID -> hand-over to the producer
	measuring  bool
	measured   map[string]bool // transaction IDs produced while measuring
	lat        []time.Duration
	firstOfGen map[int64]time.Time // generation -> first alert read
}

func (m *latencyRecorder) startMeasuring() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.measuring, m.measured = true, map[string]bool{}
}

func (m *latencyRecorder) stopMeasuring() (offered int, lat []time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.measuring = false
	// Alerts still in flight get a moment.
	return len(m.measured), slices.Clone(m.lat)
}

// produce offers latencyRate transactions per second in ticks of
// latencyTick, each tick's records in one acks=all write, until ctx ends.
// The records are encoded before the clock starts, with a fixed-width
// event time that is overwritten in place at send time, so the producer
// costs next to nothing and the figures are the engine's.
func (m *latencyRecorder) produce(ctx context.Context, cl *kafkaio.Client, arena *txnArena) error {
	recs := arena.recs
	w := cl.NewWriter()
	defer w.Close()
	t := time.NewTicker(latencyTick)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var failed error
	var failMu sync.Mutex
	start := time.Now()
	for next := 0; ; {
		select {
		case <-ctx.Done():
			failMu.Lock()
			defer failMu.Unlock()
			return failed
		case <-t.C:
		}
		// Send what the rate owes by now, so late ticks do not lower it.
		now := time.Now()
		due := min(int(now.Sub(start).Seconds()*latencyRate), len(recs))
		if due == len(recs) {
			return errors.New("the pre-encoded transactions ran out; raise the total")
		}
		if due <= next {
			continue
		}
		batch := recs[next:due]
		next = due
		stamp := now.UTC().Format(stampLayout)
		msgs := make([]kafka.Message, len(batch))
		m.mu.Lock()
		for i := range batch {
			r := &batch[i]
			copy(arena.buf[r.stampAt:], stamp)
			msgs[i] = kafka.Message{Topic: "txns", Key: arena.key(r), Value: arena.value(r)}
			id := arena.id(r)
			if !bytes.HasSuffix(id, []byte("0")) {
				continue // scored, no alert expected
			}
			m.sent[string(id)] = now
			if m.measuring {
				m.measured[string(id)] = true
			}
		}
		m.mu.Unlock()
		wg.Go(func() {
			if err := w.WriteBatch(ctx, msgs); err != nil && ctx.Err() == nil {
				failMu.Lock()
				failed = err
				failMu.Unlock()
			}
		})
	}
}

// stampLayout is a fixed-width RFC 3339 time, so that it can be written
// over a placeholder of the same length.
const stampLayout = "2006-01-02T15:04:05.000000Z"

// txnArena holds the pre-encoded transactions in one byte slice, and their
// places in it in a slice of offsets: two pointer-free objects, which the
// garbage collector of the measured process (the engine runs in it) marks
// at once instead of visiting 180,000 keys, values and IDs.
type txnArena struct {
	buf  []byte
	recs []encodedTxn
}

// encodedTxn is one transaction's place in txnArena.buf: its ID
// (transaction_id), key and value, and the offset of the event_time
// placeholder in the buffer.
type encodedTxn struct {
	id0, id1, k0, k1, v0, v1, stampAt int
}

func (a *txnArena) id(r *encodedTxn) []byte  { return a.buf[r.id0:r.id1:r.id1] }
func (a *txnArena) key(r *encodedTxn) []byte { return a.buf[r.k0:r.k1:r.k1] }
func (a *txnArena) value(r *encodedTxn) []byte {
	return a.buf[r.v0:r.v1:r.v1]
}

// encodeTransactions pre-encodes n generated transactions with a
// placeholder event time.
func encodeTransactions(n int) (*txnArena, error) {
	gen := enginetest.NewGenerator(11, 20_000, 200, time.Now(), 0)
	placeholder := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Format(stampLayout)
	a := &txnArena{recs: make([]encodedTxn, n)}
	for i := range a.recs {
		x := gen.Next()
		orig := []byte(`"event_time":"` + x.EventTime.Format(time.RFC3339Nano) + `"`)
		b := bytes.Replace(x.Value, orig, []byte(`"event_time":"`+placeholder+`"`), 1)
		at := bytes.Index(b, []byte(placeholder))
		if at < 0 {
			return nil, errors.New("event_time placeholder not found in the encoded transaction")
		}
		r := &a.recs[i]
		r.id0 = len(a.buf)
		a.buf = append(append(a.buf, "txn-"...), strings.TrimPrefix(x.EventID, "evt-")...)
		r.id1, r.k0 = len(a.buf), len(a.buf)
		a.buf = append(a.buf, x.Key...)
		r.k1, r.v0 = len(a.buf), len(a.buf)
		a.buf = append(a.buf, b...)
		r.v1, r.stampAt = len(a.buf), r.v0+at
	}
	// Cut the spare capacity: the buffer no longer grows.
	a.buf = slices.Clip(a.buf)
	return a, nil
}

// readAlerts reads every partition of the alerts topic from the start and
// records latencies and the first alert of each generation.
func (m *latencyRecorder) readAlerts(ctx context.Context, brokers []string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for part := range latencyPartitions {
		wg.Go(func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "alerts", Partition: part,
				MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 20 * time.Millisecond})
			defer r.Close()
			for {
				msg, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				at := time.Now()
				var a struct {
					TransactionID string `json:"transaction_id"`
					Generation    int64  `json:"generation"`
				}
				if json.Unmarshal(msg.Value, &a) != nil {
					continue
				}
				m.mu.Lock()
				if _, ok := m.firstOfGen[a.Generation]; !ok {
					m.firstOfGen[a.Generation] = at
				}
				if sent, ok := m.sent[a.TransactionID]; ok {
					delete(m.sent, a.TransactionID)
					if m.measuring && m.measured[a.TransactionID] {
						m.lat = append(m.lat, at.Sub(sent))
					}
				}
				m.mu.Unlock()
			}
		})
	}
	return &wg
}

// waitGeneration returns when the first alert of generation gen was read.
func (m *latencyRecorder) waitGeneration(gen int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		at, ok := m.firstOfGen[gen]
		m.mu.Unlock()
		if ok {
			return at, nil
		}
		time.Sleep(time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("no alert of generation %d within %s", gen, timeout)
}

// kafkad is the embedded broker in a child process (hack/kafkad).
type kafkad struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []string
}

func (k *kafkad) Addrs() []string { return append([]string(nil), k.addrs...) }

// Close stops the broker: closing its stdin ends it; it is killed if it
// has not exited within 10 s.
func (k *kafkad) Close() {
	_ = k.stdin.Close()
	done := make(chan struct{})
	go func() { _ = k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-done
	}
}

// startKafkad builds and starts hack/kafkad and reads its addresses.
func startKafkad() (*kafkad, error) {
	dir, err := os.MkdirTemp("", "kafkad")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "kafkad")
	build := exec.Command("go", "build", "-o", bin, "./hack/kafkad")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build hack/kafkad: %w", err)
	}
	cmd := exec.Command(bin)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("hack/kafkad printed no addresses: %w", err)
	}
	return &kafkad{cmd: cmd, stdin: stdin, addrs: strings.Split(strings.TrimSpace(line), ",")}, nil
}
