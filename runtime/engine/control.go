package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/audit"
	"github.com/ecap-dev/ecap/runtime/events"
)

// Control records are retention requests to the runtime, written by
// `ecap retention` to the Pipeline's control topic (Settings.Control):
//
//	{"request_id": "...", "seq": 3, "action": "EraseCustomer", "customer_id": "...",
//	 "policy": {"namespace": "...", "name": "..."}, "dry_run": false}
//	{"request_id": "...", "seq": 7, "action": "ForgetInactive", "inactive_before": "2026-01-01T00:00:00Z", ...}
//
// The control topic is co-partitioned with transactions, like feedback: an
// EraseCustomer record is keyed by the customer ID (murmur2), so it lands on
// the partition number that owns the customer; a ForgetInactive record is
// written to every partition explicitly. The owner applies a record in its
// partition goroutine, between batches of transactions, and the record's
// offset is checkpointed with the state (the snapshot's last field), so a
// replay after a crash applies each request exactly once to the state it
// checkpoints.
//
// Applying a request removes the customer (or every customer whose last
// purchase is before the cutoff) from the customer Store (tombstoned in
// the changelog by the next checkpoint), from every fraud State (history
// and customer-keyed velocity windows), from the last results of every
// Segmentation held in memory, and writes a tombstone keyed by the customer
// ID to every customer-profile topic; an erasure fence (control_fence.go)
// keeps a replay after a crash mid-checkpoint from re-creating the
// customer. The two checkpoints that follow are
// forced, so both snapshot slots are rewritten without the customer. Each
// applied request writes one audit record (runtime/audit) to the audit
// topic, keyed by the request ID: that is also the acknowledgement the job
// waits for. A dry-run request only counts.
//
// A record that is not valid JSON, lacks a field or names another action is
// dead-lettered with the reason, like any bad event.

// ControlAction is what a control record asks for.
type ControlAction string

// Control actions.
const (
	ControlEraseCustomer  ControlAction = audit.ActionEraseCustomer
	ControlForgetInactive ControlAction = audit.ActionForgetInactive
)

// ControlRecord is one retention request on the control topic.
type ControlRecord struct {
	RequestID string        `json:"request_id"`
	Seq       int           `json:"seq"`
	Action    ControlAction `json:"action"`
	// CustomerID is the customer to erase (EraseCustomer).
	CustomerID string `json:"customer_id,omitempty"`
	// InactiveBefore is the cutoff of ForgetInactive: customers whose last
	// purchase (event time) is before it are forgotten.
	InactiveBefore *time.Time    `json:"inactive_before,omitempty"`
	Policy         *audit.Policy `json:"policy,omitempty"`
	DryRun         bool          `json:"dry_run,omitempty"`
}

// decodeControl parses one control record strictly; errors are
// events.Rejections naming the field.
func decodeControl(value []byte) (ControlRecord, error) {
	var cr ControlRecord
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cr); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return cr, &events.Rejection{Reason: events.ReasonWrongType, Field: te.Field, Detail: err.Error()}
		}
		return cr, &events.Rejection{Reason: events.ReasonMalformedJSON, Detail: err.Error()}
	}
	if dec.More() {
		return cr, &events.Rejection{Reason: events.ReasonMalformedJSON, Detail: "trailing data after the JSON object"}
	}
	switch {
	case cr.RequestID == "":
		return cr, &events.Rejection{Reason: events.ReasonMissingField, Field: "request_id", Detail: "request_id is required"}
	case cr.Action == ControlEraseCustomer && cr.CustomerID == "":
		return cr, &events.Rejection{Reason: events.ReasonMissingField, Field: "customer_id", Detail: "customer_id is required for EraseCustomer"}
	case cr.Action == ControlForgetInactive && cr.InactiveBefore == nil:
		return cr, &events.Rejection{Reason: events.ReasonMissingField, Field: "inactive_before", Detail: "inactive_before is required for ForgetInactive"}
	case cr.Action != ControlEraseCustomer && cr.Action != ControlForgetInactive:
		return cr, &events.Rejection{Reason: events.ReasonInvalidEnum, Field: "action",
			Detail: "action " + strconv.Quote(string(cr.Action)) + " is not EraseCustomer or ForgetInactive"}
	}
	return cr, nil
}

type controlMetrics struct {
	removed *prometheus.CounterVec // action
}

func (m *controlMetrics) register(f func(prometheus.Collector)) {
	m.removed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_retention_customers_removed_total",
		Help: "Customers removed from the runtime's state by retention requests, by action (EraseCustomer, ForgetInactive)."}, []string{"action"})
	f(m.removed)
}

// eraseCheckpoints is how many checkpoints are forced after a request
// removed something: the two snapshot slots alternate, so the second one
// overwrites the last snapshot that still held the customer.
const eraseCheckpoints = 2

// processControl applies the retention requests of a control-topic batch to
// p and writes their tombstones and audit records to out.
func (e *Engine) processControl(p *partition, pr *processor, topic string, msgs []kafka.Message, out *output) {
	for i := range msgs {
		m := &msgs[i]
		if m.Offset < p.nextCtl {
			pr.metrics.replaySkipped.Inc()
			continue
		}
		pr.metrics.eventsIn.WithLabelValues(topic, "control").Inc()
		cr, err := decodeControl(m.Value)
		if err != nil {
			pr.reject(topic, p.id, m, err, out)
			p.nextCtl = m.Offset + 1
			continue
		}
		var ids []string
		kind := v1alpha1.TargetErasure
		what := ""
		switch cr.Action {
		case ControlEraseCustomer:
			ids = []string{cr.CustomerID}
			what = "erase one customer"
		case ControlForgetInactive:
			ids = p.inactiveCustomers(*cr.InactiveBefore)
			kind = v1alpha1.TargetCustomerState
			what = "forget customers whose last purchase is before " + cr.InactiveBefore.UTC().Format(time.RFC3339)
		}
		customers, entries := e.removeCustomers(p, ids, cr.DryRun, out)
		if !cr.DryRun && entries > 0 {
			e.metrics.control.removed.WithLabelValues(string(cr.Action)).Add(float64(customers))
			p.eraseCkpts = eraseCheckpoints
			p.eraseSeq++
		}
		rec := audit.Record{Time: m.Time.UTC(), Target: audit.Target{Kind: string(kind), Name: e.s.Pipeline},
			Action: string(cr.Action), DryRun: cr.DryRun, Source: audit.SourceRuntime, RequestID: cr.RequestID, Seq: cr.Seq,
			Customers: customers, Entries: entries, What: what}
		if cr.Policy != nil {
			rec.Policy = *cr.Policy
		}
		part := p.id
		rec.Partition = &part
		b := rec.Marshal()
		out.add(e.s.Audit, []byte(cr.RequestID), b, nil)
		e.log.Info("retention request applied", "audit", string(b))
		p.nextCtl = m.Offset + 1
	}
}

// inactiveCustomers returns the customers of p whose last purchase is before
// cutoff: in the Store, or, for customers the Store does not hold, in a
// fraud State.
func (p *partition) inactiveCustomers(cutoff time.Time) []string {
	ids := p.store.Inactive(cutoff)
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, st := range p.fraud {
		for _, id := range st.InactiveCustomers(cutoff) {
			if _, held := p.store.Get(id); !held && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// removeCustomers removes ids from p's Store and fraud States and from the
// Segmentation results held in memory, and adds a tombstone per customer
// and profile topic to out. It returns the customers that were held
// anywhere and the entries removed (tombstones included). With dryRun it
// changes nothing and counts what it would remove.
func (e *Engine) removeCustomers(p *partition, ids []string, dryRun bool, out *output) (customers, entries int64) {
	if len(ids) == 0 {
		return 0, 0
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		n := int64(0)
		if _, held := p.store.Get(id); held {
			n++
			if !dryRun {
				p.store.Forget(id)
			}
		}
		if !dryRun {
			p.addFence(e.s.Transactions, id)
		}
		for _, st := range p.fraud {
			if dryRun {
				if st.Customer(id) != nil {
					n++
				}
			} else if st.ForgetCustomer(id) {
				n++
			}
		}
		if n > 0 {
			customers++
		}
		entries += n
		set[id] = true
	}
	rows, topics := e.seg.forgetCustomers(set, dryRun)
	entries += int64(rows)
	if dryRun {
		return customers, entries
	}
	for _, t := range topics {
		for _, id := range ids {
			// A nil value is a tombstone: compaction drops the customer's
			// profile. Written even when nothing was held here, as an
			// earlier run may have published the profile.
			out.add(t, []byte(id), nil, nil)
			entries++
		}
	}
	return customers, entries
}
