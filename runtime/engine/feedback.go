package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
)

// Feedback records are analysts' labels on published alerts:
//
//	{"alert_id": "...", "label": "fraud" | "legit", "customer_id": "..."}
//
// The feedback topic is co-partitioned with transactions: a label must land
// on the partition number of the transaction its alert scored, which is
// what producing it keyed by the alert's customer_id with Kafka's default
// partitioner (murmur2, as every Java client and the runtime's own writer
// use) does. The owner of that partition holds the alert in its fraud state
// and applies the label there: the merchant's confirmed counts and the
// rule's precision change, and the record's offset is checkpointed with the
// state, so a replay after a crash applies each label exactly once.
//
// A record that is not valid JSON, lacks a field, carries another label, or
// names an alert the partition does not remember (misrouted, expired or
// made up) is dead-lettered with the reason, like any bad event.

// FeedbackRecord is one label as it appears on the feedback topic.
type FeedbackRecord struct {
	AlertID    string      `json:"alert_id"`
	Label      fraud.Label `json:"label"`
	CustomerID string      `json:"customer_id,omitempty"`
	// RuleSet optionally names the rule set that raised the alert; without
	// it every rule set of the partition is asked.
	RuleSet string `json:"rule_set,omitempty"`
}

// ReasonUnknownAlert is the dead-letter reason of feedback on an alert the
// owning partition does not remember.
const ReasonUnknownAlert = "unknown_alert"

type feedbackMetrics struct {
	feedback     *prometheus.CounterVec // label
	precision    *prometheus.GaugeVec   // rule_set, rule
	fraudExpired prometheus.Counter     // fraud state entries expired
}

func (m *feedbackMetrics) register(f func(prometheus.Collector)) {
	m.feedback = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_fraud_feedback_total",
		Help: "Analyst labels applied to alerts, by label (fraud, legit)."}, []string{"label"})
	m.precision = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ecap_fraud_rule_precision",
		Help: "Confirmed fraud over labelled alerts per rule, over the partitions this replica owns; absent before the first label."}, []string{"rule_set", "rule"})
	m.fraudExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "ecap_fraud_state_expired_total",
		Help: "Fraud state entries (velocity windows, alerts, idle customers and merchants) dropped as expired."})
	f(m.feedback)
	f(m.precision)
	f(m.fraudExpired)
}

// decodeFeedback parses one feedback record strictly; errors are
// events.Rejections naming the field.
func decodeFeedback(value []byte) (FeedbackRecord, error) {
	var fb FeedbackRecord
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fb); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fb, &events.Rejection{Reason: events.ReasonWrongType, Field: te.Field, Detail: err.Error()}
		}
		return fb, &events.Rejection{Reason: events.ReasonMalformedJSON, Detail: err.Error()}
	}
	if dec.More() {
		return fb, &events.Rejection{Reason: events.ReasonMalformedJSON, Detail: "trailing data after the JSON object"}
	}
	switch {
	case fb.AlertID == "":
		return fb, &events.Rejection{Reason: events.ReasonMissingField, Field: "alert_id", Detail: "alert_id is required"}
	case fb.Label == "":
		return fb, &events.Rejection{Reason: events.ReasonMissingField, Field: "label", Detail: "label is required"}
	case fb.Label != fraud.LabelFraud && fb.Label != fraud.LabelLegit:
		return fb, &events.Rejection{Reason: events.ReasonInvalidEnum, Field: "label",
			Detail: "label " + strconv.Quote(string(fb.Label)) + " is not fraud or legit"}
	}
	return fb, nil
}

// processFeedback applies analyst labels to the alerts of p's fraud states.
func (pr *processor) processFeedback(p *partition, topic string, msgs []kafka.Message, out *output) {
	for i := range msgs {
		m := &msgs[i]
		if m.Offset < p.nextFB {
			pr.metrics.replaySkipped.Inc()
			continue
		}
		pr.metrics.eventsIn.WithLabelValues(topic, "feedback").Inc()
		fb, err := decodeFeedback(m.Value)
		if err == nil {
			err = pr.applyFeedback(p, fb)
		}
		if err != nil {
			pr.reject(topic, p.id, m, err, out)
		}
		p.nextFB = m.Offset + 1
	}
}

func (pr *processor) applyFeedback(p *partition, fb FeedbackRecord) error {
	names := make([]string, 0, len(p.fraud))
	if fb.RuleSet != "" {
		names = append(names, fb.RuleSet)
	} else {
		for n := range p.fraud {
			names = append(names, n)
		}
	}
	for _, name := range names {
		st := p.fraud[name]
		if st == nil {
			continue
		}
		var h *fraud.Holder
		if pr.holder != nil {
			h = pr.holder(name)
		}
		var stats *fraud.Stats
		if h != nil {
			stats = h.Stats()
		}
		err := st.ApplyFeedback(fraud.Feedback{AlertID: fb.AlertID, Label: fb.Label}, stats)
		if errors.Is(err, fraud.ErrUnknownAlert) {
			continue
		}
		if err != nil {
			return &events.Rejection{Reason: events.ReasonInvalidEnum, Field: "label", Detail: err.Error()}
		}
		pr.metrics.feedback.WithLabelValues(string(fb.Label)).Inc()
		return nil
	}
	return &events.Rejection{Reason: ReasonUnknownAlert, Field: "alert_id",
		Detail: "alert " + strconv.Quote(fb.AlertID) + " is unknown to partition " + strconv.Itoa(int(p.id)) +
			" (feedback must be keyed by the alert's customer_id, or the alert has expired)"}
}

// ruleHolder returns the holder of a rule set, nil if none.
func (e *Engine) ruleHolder(name string) *fraud.Holder {
	e.rulesMu.Lock()
	defer e.rulesMu.Unlock()
	return e.holders[name]
}
