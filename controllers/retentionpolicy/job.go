package retentionpolicy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/schedule"
	"github.com/ecap-dev/ecap/controllers/status"
	"github.com/ecap-dev/ecap/runtime/audit"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/retention"
)

// Status ownership between the controller and the job. The job (RunJob)
// writes lastRunTime, nextRunTime, lastRunDryRun, the targets of every kind
// but Topic, and the LastRunSucceeded condition; on a failed run also
// Stalled=True and Ready=False, so the failure shows at once. The
// controller writes everything else, and folds a LastRunSucceeded=False of
// the current generation into Stalled whenever it reconciles; a change of
// lastRunTime or LastRunSucceeded triggers that reconcile, so a successful
// run clears an earlier Stalled. Both write with optimistic concurrency
// (resourceVersion), so neither overwrites fields the other changed since
// it read the object.

// JobOptions configure one run of `ecap retention`.
type JobOptions struct {
	Client    client.Client
	Namespace string
	Policy    string
	// DryRun forces a dry run; spec.dryRun does too.
	DryRun bool
	// Clock is the run's clock; nil is the real one.
	Clock clock.PassiveClock
	// KafkaTimeout bounds reaching the brokers; AckTimeout the wait for
	// the runtime's acknowledgements.
	KafkaTimeout time.Duration
	AckTimeout   time.Duration
	// KafkaConfig builds the client configuration of the Pipeline's brokers;
	// nil is pipeline.KafkaConfig with client ID "ecap-retention".
	KafkaConfig func(ctx context.Context, p *v1alpha1.Pipeline) (kafkaio.Config, error)
	// OpenLake opens the Pipeline's lake (spec.sinks.lake, resolved in ls)
	// with now as the lake's clock, which Expire and Vacuum read; nil
	// reports the spec.lake targets as not enforced by this build and
	// leaves the lake out of the erasure.
	OpenLake func(ctx context.Context, p *v1alpha1.Pipeline, ls *engine.LakeSettings, now func() time.Time) (*lake.Lake, error)
	Log      *slog.Logger
}

// RunJob runs one enforcement of a RetentionPolicy: erasure and
// customer-state TTL through the Pipeline's runtime (runtime/retention),
// erasure and expiry in the Pipeline's lake, then the status. It returns an error, after recording it in the status,
// when a target could not be enforced; the process exits non-zero once and
// the Job's backoffLimit decides about retries.
func RunJob(ctx context.Context, o JobOptions) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.KafkaTimeout <= 0 {
		o.KafkaTimeout = 30 * time.Second
	}
	c := o.Client
	key := types.NamespacedName{Namespace: o.Namespace, Name: o.Policy}
	rp := &v1alpha1.RetentionPolicy{}
	if err := c.Get(ctx, key, rp); err != nil {
		return fmt.Errorf("failed to read RetentionPolicy %s: %w", key, err)
	}
	now := o.Clock.Now()
	run := &retention.Run{Policy: audit.Policy{Namespace: rp.Namespace, Name: rp.Name}, DryRun: o.DryRun || rp.Spec.DryRun, Now: now, Log: o.Log,
		RequestID: fmt.Sprintf("%s/%s/%d", rp.Namespace, rp.Name, now.UnixNano())}
	fail := func(reason string, err error) error {
		msg := err.Error()
		if werr := writeJobStatus(ctx, c, key, now, run.DryRun, nil, reason, msg); werr != nil {
			o.Log.Error("failed to write the status", "err", werr)
		}
		return err
	}

	p := &v1alpha1.Pipeline{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: rp.Namespace, Name: rp.Spec.PipelineRef.Name}, p); err != nil {
		return fail(v1alpha1.ReasonPipelineNotFound, fmt.Errorf("spec.pipelineRef: failed to read Pipeline %s: %w", rp.Spec.PipelineRef.Name, err))
	}
	s, err := engine.Resolve(&v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: p.Name, Namespace: p.Namespace, Generation: p.Generation, Spec: p.Spec}})
	if err != nil {
		return fail(v1alpha1.ReasonInvalidSpec, fmt.Errorf("pipeline %s: %w", p.Name, err))
	}
	ids, err := ErasureIDs(ctx, c, rp)
	if err != nil {
		return fail(v1alpha1.ReasonInvalidSpec, err)
	}
	var inactiveAfter time.Duration
	if cs := rp.Spec.CustomerState; cs != nil {
		if inactiveAfter, err = cs.InactiveAfter.Parse(); err != nil || inactiveAfter <= 0 {
			return fail(v1alpha1.ReasonInvalidSpec, fmt.Errorf("spec.customerState.inactiveAfter: %q is not a positive duration", cs.InactiveAfter))
		}
	}

	lakeSpec, err := parseLake(rp)
	if err != nil {
		return fail(v1alpha1.ReasonInvalidSpec, err)
	}
	useLake := o.OpenLake != nil && s.Lake != nil && (len(lakeSpec) > 0 || len(ids) > 0)

	var results []retention.Result
	if len(ids) > 0 || inactiveAfter > 0 || useLake {
		cfgOf := o.KafkaConfig
		if cfgOf == nil {
			cfgOf = func(ctx context.Context, p *v1alpha1.Pipeline) (kafkaio.Config, error) {
				cfg, err := pipeline.KafkaConfig(ctx, c, p)
				cfg.ClientID = "ecap-retention"
				return cfg, err
			}
		}
		kcfg, err := cfgOf(ctx, p)
		if err != nil {
			return fail(v1alpha1.ReasonRunFailed, err)
		}
		topics := retention.Topics{Transactions: s.Transactions, Control: s.Control, Audit: s.Audit, Profiles: profileTopics(ctx, c, p, s.ProfilesTopic)}
		ch, err := retention.Dial(ctx, kcfg, topics, o.KafkaTimeout)
		if err != nil {
			reason := v1alpha1.ReasonRunFailed
			if errors.Is(err, retention.ErrKafkaUnreachable) {
				reason = v1alpha1.ReasonKafkaUnreachable
				err = fmt.Errorf("Kafka of pipeline %q: %w", p.Name, err)
			}
			return fail(reason, err)
		}
		defer ch.Close()
		if o.AckTimeout > 0 {
			ch.AckTimeout = o.AckTimeout
		}
		var targets []retention.Target
		if len(ids) > 0 {
			targets = append(targets, &retention.Erasure{Channel: ch, Pipeline: p.Name, CustomerIDs: ids})
		}
		if inactiveAfter > 0 {
			targets = append(targets, &retention.CustomerState{Channel: ch, Pipeline: p.Name, InactiveAfter: inactiveAfter})
		}
		if useLake {
			l, err := o.OpenLake(ctx, p, s.Lake, func() time.Time { return now })
			if err != nil {
				return fail(v1alpha1.ReasonLakeUnavailable, fmt.Errorf("lake of pipeline %q: %w", p.Name, err))
			}
			lt, err := lakeTargets(l, s.Lake, ids, lakeSpec, func() time.Time { return now })
			if err != nil {
				return fail(v1alpha1.ReasonInvalidSpec, err)
			}
			targets = append(targets, lt...)
		}
		results = retention.Enforce(ctx, run, ch, targets)
	}
	switch {
	case o.OpenLake == nil:
		for _, l := range rp.Spec.Lake {
			results = append(results, retention.Result{Kind: v1alpha1.TargetLakeDataset, Name: selectorString(l.Selector),
				Outcome: retention.Outcome{Message: "lake retention is not enforced by this build of ecap retention"}})
		}
	case s.Lake == nil:
		for i, l := range rp.Spec.Lake {
			results = append(results, retention.Result{Kind: v1alpha1.TargetLakeDataset, Name: selectorString(l.Selector),
				Outcome: retention.Outcome{Message: fmt.Sprintf("spec.lake[%d]: Pipeline %s has no lake sink (spec.sinks.lake); nothing to expire", i, p.Name)}})
		}
	}

	reason, msg, runErr := "", "", error(nil)
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		runErr = errors.Join(runErr, fmt.Errorf("%s %s: %w", r.Kind, r.Name, r.Err))
		if reason == "" {
			reason = v1alpha1.ReasonRunFailed
			switch {
			case errors.Is(r.Err, retention.ErrKafkaUnreachable):
				reason = v1alpha1.ReasonKafkaUnreachable
			case errors.Is(r.Err, retention.ErrNotAcknowledged):
				reason = v1alpha1.ReasonRuntimeNotAcknowledged
			case errors.Is(r.Err, retention.ErrLake):
				reason = v1alpha1.ReasonLakeUnavailable
			}
		}
	}
	if runErr != nil {
		msg = runErr.Error()
	}
	if err := writeJobStatus(ctx, c, key, now, run.DryRun, results, reason, msg); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

// writeJobStatus records a run in the policy's status: the job's fields
// only, on a fresh read, retried on conflict. results nil means the run
// failed before any target (the targets of the last run are kept); reason
// non-empty means it failed.
func writeJobStatus(ctx context.Context, c client.Client, key types.NamespacedName, now time.Time, dryRun bool, results []retention.Result, reason, msg string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rp := &v1alpha1.RetentionPolicy{}
		if err := c.Get(ctx, key, rp); err != nil {
			return err
		}
		rp.Status.LastRunTime = &metav1.Time{Time: now.UTC().Truncate(time.Second)}
		rp.Status.LastRunDryRun = dryRun
		if sched, err := schedule.Parse(defaultSchedule(rp), false); err == nil && !rp.Spec.Suspend {
			rp.Status.NextRunTime = &metav1.Time{Time: schedule.Next(sched, now)}
		}
		if results != nil || reason == "" {
			var targets []v1alpha1.TargetStatus
			for _, t := range rp.Status.Targets {
				if t.Kind == v1alpha1.TargetTopic {
					targets = append(targets, t) // the controller's
				}
			}
			for _, r := range results {
				targets = append(targets, v1alpha1.TargetStatus{Kind: r.Kind, Name: r.Name,
					CustomersForgotten: r.Outcome.CustomersForgotten, RowsErased: r.Outcome.RowsErased,
					PartitionsDeleted: r.Outcome.PartitionsDeleted, PartitionsArchived: r.Outcome.PartitionsArchived,
					BytesFreed: r.Outcome.BytesFreed, Message: r.Outcome.Message})
			}
			rp.Status.Targets = targets
		}
		if reason == "" {
			status.Set(rp, now, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, runSummary(dryRun, results))
		} else {
			status.Set(rp, now, v1alpha1.ConditionLastRunSucceeded, metav1.ConditionFalse, reason, msg)
			// Not status.MarkStalled: observedGeneration is the controller's.
			apimeta.RemoveStatusCondition(&rp.Status.Conditions, v1alpha1.ConditionReconciling)
			status.Set(rp, now, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, "last run: "+msg)
			status.Set(rp, now, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, "last run: "+msg)
		}
		return c.Status().Update(ctx, rp)
	})
}

func runSummary(dryRun bool, results []retention.Result) string {
	mode := "enforced"
	if dryRun {
		mode = "dry run of"
	}
	if len(results) == 0 {
		return "nothing to enforce through the runtime"
	}
	return fmt.Sprintf("%s %d targets", mode, len(results))
}

func selectorString(s v1alpha1.TargetSelector) string {
	if len(s.Names) > 0 {
		return strings.Join(s.Names, ",")
	}
	return s.Pattern
}

// profileTopics are the compacted customer-profile topics of a Pipeline:
// spec.sinks.customerProfilesTopic and the output topics of its
// Segmentations, as the Pipeline's runtime ConfigMap lists them (a missing
// ConfigMap leaves only the first).
func profileTopics(ctx context.Context, c client.Client, p *v1alpha1.Pipeline, def string) []string {
	var out []string
	if def != "" {
		out = append(out, def)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: pipeline.ChildName(p)}, cm); err != nil {
		return out
	}
	var rc v1alpha1.RuntimeConfig
	if err := json.Unmarshal([]byte(cm.Data[v1alpha1.RuntimeConfigKey]), &rc); err != nil {
		return out
	}
	for _, sg := range rc.Segmentations {
		if t := string(sg.Spec.OutputTopic); t != "" && !contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maxCustomerIDLength bounds an erasure ID (a Kafka key, in practice a few
// dozen bytes).
const maxCustomerIDLength = 256

// ErasureIDs returns the customer IDs of spec.erasure: the list, then the
// lines of the ConfigMap and Secret keys (one ID per line; blank lines and
// lines starting with # are skipped), without duplicates, in that order.
// Errors name the field, the object and the line.
func ErasureIDs(ctx context.Context, c client.Client, rp *v1alpha1.RetentionPolicy) ([]string, error) {
	e := rp.Spec.Erasure
	if e == nil {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(field, id string) error {
		switch {
		case id[0] == 0:
			return fmt.Errorf("%s: customer ID %q starts with a NUL byte", field, id)
		case len(id) > maxCustomerIDLength:
			return fmt.Errorf("%s: customer ID of %d bytes is longer than %d", field, len(id), maxCustomerIDLength)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
		return nil
	}
	for i, id := range e.CustomerIDs {
		if strings.TrimSpace(id) == "" {
			return nil, fmt.Errorf("spec.erasure.customerIDs[%d]: empty customer ID", i)
		}
		if err := add(fmt.Sprintf("spec.erasure.customerIDs[%d]", i), id); err != nil {
			return nil, err
		}
	}
	lines := func(field, what, data string) error {
		sc := bufio.NewScanner(strings.NewReader(data))
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for n := 1; sc.Scan(); n++ {
			id := strings.TrimSpace(sc.Text())
			if id == "" || strings.HasPrefix(id, "#") {
				continue
			}
			if err := add(fmt.Sprintf("%s (%s) line %d", field, what, n), id); err != nil {
				return err
			}
		}
		return sc.Err()
	}
	if ref := e.ConfigMapRef; ref != nil {
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: rp.Namespace, Name: ref.Name}, cm); err != nil {
			return nil, fmt.Errorf("spec.erasure.configMapRef: failed to read ConfigMap %s: %w", ref.Name, err)
		}
		data, ok := cm.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("spec.erasure.configMapRef: ConfigMap %s has no key %q", ref.Name, ref.Key)
		}
		if err := lines("spec.erasure.configMapRef", "ConfigMap "+ref.Name+" key "+ref.Key, data); err != nil {
			return nil, err
		}
	}
	if ref := e.SecretRef; ref != nil {
		sec := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: rp.Namespace, Name: ref.Name}, sec); err != nil {
			return nil, fmt.Errorf("spec.erasure.secretRef: failed to read Secret %s: %w", ref.Name, err)
		}
		data, ok := sec.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("spec.erasure.secretRef: Secret %s has no key %q", ref.Name, ref.Key)
		}
		if err := lines("spec.erasure.secretRef", "Secret "+ref.Name+" key "+ref.Key, string(data)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
