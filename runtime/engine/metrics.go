package engine

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the engine's Prometheus series, on a registry of its own.
// Every label takes a bounded set of values: topics and kinds from the
// config, rejection reasons from events.Reasons, outcomes and rule names from
// the rule sets, window names from the KPI spec, partition numbers from the
// input topic.
type Metrics struct {
	Registry *prometheus.Registry

	eventsIn        *prometheus.CounterVec // topic, kind
	rejects         *prometheus.CounterVec // reason
	duplicates      *prometheus.CounterVec // topic
	late            prometheus.Counter     // transactions late for some KPI window
	replaySkipped   prometheus.Counter     // records below the restored offset marker
	stateErrors     prometheus.Counter     // purchases the customer state refused
	latency         *batchHistogram        // per-event processing time
	alerts          *prometheus.CounterVec // outcome, rule_set
	ruleHits        *prometheus.CounterVec // rule_set, rule
	kpiWindows      *prometheus.CounterVec // window
	customers       *prometheus.GaugeVec   // partition
	checkpoint      prometheus.Histogram   // seconds
	checkpointPause prometheus.Histogram   // seconds the partition waits while a checkpoint is encoded
	checkpointBytes prometheus.Counter     // bytes appended to the changelog
	lag             *prometheus.GaugeVec   // topic, partition
	ruleGeneration  *prometheus.GaugeVec   // rule_set
	reloadFailures  *prometheus.CounterVec // rule_set
	pipelineGen     prometheus.Gauge       // pipeline generation
	catalogProducts prometheus.Gauge       // products in the catalog
	catalogLoaded   prometheus.Gauge       // 1 once the catalog's first load is complete
	restoreDuration prometheus.Histogram   // seconds per partition restore
	outputsWritten  *prometheus.CounterVec // topic
	kpi             *kpiMetrics            // business series, metrics_kpi.go
	collectors      []prometheus.Collector // everything registered, for Descriptors
	feedbackMetrics                        // analyst labels, feedback.go
	control         controlMetrics         // retention requests, control.go
}

func newMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r}
	f := func(c prometheus.Collector) { r.MustRegister(c); m.collectors = append(m.collectors, c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.eventsIn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_events_in_total", Help: "Input records read, by topic and event kind."}, []string{"topic", "kind"})
	m.rejects = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_events_rejected_total", Help: "Records dead-lettered, by rejection reason."}, []string{"reason"})
	m.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_events_duplicate_total", Help: "Events dropped as duplicates by event_id."}, []string{"topic"})
	m.late = prometheus.NewCounter(prometheus.CounterOpts{Name: "ecap_events_late_total", Help: "Transactions that arrived after all their windows of some KPI window name had closed."})
	m.replaySkipped = prometheus.NewCounter(prometheus.CounterOpts{Name: "ecap_events_replay_skipped_total", Help: "Records skipped because the restored state already includes them."})
	m.stateErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "ecap_state_apply_errors_total", Help: "Purchases the customer state refused."})
	m.latency = newBatchHistogram("ecap_process_latency_seconds", "Time to run one transaction through the stage chain (outputs not yet written).",
		prometheus.ExponentialBuckets(1e-6, 2.5, 14))
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_fraud_decisions_total", Help: "Fraud decisions, by outcome and rule set."}, []string{"outcome", "rule_set"})
	m.ruleHits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_fraud_rule_hits_total", Help: "Fraud rule hits, by rule set and rule."}, []string{"rule_set", "rule"})
	m.kpiWindows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_kpi_windows_emitted_total", Help: "KPI window results written, by window name."}, []string{"window"})
	m.customers = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ecap_state_customers", Help: "Customers held in state, by owned partition."}, []string{"partition"})
	m.checkpoint = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ecap_checkpoint_duration_seconds", Help: "Time from taking a partition's checkpoint to its offsets committed: the capture of its records between batches, then the changelog appends.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.checkpointBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "ecap_checkpoint_bytes_total", Help: "Bytes appended to the changelog."})
	m.checkpointPause = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ecap_checkpoint_pause_seconds",
		Help:    "Time a partition's processing waits while a checkpoint is taken (fraud state expiry, snapshot of dedup filters and KPI panes); changed records are captured later, between batches.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14)})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ecap_consumer_lag_records", Help: "High-water mark of the last fetch minus the next offset to process, by owned topic-partition."}, []string{"topic", "partition"})
	m.ruleGeneration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ecap_fraud_ruleset_generation", Help: "Generation of the rule set currently scoring."}, []string{"rule_set"})
	m.reloadFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_fraud_reload_failures_total", Help: "Rule-set reloads that failed to compile (the previous generation keeps scoring)."}, []string{"rule_set"})
	m.pipelineGen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecap_pipeline_generation", Help: "Generation of the Pipeline the runtime runs."})
	m.catalogProducts = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecap_catalog_products", Help: "Products in the catalog table."})
	m.catalogLoaded = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecap_catalog_loaded", Help: "1 once the product catalog has been read up to where its topic ended at start (transactions wait until then), else 0."})
	m.restoreDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ecap_restore_duration_seconds", Help: "Time to restore one partition from the changelog.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)})
	m.outputsWritten = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_outputs_written_total", Help: "Output records acknowledged, by topic."}, []string{"topic"})
	for _, c := range []prometheus.Collector{m.eventsIn, m.rejects, m.duplicates, m.late, m.replaySkipped, m.stateErrors, m.latency, m.alerts, m.ruleHits,
		m.kpiWindows, m.customers, m.checkpoint, m.checkpointPause, m.checkpointBytes, m.lag, m.ruleGeneration, m.reloadFailures, m.pipelineGen, m.catalogProducts,
		m.catalogLoaded, m.restoreDuration, m.outputsWritten} {
		f(c)
	}
	m.kpi = newKPIMetrics()
	for _, c := range m.kpi.collectors() {
		f(c)
	}
	m.feedbackMetrics.register(f)
	m.control.register(f)
	return m
}

// Descriptors returns the descriptor of every series family the registry
// can export, including vectors that have no child yet, which Gather leaves
// out. The dashboard and alert tests check metric names against them.
func (m *Metrics) Descriptors() []*prometheus.Desc {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []*prometheus.Desc
	for d := range ch {
		out = append(out, d)
	}
	return out
}

// batchCounts gathers counter increments over one batch and adds them at
// its end (flush): WithLabelValues hashes its labels and takes a lock,
// which once per event and series costs more than the rest of the
// counting. Only for series with two labels. A batch touches few series
// (one input kind, a few outcomes and rules), so they are found by a scan
// that starts at the last one counted; the labels are mostly the same
// strings each time (topic, rule-set and rule names), which compare by
// pointer. Past maxScannedSeries an index takes over.
type batchCounts struct {
	series []batchCount
	last   int
	index  map[batchSeries]int // nil until len(series) > maxScannedSeries
}

// maxScannedSeries is the number of series batchCounts finds by a scan.
const maxScannedSeries = 16

type batchSeries struct {
	vec  *prometheus.CounterVec
	a, b string
}

type batchCount struct {
	batchSeries
	n float64
}

// add counts one for vec's series with labels a and b.
func (c *batchCounts) add(vec *prometheus.CounterVec, a, b string) {
	if c.last < len(c.series) {
		if s := &c.series[c.last]; s.vec == vec && s.a == a && s.b == b {
			s.n++
			return
		}
	}
	k := batchSeries{vec, a, b}
	if c.index != nil {
		if i, ok := c.index[k]; ok {
			c.series[i].n++
			c.last = i
			return
		}
	} else {
		for i := range c.series {
			if s := &c.series[i]; s.vec == vec && s.a == a && s.b == b {
				s.n++
				c.last = i
				return
			}
		}
	}
	c.last = len(c.series)
	c.series = append(c.series, batchCount{batchSeries: k, n: 1})
	if c.index != nil {
		c.index[k] = c.last
	} else if len(c.series) > maxScannedSeries {
		c.index = make(map[batchSeries]int, len(c.series))
		for i, s := range c.series {
			c.index[s.batchSeries] = i
		}
	}
}

// flush adds what was counted and starts over.
func (c *batchCounts) flush() {
	for _, s := range c.series {
		s.vec.WithLabelValues(s.a, s.b).Add(s.n)
	}
	clear(c.series) // drop the label strings
	c.series, c.last = c.series[:0], 0
	if c.index != nil {
		clear(c.index)
	}
}

// eventClock times the events of one batch for ecap_process_latency_seconds
// with one monotonic clock reading per event instead of two wall-and-
// monotonic ones (time.Now costs about twice time.Since): an event that
// directly follows a timed one starts at that one's end reading. Events
// are numbered by their index in the batch; one that follows an event
// that was not timed (a replay, a reject, a duplicate) reads its own start.
type eventClock struct {
	base time.Time     // time.Now at the start of the batch
	last time.Duration // the last reading since base
	next int           // the event that starts at last
}

// newEventClock starts the clock of a batch; its first event starts now.
func newEventClock() eventClock { return eventClock{base: time.Now()} }

// begin starts event i.
func (c *eventClock) begin(i int) {
	if i != c.next {
		c.last = time.Since(c.base)
	}
}

// end ends event i and returns how long it took since begin.
func (c *eventClock) end(i int) time.Duration {
	now := time.Since(c.base)
	d := now - c.last
	c.last, c.next = now, i+1
	return d
}

// batchHistogram is a Prometheus histogram whose observations arrive in
// batches: each writer counts a batch into its own histogramBatch (plain
// bucket counters, no atomics) and adds it with flush, under a lock, once
// per batch; Collect exports the sums as a constant histogram. A
// prometheus.Histogram costs four atomic updates per observation.
type batchHistogram struct {
	desc  *prometheus.Desc
	upper []float64 // bucket upper bounds, inclusive, ascending

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	count  uint64
	sum    float64
}

func newBatchHistogram(name, help string, upper []float64) *batchHistogram {
	return &batchHistogram{
		desc:   prometheus.NewDesc(name, help, nil, nil),
		upper:  upper,
		counts: make([]uint64, len(upper)+1),
	}
}

// Describe implements prometheus.Collector.
func (h *batchHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector.
func (h *batchHistogram) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	buckets := make(map[float64]uint64, len(h.upper))
	var cum uint64
	for i, le := range h.upper {
		cum += h.counts[i]
		buckets[le] = cum
	}
	count, sum := h.count, h.sum
	h.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(h.desc, count, sum, buckets)
}

// histogramBatch is one writer's observations since its last flush.
type histogramBatch struct {
	counts []uint64
	count  uint64
	sum    float64
}

// observe counts v into b, in the first bucket whose upper bound is at
// least v, as a prometheus.Histogram does.
func (h *batchHistogram) observe(b *histogramBatch, v float64) {
	if b.counts == nil {
		b.counts = make([]uint64, len(h.upper)+1)
	}
	i := 0
	for i < len(h.upper) && v > h.upper[i] {
		i++
	}
	b.counts[i]++
	b.count++
	b.sum += v
}

// flush adds b to h and empties it.
func (h *batchHistogram) flush(b *histogramBatch) {
	if b.count == 0 {
		return
	}
	h.mu.Lock()
	for i, n := range b.counts {
		h.counts[i] += n
	}
	h.count += b.count
	h.sum += b.sum
	h.mu.Unlock()
	clear(b.counts)
	b.count, b.sum = 0, 0
}
