package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/offline"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/generator"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest/embedkafka"
)

func init() { extraCommands = append(extraCommands, newDevCommand) }

// devOptions are the flags of `ecap dev`.
type devOptions struct {
	samples     string
	pipeline    string
	dataDir     string
	port        int
	adminAddr   string
	rate        int
	seed        uint64
	badFraction float64
	duration    time.Duration
	summary     string
}

func newDevCommand() *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform locally on embedded defaults: Kafka, generator, runtime, live view",
		Long: `dev starts an embedded Kafka (data kept in --data-dir, so a restart resumes),
admits the Pipeline, FraudRuleSets and Segmentations in --samples exactly as
the API server would (schema defaults, OpenAPI and CEL validation, webhook
checks), runs the event generator and a runtime for the Pipeline, and shows
a live view. Editing the fraud rules in --samples changes the scoring within
a second. Stop it with Ctrl-C or --duration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			if o.duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.duration)
				defer cancel()
			}
			return runDev(ctx, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.samples, "samples", "config/samples", "directory of the Pipeline, FraudRuleSet and Segmentation manifests")
	f.StringVar(&o.pipeline, "pipeline", "shop", "name of the Pipeline to run")
	f.StringVar(&o.dataDir, "data-dir", ".ecap-dev", "directory for Kafka's data and the resolved runtime config")
	f.IntVar(&o.port, "kafka-port", 19092, "port of the embedded Kafka broker")
	f.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:9090", "listen address of the runtime's admin server")
	f.IntVar(&o.rate, "rate", 300, "generated events per second (0: as fast as possible)")
	f.Uint64Var(&o.seed, "seed", 1, "generator seed")
	f.Float64Var(&o.badFraction, "bad-fraction", 0.02, "fraction of malformed events, to exercise the dead-letter topic")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	f.StringVar(&o.summary, "summary", "", "write a JSON summary here on exit")
	return cmd
}

// devSummary is what --summary writes.
type devSummary struct {
	Events     int64          `json:"events"`
	DLQ        int64          `json:"dlq"`
	Alerts     int64          `json:"alerts"`
	KPIWindows int64          `json:"kpiWindows"`
	Segments   map[string]int `json:"segments"`
}

func runDev(ctx context.Context, o *devOptions, out io.Writer) error {
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return err
	}
	// Kafka outlives ctx: the runtime's final checkpoint and commit after
	// Ctrl-C or --duration still need it; it stops when runDev returns.
	cluster, err := embedkafka.Start(context.WithoutCancel(ctx), embedkafka.Options{DataDir: filepath.Join(o.dataDir, "kafka"), Port: o.port})
	if err != nil {
		return fmt.Errorf("failed to start the embedded Kafka: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.Addrs()

	if err := createDevInputTopics(ctx, brokers, o); err != nil {
		return err
	}
	configPath := filepath.Join(o.dataDir, "runtime.json")
	rc, err := writeDevConfig(ctx, o, brokers, configPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ecap dev: Kafka on %s, pipeline %q with %d fraud rule set(s), %d segmentation(s)\n",
		strings.Join(brokers, ","), rc.Pipeline.Name, len(rc.FraudRuleSets), len(rc.Segmentations))
	fmt.Fprintf(out, "  metrics http://%s/metrics   status http://%s/v1/status\n", o.adminAddr, o.adminAddr)
	for _, sg := range rc.Segmentations {
		fmt.Fprintf(out, "  segmentation %s scores %s (dev schedule); profiles: http://%s/v1/segmentations/%s/customers/<id>\n",
			sg.Name, sg.Spec.Schedule, o.adminAddr, sg.Name)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Errors after the stop was asked for are the stop itself.
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("runtime", func() error { return runRuntime(ctx, configPath, o.adminAddr, groupTuning{}) })
	run("samples watch", func() error { return watchSamples(ctx, o, brokers, configPath, out) })
	view := newDevView(rc)
	run("outputs", func() error { return view.follow(ctx, brokers) })
	run("generator", func() error { return runDevGenerator(ctx, o, rc, brokers) })

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	tty := isTerminal(out)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			view.poll(ctx, o.adminAddr)
			view.render(out, tty)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	var runErr error
	for err := range errs {
		runErr = errors.Join(runErr, err)
	}
	view.render(out, false)
	if o.summary != "" {
		if err := view.writeSummary(o.summary); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return runErr
}

// devSamples are the admitted manifests of the Pipeline `ecap dev` runs.
type devSamples struct {
	pipeline *v1alpha1.Pipeline
	rules    []v1alpha1.FraudRuleSet
	segs     []v1alpha1.Segmentation
}

// loadDevSamples admits every manifest in o.samples and keeps the Pipeline
// named o.pipeline and what references it.
func loadDevSamples(ctx context.Context, o *devOptions) (*devSamples, error) {
	files, err := filepath.Glob(filepath.Join(o.samples, "*.yaml"))
	if err != nil {
		return nil, err
	}
	s := &devSamples{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		objs, err := offline.AdmitAll(ctx, fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, obj := range objs {
			switch obj := obj.(type) {
			case *v1alpha1.Pipeline:
				if obj.Name == o.pipeline {
					s.pipeline = obj
				}
			case *v1alpha1.FraudRuleSet:
				if obj.Spec.PipelineRef.Name == o.pipeline {
					s.rules = append(s.rules, *obj)
				}
			case *v1alpha1.Segmentation:
				if obj.Spec.PipelineRef.Name == o.pipeline {
					s.segs = append(s.segs, *obj)
				}
			}
		}
	}
	if s.pipeline == nil {
		return nil, fmt.Errorf("no Pipeline named %q in %s", o.pipeline, o.samples)
	}
	if s.pipeline.Namespace == "" {
		s.pipeline.Namespace = "dev"
	}
	s.pipeline.Generation = 1
	for i := range s.rules {
		// A stable generation per content: the runtime reloads only when a
		// rule set's generation changes.
		s.rules[i].Generation = contentGeneration(s.rules[i].Spec)
	}
	for i := range s.segs {
		// A demo lasts seconds to minutes: score on a short interval so
		// that segments appear at once, whatever the sample's schedule.
		s.segs[i].Spec.Schedule = devSegmentationSchedule
		s.segs[i].Generation = contentGeneration(s.segs[i].Spec)
	}
	return s, nil
}

// writeDevConfig admits the samples, points the Pipeline at the embedded
// brokers and writes the RuntimeConfig the runtime reads (and watches).
func writeDevConfig(ctx context.Context, o *devOptions, brokers []string, path string) (*v1alpha1.RuntimeConfig, error) {
	s, err := loadDevSamples(ctx, o)
	if err != nil {
		return nil, err
	}
	s.pipeline.Spec.Kafka.Brokers = brokers
	rc := pipeline.BuildRuntimeConfig(s.pipeline, s.rules, s.segs)
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return nil, err
	}
	return rc, os.Rename(tmp, path)
}

// devSegmentationSchedule replaces the samples' Segmentation schedules in
// `ecap dev`.
const devSegmentationSchedule = "@every 5s"

// contentGeneration derives a positive generation from a spec's content.
func contentGeneration(spec any) int64 {
	b, _ := json.Marshal(spec)
	var h uint64 = 1469598103934665603
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return int64(h>>33) + 1
}

// watchSamples re-admits the samples when a file changes and rewrites the
// runtime config; a sample that does not admit leaves the last good config.
func watchSamples(ctx context.Context, o *devOptions, brokers []string, path string, out io.Writer) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(o.samples); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			if !strings.HasSuffix(ev.Name, ".yaml") {
				continue
			}
			if _, err := writeDevConfig(ctx, o, brokers, path); err != nil {
				fmt.Fprintf(out, "\nsamples changed but were not applied (the last good config stays): %v\n", err)
			}
		case err := <-w.Errors:
			return err
		}
	}
}

// devSegmentation is the part of a Segmentation's runtime status the live
// view shows.
type devSegmentation struct {
	Name      string `json:"name"`
	LastError string `json:"lastError"`
	LastRun   *struct {
		RunID           string         `json:"runID"`
		CustomersScored int            `json:"customersScored"`
		Segments        map[string]int `json:"segments"`
		Duration        string         `json:"duration"`
		BGNBD           *struct {
			R, Alpha, A, B float64
		} `json:"bgnbd"`
		Notes struct {
			Churn string `json:"churn"`
		} `json:"notes"`
	} `json:"lastRun"`
}

// devView follows the output topics and the runtime's status for the live
// view and the summary.
type devView struct {
	rc *v1alpha1.RuntimeConfig

	mu     sync.Mutex
	status struct {
		EventsPerSecond           float64
		EventsTotal, DeadLettered int64
		Segmentations             []devSegmentation
	}
	dlqReasons map[string]int64
	alerts     int64
	latest     []string
	kpiWindows int64
	kpiTop     map[string]string
}

func newDevView(rc *v1alpha1.RuntimeConfig) *devView {
	return &devView{rc: rc, dlqReasons: map[string]int64{}, kpiTop: map[string]string{}}
}

func (v *devView) follow(ctx context.Context, brokers []string) error {
	spec := v.rc.Pipeline.Spec
	topics := map[string]func(kafka.Message){
		string(spec.Topics.DeadLetter): v.onDLQ,
	}
	if spec.Sinks.AlertsTopic != "" {
		topics[string(spec.Sinks.AlertsTopic)] = v.onAlert
	}
	if spec.KPIs != nil {
		topics[string(spec.KPIs.Topic)] = v.onKPI
	}
	var wg sync.WaitGroup
	for topic, handle := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			followTopic(ctx, brokers, topic, handle)
		}()
	}
	wg.Wait()
	return nil
}

// followTopic reads every partition of topic from the start until ctx ends.
func followTopic(ctx context.Context, brokers []string, topic string, handle func(kafka.Message)) {
	var parts []kafka.Partition
	for ctx.Err() == nil {
		conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
		if err == nil {
			parts, err = conn.ReadPartitions(topic)
			conn.Close()
		}
		if err == nil && len(parts) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 250 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				handle(m)
			}
		}()
	}
	wg.Wait()
}

func (v *devView) onDLQ(m kafka.Message) {
	reason := "unknown"
	for _, h := range m.Headers {
		if h.Key == events.HeaderDLQReason {
			reason = string(h.Value)
		}
	}
	v.mu.Lock()
	v.dlqReasons[reason]++
	v.mu.Unlock()
}

func (v *devView) onAlert(m kafka.Message) {
	var d fraud.Decision
	if err := json.Unmarshal(m.Value, &d); err != nil {
		return
	}
	var rules []string
	for _, h := range d.Hits {
		rules = append(rules, fmt.Sprintf("%s(%s)", h.Rule, h.Mode))
	}
	line := fmt.Sprintf("%-6s score %-4d %s customer %s txn %s: %s", d.Outcome, d.Score, d.Priority, d.CustomerID, d.TransactionID, strings.Join(rules, ", "))
	v.mu.Lock()
	v.alerts++
	v.latest = append(v.latest, line)
	if len(v.latest) > 5 {
		v.latest = v.latest[len(v.latest)-5:]
	}
	v.mu.Unlock()
}

func (v *devView) onKPI(m kafka.Message) {
	var r struct {
		Window    string    `json:"window"`
		Start     time.Time `json:"start"`
		Dimension string    `json:"dimension"`
		Value     string    `json:"value"`
		Revenue   float64   `json:"revenue"`
		Orders    int64     `json:"orders"`
		AOV       float64   `json:"aov"`
		Unique    uint64    `json:"unique_customers"`
	}
	if err := json.Unmarshal(m.Value, &r); err != nil {
		return
	}
	v.mu.Lock()
	v.kpiWindows++
	if r.Dimension == "all" || r.Dimension == "" {
		v.kpiTop[r.Window] = fmt.Sprintf("%s window %s: revenue %.2f, orders %d, AOV %.2f, customers %d",
			r.Window, r.Start.UTC().Format("15:04"), r.Revenue, r.Orders, r.AOV, r.Unique)
	}
	v.mu.Unlock()
}

func (v *devView) poll(ctx context.Context, adminAddr string) {
	ctx, cancel := context.WithTimeout(ctx, 800*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/v1/status", nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	v.mu.Lock()
	defer v.mu.Unlock()
	_ = json.NewDecoder(resp.Body).Decode(&v.status)
}

func (v *devView) render(out io.Writer, tty bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	if tty {
		b.WriteString("\x1b[H\x1b[2J")
	}
	fmt.Fprintf(&b, "ECAP dev — pipeline %s   %s\n", v.rc.Pipeline.Name, time.Now().Format(time.TimeOnly))
	fmt.Fprintf(&b, "events %d (%.0f/s)   dead-lettered %d   alerts %d   KPI windows %d\n",
		v.status.EventsTotal, v.status.EventsPerSecond, v.status.DeadLettered, v.alerts, v.kpiWindows)
	reasons := make([]string, 0, len(v.dlqReasons))
	for r, n := range v.dlqReasons {
		reasons = append(reasons, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(reasons)
	fmt.Fprintf(&b, "DLQ by reason: %s\n", strings.Join(reasons, " "))
	windows := make([]string, 0, len(v.kpiTop))
	for _, line := range v.kpiTop {
		windows = append(windows, line)
	}
	sort.Strings(windows)
	for _, w := range windows {
		fmt.Fprintf(&b, "KPI %s\n", w)
	}
	for _, a := range v.latest {
		fmt.Fprintf(&b, "alert %s\n", a)
	}
	if len(v.status.Segmentations) == 0 {
		b.WriteString("segments: no Segmentation for this pipeline in the samples\n")
	}
	for _, sg := range v.status.Segmentations {
		run := sg.LastRun
		switch {
		case run == nil && sg.LastError != "":
			fmt.Fprintf(&b, "segments %s: %s\n", sg.Name, sg.LastError)
		case run == nil:
			fmt.Fprintf(&b, "segments %s: waiting for the first run (%s)\n", sg.Name, devSegmentationSchedule)
		default:
			counts := make([]string, 0, len(run.Segments))
			for name, n := range run.Segments {
				counts = append(counts, fmt.Sprintf("%s=%d", name, n))
			}
			sort.Strings(counts)
			fmt.Fprintf(&b, "segments %s: %d customers (%s in %s): %s\n", sg.Name, run.CustomersScored, run.RunID, run.Duration, strings.Join(counts, " "))
			if run.BGNBD != nil {
				fmt.Fprintf(&b, "  churn model BG/NBD r=%.3f alpha=%.3f a=%.3f b=%.3f\n", run.BGNBD.R, run.BGNBD.Alpha, run.BGNBD.A, run.BGNBD.B)
			} else if run.Notes.Churn != "" {
				fmt.Fprintf(&b, "  churn model not fitted yet: %s\n", run.Notes.Churn)
			}
		}
	}
	if !tty {
		b.WriteString("--\n")
	}
	io.WriteString(out, b.String())
}

func (v *devView) writeSummary(path string) error {
	v.mu.Lock()
	s := devSummary{Events: v.status.EventsTotal, DLQ: v.status.DeadLettered, Alerts: v.alerts, KPIWindows: v.kpiWindows, Segments: map[string]int{}}
	// Customers per segment of the last run, summed over Segmentations
	// (the samples have one).
	for _, sg := range v.status.Segmentations {
		if sg.LastRun != nil {
			for name, n := range sg.LastRun.Segments {
				s.Segments[name] += n
			}
		}
	}
	v.mu.Unlock()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runDevGenerator produces generated events to the Pipeline's input topics.
// Event time starts devBacklog behind the wall clock, so the first KPI
// windows close and the first fraud patterns play out within seconds; after
// that backlog, records wait for the wall clock to reach their event time
// and activity is sped up to about o.rate records per second.
func runDevGenerator(ctx context.Context, o *devOptions, rc *v1alpha1.RuntimeConfig, brokers []string) error {
	cfg := generator.Config{
		Seed: o.seed, Customers: 2000, Start: time.Now().UTC().Add(-devBacklog).Truncate(time.Second), BadFraction: o.badFraction,
		// A demo runs for minutes, not months: fraud is over-represented
		// so that alerts appear within the first minute.
		FraudRates: devFraudRates,
	}
	if natural := cfg.NaturalRate(); o.rate > 0 && natural > 0 {
		cfg.TimeScale = float64(o.rate) / natural
	}
	gen, err := generator.NewChecked(cfg)
	if err != nil {
		return err
	}
	client, err := kafkaio.NewClient(kafkaio.Config{Brokers: brokers, ClientID: "ecap-dev-generator"})
	if err != nil {
		return err
	}
	defer client.Close()
	t := rc.Pipeline.Spec.Topics
	sink := generator.NewKafkaSink(client.NewWriter(), generator.Topics{
		Transactions: string(t.Transactions), UserEvents: string(t.UserEvents), Products: string(t.ProductUpdates),
	})
	defer sink.Close()
	return generator.Run(ctx, gen, sink, generator.RunOptions{Live: true})
}

// devFraudRates are fraudulent transactions per 1000 legitimate ones, per
// pattern, in the demo. A fraud episode starts only after enough legitimate
// transactions have accrued its share, and the demo's first minutes hold
// about two hundred transactions (most records are browsing), so the rates
// are high: with them the sample rules raise 7 to 11 alerts in the four
// minutes of backlog (seeds 1-3, checked with `ecap generate` and
// `ecap backtest`). Only the rates change; the patterns are the generator's.
var devFraudRates = map[string]float64{
	"card_testing": 200, "account_takeover": 60, "impossible_travel": 60, "amount_anomaly": 60, "colluding_merchant": 60,
}

// devBacklog is how far behind the wall clock generated event time starts.
const devBacklog = 4 * time.Minute

// devPartitions is the partition count of the input topics `ecap dev`
// creates: a few, so that the per-partition machinery is exercised.
const devPartitions = 3

// createDevInputTopics creates the Pipeline's input topics, as a platform
// team would before deploying it (the runtime creates only its outputs).
func createDevInputTopics(ctx context.Context, brokers []string, o *devOptions) error {
	samples, err := loadDevSamples(ctx, o)
	if err != nil {
		return err
	}
	t := samples.pipeline.Spec.Topics
	specs := []kafkaio.TopicSpec{}
	for _, name := range []v1alpha1.TopicName{t.Transactions, t.UserEvents, t.Feedback} {
		if name != "" {
			specs = append(specs, kafkaio.TopicSpec{Name: string(name), Partitions: devPartitions, ReplicationFactor: 1})
		}
	}
	if t.ProductUpdates != "" {
		specs = append(specs, kafkaio.CompactedTopic(string(t.ProductUpdates), devPartitions, 1))
	}
	client, err := kafkaio.NewClient(kafkaio.Config{Brokers: brokers, ClientID: "ecap-dev"})
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.EnsureTopics(ctx, specs...); err != nil {
		return fmt.Errorf("failed to create the input topics: %w", err)
	}
	return nil
}
