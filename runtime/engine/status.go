package engine

import (
	"log/slog"
	"sort"
	"time"

	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/state"
)

// Status is the JSON document served at /v1/status.
type Status struct {
	Pipeline           string          `json:"pipeline"`
	PipelineGeneration int64           `json:"pipelineGeneration"`
	RuleSets           []RuleSetStatus `json:"ruleSets"`
	Ready              bool            `json:"ready"`
	EventsPerSecond    float64         `json:"eventsPerSecond"`
	EventsTotal        int64           `json:"eventsTotal"`
	DeadLettered       int64           `json:"deadLettered"`
	CatalogProducts    int             `json:"catalogProducts"`
	// CatalogLoaded is true once the product-updates topic has been read
	// up to where it ended when the runtime started; no transaction is
	// processed before. CatalogError says what keeps it from loading, or
	// why it is empty.
	CatalogLoaded bool              `json:"catalogLoaded"`
	CatalogError  string            `json:"catalogError,omitempty"`
	Partitions    []PartitionStatus `json:"partitions"`
	// Segmentations are the Segmentations this runtime runs and their last
	// runs (runtime/engine/segmentation*.go).
	Segmentations []SegmentationStatus `json:"segmentations,omitempty"`
	// Lake is the lake sink's state; absent without spec.sinks.lake.
	Lake *LakeStatus `json:"lake,omitempty"`
}

// RuleSetStatus is the generation of one fraud rule set scoring now.
type RuleSetStatus struct {
	Name string `json:"name"`
	// AppliedGeneration is the generation scoring; 0 if none compiled.
	AppliedGeneration int64 `json:"appliedGeneration"`
	CompiledRules     int   `json:"compiledRules"`
	// LastError is the last reload failure, cleared by a successful one.
	LastError string `json:"lastError,omitempty"`
	// Rules are the counters of every rule that counted something, over
	// all generations: hits, shadow hits, last hit and labels from the
	// checkpointed state of the partitions this replica owns (so they
	// survive restarts and sum exactly over replicas), evaluation errors
	// since this process started.
	Rules []fraud.RuleStats `json:"rules,omitempty"`
}

// PartitionStatus describes one owned partition number.
type PartitionStatus struct {
	Partition int32 `json:"partition"`
	// Offset is the next transactions offset the state includes.
	Offset int64 `json:"offset"`
	// Lag is the transactions high-water mark of the last fetch minus Offset.
	Lag              int64 `json:"lag"`
	UserEventsOffset int64 `json:"userEventsOffset,omitempty"`
	UserEventsLag    int64 `json:"userEventsLag,omitempty"`
	FeedbackOffset   int64 `json:"feedbackOffset,omitempty"`
	FeedbackLag      int64 `json:"feedbackLag,omitempty"`
	// ControlOffset is the next control-topic offset (retention requests)
	// the state includes.
	ControlOffset     int64      `json:"controlOffset,omitempty"`
	Watermark         *time.Time `json:"watermark,omitempty"`
	Customers         int        `json:"customers"`
	CheckpointedUpTo  int64      `json:"checkpointedOffset"`
	LastCheckpointAgo string     `json:"lastCheckpointAgo"`
}

// Status returns a snapshot of the engine's state.
func (e *Engine) Status() Status {
	st := Status{Pipeline: e.s.Pipeline, PipelineGeneration: e.s.Generation, Ready: e.Ready(),
		EventsTotal: e.eventsTotal.Load(), DeadLettered: e.dlqTotal.Load(), CatalogProducts: e.catalog.Stats().Products}
	if e.s.Catalog {
		st.CatalogLoaded, st.CatalogError = e.catalogLoad.status()
	}
	e.rateMu.Lock()
	st.EventsPerSecond = e.rate
	e.rateMu.Unlock()
	tallies := e.ruleTallies()
	e.rulesMu.Lock()
	for name, h := range e.holders {
		rs := RuleSetStatus{Name: name, LastError: e.ruleErrors[name]}
		if cur := h.Current(); cur != nil {
			rs.AppliedGeneration, rs.CompiledRules = cur.Generation(), cur.CompiledRules()
		}
		rs.Rules = withErrors(tallies[name], h.Stats().Snapshot())
		st.RuleSets = append(st.RuleSets, rs)
	}
	for name, msg := range e.ruleErrors {
		if e.holders[name] == nil {
			st.RuleSets = append(st.RuleSets, RuleSetStatus{Name: name, LastError: msg})
		}
	}
	e.rulesMu.Unlock()
	sort.Slice(st.RuleSets, func(i, j int) bool { return st.RuleSets[i].Name < st.RuleSets[j].Name })

	for _, o := range e.owned() {
		o.mu.Lock()
		p := o.p
		ps := PartitionStatus{Partition: p.id, Offset: p.store.Meta().NextOffset, Customers: p.store.Len(),
			CheckpointedUpTo: p.ckptTxn, LastCheckpointAgo: time.Since(p.lastCkpt).Round(time.Millisecond).String()}
		ps.Lag = max(0, p.hwmTxn-ps.Offset)
		if e.s.UserEvents != "" {
			ps.UserEventsOffset, ps.UserEventsLag = p.nextUE, max(0, p.hwmUE-p.nextUE)
		}
		if e.s.Feedback != "" {
			ps.FeedbackOffset, ps.FeedbackLag = p.nextFB, max(0, p.hwmFB-p.nextFB)
		}
		ps.ControlOffset = p.nextCtl
		if p.agg != nil {
			if wm, ok := p.agg.Watermark(); ok {
				ps.Watermark = &wm
			}
		}
		o.mu.Unlock()
		st.Partitions = append(st.Partitions, ps)
	}
	sort.Slice(st.Partitions, func(i, j int) bool { return st.Partitions[i].Partition < st.Partitions[j].Partition })
	st.Segmentations = e.seg.status()
	st.Lake = e.lakeStatus()
	return st
}

// ruleTallies sums the per-rule tallies of every owned partition's fraud
// states, by rule set.
func (e *Engine) ruleTallies() map[string][]fraud.RuleStats {
	by := map[string][][]fraud.RuleStats{}
	for _, o := range e.owned() {
		o.mu.Lock()
		for name, st := range o.p.fraud {
			by[name] = append(by[name], st.RuleTallies())
		}
		o.mu.Unlock()
	}
	out := make(map[string][]fraud.RuleStats, len(by))
	for name, parts := range by {
		out[name] = fraud.MergeRuleStats(parts...)
	}
	return out
}

// withErrors adds the process-local error counters of stats to tallies.
func withErrors(tallies, stats []fraud.RuleStats) []fraud.RuleStats {
	errs := make([]fraud.RuleStats, 0, len(stats))
	for _, r := range stats {
		if r.Errors > 0 || r.CostExceeded > 0 {
			errs = append(errs, fraud.RuleStats{Rule: r.Rule, Errors: r.Errors, CostExceeded: r.CostExceeded})
		}
	}
	return fraud.MergeRuleStats(tallies, errs)
}

// updateRuleGauges sets the precision gauges from the owned partitions'
// tallies.
func (e *Engine) updateRuleGauges() {
	for name, rules := range e.ruleTallies() {
		for _, r := range rules {
			if p, ok := r.Precision(); ok {
				e.metrics.precision.WithLabelValues(name, r.Rule).Set(p)
			}
		}
	}
}

func (e *Engine) owned() []*owned {
	e.partsMu.RLock()
	defer e.partsMu.RUnlock()
	out := make([]*owned, 0, len(e.parts))
	for _, o := range e.parts {
		out = append(out, o)
	}
	return out
}

// CustomerView is the JSON document served at /v1/customers/{id}.
type CustomerView struct {
	CustomerID    string    `json:"customerID"`
	Partition     int32     `json:"partition"`
	Transactions  int       `json:"transactions"`
	MonetaryTotal float64   `json:"monetaryTotal"`
	FirstPurchase time.Time `json:"firstPurchase"`
	LastPurchase  time.Time `json:"lastPurchase"`
	PurchaseDays  int       `json:"purchaseDays"`
	RepeatDays    int       `json:"repeatDays"`
	RepeatValue   float64   `json:"repeatValue"`
	FirstDayValue float64   `json:"firstDayValue"`
	Devices       int       `json:"devices"`
	Countries     int       `json:"countries"`
	LastOffset    int64     `json:"lastOffset"`
}

// NewCustomerView describes a customer's state.
func NewCustomerView(id string, partition int32, c *state.Customer) CustomerView {
	return CustomerView{CustomerID: id, Partition: partition, Transactions: c.Transactions(), MonetaryTotal: c.MonetaryTotal(),
		FirstPurchase: c.FirstPurchase(), LastPurchase: c.LastPurchase(), PurchaseDays: c.PurchaseDays(),
		RepeatDays: c.RepeatDays(), RepeatValue: c.RepeatValue(), FirstDayValue: c.FirstDayValue(),
		Devices: c.Devices(), Countries: c.Countries(), LastOffset: c.LastOffset()}
}

// Customer returns a customer's state if a partition this replica owns holds it.
func (e *Engine) Customer(id string) (CustomerView, bool) {
	for _, o := range e.owned() {
		o.mu.Lock()
		c, ok := o.p.store.Get(id)
		var v CustomerView
		if ok {
			v = NewCustomerView(id, o.p.id, c)
		}
		o.mu.Unlock()
		if ok {
			return v, true
		}
	}
	return CustomerView{}, false
}

// CustomersFromChangelog restores changelog partition n from its records, in
// offset order, exactly as an owner taking the partition over would, and
// returns its customers. Tests and tools use it to read the durable state.
func CustomersFromChangelog(s *Settings, n int32, records [][2][]byte) (map[string]CustomerView, error) {
	rc := newRestoreCollector(s.Transactions, n)
	for _, r := range records {
		if err := rc.add(r[0], r[1]); err != nil {
			return nil, err
		}
	}
	p, err := newPartition(s, n)
	if err != nil {
		return nil, err
	}
	if p, err = finishRestore(s, p, rc, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	out := make(map[string]CustomerView, p.store.Len())
	p.store.Range(func(id string, c *state.Customer) bool {
		out[id] = NewCustomerView(id, n, c)
		return true
	})
	return out, nil
}
