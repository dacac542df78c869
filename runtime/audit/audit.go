// Package audit defines the audit records of data retention: one JSON
// record, keyed by its request ID, on a Pipeline's audit topic for every
// retention request a runtime partition applies and every target an
// `ecap retention` run enforces. The RetentionPolicy controller writes the
// same shape into Kubernetes Events for the topic configs it sets.
//
// Audit records never carry a customer ID: they say that a request was
// applied and how much it removed, so the audit topic itself never needs
// erasing.
package audit

import (
	"encoding/json"
	"time"
)

// Sources of audit records.
const (
	// SourceRuntime: a runtime partition applied a control request.
	SourceRuntime = "runtime"
	// SourceJob: an `ecap retention` run enforced a target.
	SourceJob = "job"
)

// Actions.
const (
	// ActionEraseCustomer removes one customer from state and compacted
	// topics.
	ActionEraseCustomer = "EraseCustomer"
	// ActionForgetInactive removes every customer inactive since a cutoff.
	ActionForgetInactive = "ForgetInactive"
	// ActionTombstoneTopic writes tombstones for erased customers to a
	// compacted topic keyed by customer ID.
	ActionTombstoneTopic = "TombstoneTopic"
)

// Policy names the RetentionPolicy a record belongs to.
type Policy struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String returns namespace/name.
func (p Policy) String() string { return p.Namespace + "/" + p.Name }

// Target names a retention target: a kind (v1alpha1.TargetKind values) and
// a name (topic, dataset, pipeline).
type Target struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Record is one audit record.
type Record struct {
	// Time is when the request was made (the control record's timestamp,
	// so a replayed request audits identically) or the target enforced.
	Time   time.Time `json:"time"`
	Policy Policy    `json:"policy"`
	Target Target    `json:"target"`
	Action string    `json:"action"`
	DryRun bool      `json:"dryRun"`
	// Source is SourceRuntime or SourceJob.
	Source string `json:"source"`
	// RequestID ties the runtime's records to the run that sent the
	// requests; Seq is the request's index within the run.
	RequestID string `json:"requestID,omitempty"`
	Seq       int    `json:"seq"`
	// Partition is the runtime partition that applied the request.
	Partition *int32 `json:"partition,omitempty"`
	// Customers counts the customers erased or forgotten (with DryRun: that
	// would be).
	Customers int64 `json:"customers"`
	// Entries counts the state entries removed: customer records, fraud
	// state entries, segmentation results, tombstones written.
	Entries int64 `json:"entries"`
	// Partitions counts the lake partitions deleted or archived, Bytes the
	// bytes freed in the lake.
	Partitions int64 `json:"partitions,omitempty"`
	Bytes      int64 `json:"bytes,omitempty"`
	// What says in words what was done.
	What string `json:"what,omitempty"`
}

// Marshal encodes r as JSON.
func (r *Record) Marshal() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Plain fields only: cannot fail.
		panic(err)
	}
	return b
}
