package engine

import (
	"fmt"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/dedup"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/kpi"
)

// Defaults applied by Resolve where a RuntimeConfig read from a file leaves a
// field empty. They are the CRD schema's +kubebuilder:default values, which
// the API server applies to objects but nobody applies to a hand-written file.
const (
	DefaultCheckpointInterval = 5 * time.Second
	DefaultMaxFutureSkew      = 5 * time.Minute
	DefaultMaxEventAge        = 30 * 24 * time.Hour
	DefaultDedupWindow        = time.Hour
	DefaultDedupMaxEntries    = 1_000_000
)

// Settings is a Pipeline's data-plane configuration with every default
// applied and every duration parsed.
type Settings struct {
	Pipeline   string
	Namespace  string
	Generation int64

	Transactions   string
	UserEvents     string // empty: not consumed
	Feedback       string // analyst labels on alerts; empty: not consumed
	ProductUpdates string // empty: no catalog reader
	DeadLetter     string
	Changelog      string
	// Control carries retention requests (erasure, customer-state TTL),
	// co-partitioned with Transactions; always consumed (control.go).
	Control string
	// Audit receives an audit record per applied retention request.
	Audit string

	AlertsTopic   string
	EnrichedTopic string
	// ProfilesTopic is sinks.customerProfilesTopic, the default output of
	// Segmentations.
	ProfilesTopic string
	KPITopic      string // empty: no KPIs

	Validator         events.ValidatorConfig
	AllowedCurrencies map[string]bool // nil allows every active code

	DedupDisabled bool
	Dedup         dedup.Config

	// Catalog enables enrichment from ProductUpdates.
	Catalog bool

	// KPI is the aggregator configuration for partition 0; the engine sets
	// Partition per worker. Nil without KPIs.
	KPI *kpi.Config

	CheckpointInterval time.Duration

	// Lake is spec.sinks.lake; nil without a lake sink (lake.go).
	Lake *LakeSettings
}

// Resolve validates a RuntimeConfig's pipeline and applies the schema
// defaults. Errors name the offending field by its JSON path.
func Resolve(rc *v1alpha1.RuntimeConfig) (Settings, error) {
	p := rc.Pipeline
	spec := p.Spec
	s := Settings{Pipeline: p.Name, Namespace: p.Namespace, Generation: p.Generation}
	if p.Name == "" {
		return s, fmt.Errorf("pipeline.name: required")
	}
	if len(spec.Kafka.Brokers) == 0 {
		return s, fmt.Errorf("pipeline.spec.kafka.brokers: at least one broker is required")
	}
	s.Transactions = string(spec.Topics.Transactions)
	s.UserEvents = string(spec.Topics.UserEvents)
	s.ProductUpdates = string(spec.Topics.ProductUpdates)
	s.DeadLetter = string(spec.Topics.DeadLetter)
	s.Feedback = string(spec.Topics.Feedback)
	if s.Transactions == "" {
		return s, fmt.Errorf("pipeline.spec.topics.transactions: required")
	}
	if s.DeadLetter == "" {
		return s, fmt.Errorf("pipeline.spec.topics.deadLetter: required")
	}
	if s.DeadLetter == s.Transactions || s.DeadLetter == s.UserEvents {
		return s, fmt.Errorf("pipeline.spec.topics.deadLetter: must differ from the input topics")
	}
	if s.UserEvents == s.Transactions {
		return s, fmt.Errorf("pipeline.spec.topics.userEvents: must differ from topics.transactions")
	}
	if s.Feedback != "" && (s.Feedback == s.Transactions || s.Feedback == s.UserEvents || s.Feedback == s.DeadLetter) {
		return s, fmt.Errorf("pipeline.spec.topics.feedback: must differ from topics.transactions, userEvents and deadLetter")
	}

	s.Control = string(spec.Topics.Control)
	if s.Control == "" {
		s.Control = p.Name + "-control"
	}
	s.Audit = string(spec.Topics.Audit)
	if s.Audit == "" {
		s.Audit = p.Name + "-audit"
	}
	for _, t := range []string{s.Transactions, s.UserEvents, s.Feedback, s.DeadLetter} {
		if t == s.Control {
			return s, fmt.Errorf("pipeline.spec.topics.control: %s must differ from the other topics", s.Control)
		}
		if t == s.Audit {
			return s, fmt.Errorf("pipeline.spec.topics.audit: %s must differ from the input and dead-letter topics", s.Audit)
		}
	}
	if s.Audit == s.Control {
		return s, fmt.Errorf("pipeline.spec.topics.audit: must differ from topics.control")
	}

	var err error
	if s.Validator.MaxFutureSkew, err = durationOr(spec.Validation.MaxFutureSkew, DefaultMaxFutureSkew, "pipeline.spec.validation.maxFutureSkew"); err != nil {
		return s, err
	}
	if s.Validator.MaxAge, err = durationOr(spec.Validation.MaxEventAge, DefaultMaxEventAge, "pipeline.spec.validation.maxEventAge"); err != nil {
		return s, err
	}
	if len(spec.Validation.AllowedCurrencies) > 0 {
		s.AllowedCurrencies = make(map[string]bool, len(spec.Validation.AllowedCurrencies))
		for _, c := range spec.Validation.AllowedCurrencies {
			s.AllowedCurrencies[c] = true
		}
	}

	s.DedupDisabled = spec.Dedup.Disabled
	if s.Dedup.Window, err = durationOr(spec.Dedup.Window, DefaultDedupWindow, "pipeline.spec.dedup.window"); err != nil {
		return s, err
	}
	s.Dedup.MaxEntries = DefaultDedupMaxEntries
	if spec.Dedup.MaxEntries != 0 {
		if spec.Dedup.MaxEntries < 1000 || spec.Dedup.MaxEntries > 100_000_000 {
			return s, fmt.Errorf("pipeline.spec.dedup.maxEntries: %d is outside 1000..100000000", spec.Dedup.MaxEntries)
		}
		s.Dedup.MaxEntries = int(spec.Dedup.MaxEntries)
	}
	if _, err := dedup.New(s.Dedup); err != nil {
		return s, fmt.Errorf("pipeline.spec.dedup: %w", err)
	}

	// Catalog enrichment defaults to on when a product-updates topic is set.
	s.Catalog = s.ProductUpdates != ""
	if spec.Enrichment.Catalog != nil {
		if *spec.Enrichment.Catalog && s.ProductUpdates == "" {
			return s, fmt.Errorf("pipeline.spec.enrichment.catalog: requires topics.productUpdates")
		}
		s.Catalog = *spec.Enrichment.Catalog
	}

	if spec.KPIs != nil {
		cfg, err := kpi.ConfigFromSpec(spec.KPIs, 0)
		if err != nil {
			return s, fmt.Errorf("pipeline.spec.kpis: %w", err)
		}
		s.KPI = &cfg
		s.KPITopic = string(spec.KPIs.Topic)
		if s.KPITopic == "" {
			return s, fmt.Errorf("pipeline.spec.kpis.topic: required")
		}
	}

	s.Changelog = string(spec.State.ChangelogTopic)
	if s.Changelog == "" {
		s.Changelog = p.Name + "-changelog"
	}
	if s.CheckpointInterval, err = durationOr(spec.State.CheckpointInterval, DefaultCheckpointInterval, "pipeline.spec.state.checkpointInterval"); err != nil {
		return s, err
	}
	s.AlertsTopic = string(spec.Sinks.AlertsTopic)
	s.EnrichedTopic = string(spec.Sinks.EnrichedTransactionsTopic)
	s.ProfilesTopic = string(spec.Sinks.CustomerProfilesTopic)
	if s.Lake, err = resolveLake(spec.Sinks.Lake); err != nil {
		return s, err
	}

	for i, rs := range rc.FraudRuleSets {
		if rs.Name == "" {
			return s, fmt.Errorf("fraudRuleSets[%d].name: required", i)
		}
	}
	return s, nil
}

// ConsumerGroup returns the group ID: spec.kafka.consumerGroup or the
// documented default "ecap-<namespace>-<pipeline>".
func ConsumerGroup(rc *v1alpha1.RuntimeConfig) string {
	if g := rc.Pipeline.Spec.Kafka.ConsumerGroup; g != "" {
		return g
	}
	return defaultClientName(rc)
}

// ClientID returns spec.kafka.clientID or its default "ecap-<namespace>-<pipeline>".
func ClientID(rc *v1alpha1.RuntimeConfig) string {
	if id := rc.Pipeline.Spec.Kafka.ClientID; id != "" {
		return id
	}
	return defaultClientName(rc)
}

func defaultClientName(rc *v1alpha1.RuntimeConfig) string {
	ns := rc.Pipeline.Namespace
	if ns == "" {
		ns = "default"
	}
	return "ecap-" + ns + "-" + rc.Pipeline.Name
}

// InputTopics are the topics the consumer group subscribes to.
// They are co-partitioned: partition n of each belongs to the owner of
// transactions partition n.
func (s *Settings) InputTopics() []string {
	out := []string{s.Transactions}
	for _, t := range []string{s.UserEvents, s.Feedback, s.Control} {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// OutputTopics are the plain (delete-policy) topics the engine writes.
func (s *Settings) OutputTopics() []string {
	out := []string{s.DeadLetter}
	for _, t := range []string{s.AlertsTopic, s.EnrichedTopic, s.KPITopic, s.Audit} {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

func durationOr(d v1alpha1.Duration, def time.Duration, field string) (time.Duration, error) {
	v, err := d.Parse()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	if v < 0 {
		return 0, fmt.Errorf("%s: must not be negative", field)
	}
	if v == 0 {
		return def, nil
	}
	return v, nil
}
