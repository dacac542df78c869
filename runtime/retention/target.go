package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/audit"
)

// Run is one enforcement run of a RetentionPolicy.
type Run struct {
	Policy audit.Policy
	// RequestID identifies the run's requests and audit records.
	RequestID string
	DryRun    bool
	// Now is the run's clock reading (cutoffs are computed from it).
	Now time.Time
	Log *slog.Logger
}

// Outcome is what enforcing one target did (or, in a dry run, would do).
type Outcome struct {
	CustomersForgotten int64
	RowsErased         int64
	PartitionsDeleted  int64
	PartitionsArchived int64
	BytesFreed         int64
	// Message says it in words, for the status.
	Message string
}

// Target is one retention target of a run.
type Target interface {
	// Kind and Name identify the target in the status and audit records.
	Kind() v1alpha1.TargetKind
	Name() string
	// Enforce does the target's work, or with run.DryRun counts it without
	// changing anything. On error the Outcome holds what was done.
	Enforce(ctx context.Context, run *Run) (Outcome, error)
}

// Erasure erases customers through the runtime and tombstones them in the
// profile topics.
type Erasure struct {
	Channel     *Channel
	Pipeline    string
	CustomerIDs []string
}

var _ Target = (*Erasure)(nil)

// Kind implements Target.
func (e *Erasure) Kind() v1alpha1.TargetKind { return v1alpha1.TargetErasure }

// Name implements Target: erasure applies to the whole Pipeline.
func (e *Erasure) Name() string { return e.Pipeline }

// Enforce implements Target.
func (e *Erasure) Enforce(ctx context.Context, run *Run) (Outcome, error) {
	ids := e.CustomerIDs
	var out Outcome
	acks, err := e.Channel.Erase(ctx, run, ids)
	customers, entries := acks.Totals()
	out.CustomersForgotten, out.RowsErased = customers, entries
	verb := "erased"
	if run.DryRun {
		verb = "would erase"
	}
	out.Message = fmt.Sprintf("%s %d of %d requested customers held by the runtime (%d state entries)", verb, customers, len(ids), entries)
	if err != nil {
		out.Message += "; " + err.Error()
		if errors.Is(err, ErrNotAcknowledged) {
			out.Message += "; the runtime applies the rest from the control topic when it runs"
		}
	}
	// Tombstones go out even without every acknowledgement: a compacted
	// topic keyed by customer ID needs no runtime to forget a key. They
	// are written after the acknowledged requests, so a profile published
	// before the erasure does not outlive it.
	if !run.DryRun && !errors.Is(err, ErrKafkaUnreachable) {
		var done []string
		for _, t := range e.Channel.topics.Profiles {
			if _, terr := e.Channel.client.PartitionCounts(ctx, t); errors.Is(terr, kafka.UnknownTopicOrPartition) {
				continue // never published to
			}
			if terr := e.Channel.Tombstone(ctx, t, ids); terr != nil {
				err = errors.Join(err, terr)
				continue
			}
			out.RowsErased += int64(len(ids))
			done = append(done, t)
		}
		if len(done) > 0 {
			out.Message += "; tombstoned in " + strings.Join(done, ", ")
		}
	}
	return out, err
}

// CustomerState forgets customers inactive for longer than InactiveAfter.
type CustomerState struct {
	Channel       *Channel
	Pipeline      string
	InactiveAfter time.Duration
}

var _ Target = (*CustomerState)(nil)

// Kind implements Target.
func (c *CustomerState) Kind() v1alpha1.TargetKind { return v1alpha1.TargetCustomerState }

// Name implements Target: the Pipeline whose customer state it is.
func (c *CustomerState) Name() string { return c.Pipeline }

// Cutoff is the last-activity time before which customers are forgotten.
func (c *CustomerState) Cutoff(now time.Time) time.Time {
	return now.Add(-c.InactiveAfter).UTC().Truncate(time.Second)
}

// Enforce implements Target.
func (c *CustomerState) Enforce(ctx context.Context, run *Run) (Outcome, error) {
	cutoff := c.Cutoff(run.Now)
	acks, err := c.Channel.ForgetInactive(ctx, run, cutoff)
	customers, entries := acks.Totals()
	verb := "forgot"
	if run.DryRun {
		verb = "would forget"
	}
	out := Outcome{CustomersForgotten: customers, RowsErased: entries,
		Message: fmt.Sprintf("%s %d customers inactive since %s (%d of %d partitions acknowledged)",
			verb, customers, cutoff.Format(time.RFC3339), len(acks), c.Channel.Partitions())}
	if err != nil {
		out.Message += "; " + err.Error()
	}
	return out, err
}

// Result is the outcome of one target in a run.
type Result struct {
	Kind    v1alpha1.TargetKind
	Name    string
	Outcome Outcome
	Err     error
}

// Enforce runs every target in order and writes one audit record per
// target to the audit topic (when the channel is up) and the log. It stops
// at the first target whose error wraps ErrKafkaUnreachable: the others
// would fail the same way.
func Enforce(ctx context.Context, run *Run, ch *Channel, targets []Target) []Result {
	log := run.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var out []Result
	for _, t := range targets {
		o, err := t.Enforce(ctx, run)
		out = append(out, Result{Kind: t.Kind(), Name: t.Name(), Outcome: o, Err: err})
		rec := audit.Record{Time: run.Now.UTC(), Policy: run.Policy, Target: audit.Target{Kind: string(t.Kind()), Name: t.Name()},
			Action: "Enforce" + string(t.Kind()), DryRun: run.DryRun, Source: audit.SourceJob, RequestID: run.RequestID,
			Customers: o.CustomersForgotten, Entries: o.RowsErased, Partitions: o.PartitionsDeleted + o.PartitionsArchived,
			Bytes: o.BytesFreed, What: o.Message}
		b := rec.Marshal()
		if err != nil {
			log.Error("retention target failed", "audit", string(b), "err", err)
		} else {
			log.Info("retention audit", "audit", string(b))
		}
		if ch != nil && !errors.Is(err, ErrKafkaUnreachable) {
			if aerr := ch.Audit(ctx, rec); aerr != nil {
				log.Error("failed to write the audit record; the log line above carries it", "err", aerr)
			}
		}
		if errors.Is(err, ErrKafkaUnreachable) {
			break
		}
	}
	return out
}
