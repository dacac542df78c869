package retentionpolicy

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/attachment"
	"github.com/ecap-dev/ecap/controllers/children"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/schedule"
	"github.com/ecap-dev/ecap/controllers/status"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// Reconciler reconciles RetentionPolicies.
type Reconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Image runs `ecap retention` in the CronJob.
	Image string
	// TopicResync is how often spec.topics are re-checked to correct
	// drift; 0 means DefaultTopicResync. It also caps the retry back-off
	// when the brokers do not answer.
	TopicResync time.Duration
	// KafkaConfig builds the client configuration for a Pipeline's brokers;
	// nil means pipeline.KafkaConfig with the Reconciler's client.
	KafkaConfig func(ctx context.Context, p *v1alpha1.Pipeline) (kafkaio.Config, error)

	failures failureCounter
}

func (r *Reconciler) defaultKafkaConfig(ctx context.Context, p *v1alpha1.Pipeline) (kafkaio.Config, error) {
	return pipeline.KafkaConfig(ctx, r.Client, p)
}

func (r *Reconciler) topicResync() time.Duration {
	if r.TopicResync > 0 {
		return r.TopicResync
	}
	return DefaultTopicResync
}

// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=retentionpolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=retentionpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller. index.Setup must have run.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.RetentionPolicy{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, jobRanPredicate()))).
		Owns(&batchv1.CronJob{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Watches(&v1alpha1.Pipeline{}, attachment.EnqueueReferencing(mgr.GetClient(), func() client.ObjectList { return &v1alpha1.RetentionPolicyList{} }),
			// A spec change of the Pipeline (its lake, its credentials)
			// changes the CronJob's pod and the Role; status writes do not.
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
				return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration()
			}})).
		Named("retentionpolicy").
		Complete(r)
}

// Reconcile validates one RetentionPolicy and keeps its CronJob in place.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	rp := &v1alpha1.RetentionPolicy{}
	if err := r.Get(ctx, req.NamespacedName, rp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rp.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	original := rp.DeepCopy()
	defer func() {
		if retErr != nil {
			status.MarkError(rp, r.Clock.Now(), retErr)
		}
		// Optimistic: the retention job writes its fields of the status
		// too, and a patch from a stale read must not undo them (job.go).
		if err := status.PatchOptimistic(ctx, r.Client, original, rp, func(o client.Object) any { return o.(*v1alpha1.RetentionPolicy).Status }); err != nil {
			retErr = err
		}
	}()
	now := r.Clock.Now()

	if errs := Validate(rp); len(errs) > 0 {
		msg := errs.ToAggregate().Error()
		if original.Status.ObservedGeneration != rp.Generation {
			r.Recorder.Eventf(rp, nil, corev1.EventTypeWarning, v1alpha1.ReasonInvalidSpec, "Validate", msg)
		}
		status.MarkStalled(rp, now, v1alpha1.ReasonInvalidSpec, msg)
		return ctrl.Result{}, nil
	}
	p, err := attachment.ResolvePipeline(ctx, r.Client, rp, now)
	if err != nil || p == nil {
		return ctrl.Result{}, err
	}

	for _, obj := range []client.Object{desiredServiceAccount(rp), desiredRole(rp, p), desiredRoleBinding(rp), desiredCronJob(rp, p, r.Image)} {
		if _, err := children.Ensure(ctx, r.Client, rp, obj, nil); err != nil {
			return ctrl.Result{}, err
		}
	}
	rp.Status.CronJobName = ChildName(rp)
	if rp.Spec.Suspend {
		rp.Status.NextRunTime = nil
		status.Set(rp, now, v1alpha1.ConditionScheduled, metav1.ConditionFalse, v1alpha1.ReasonSuspended, "CronJob "+ChildName(rp)+" is suspended")
		status.MarkReady(rp, now, v1alpha1.ReasonSuspended, "retention policy is suspended")
		return ctrl.Result{}, nil
	}
	sched, err := schedule.Parse(defaultSchedule(rp), false)
	if err != nil {
		// Validate accepted it; a parse failure here is a bug, not user error.
		return ctrl.Result{}, fmt.Errorf("failed to parse schedule: %w", err)
	}
	next := schedule.Next(sched, now)
	if rp.Status.NextRunTime == nil || !rp.Status.NextRunTime.After(now) || original.Status.ObservedGeneration != rp.Generation {
		rp.Status.NextRunTime = &metav1.Time{Time: next}
	}
	status.Set(rp, now, v1alpha1.ConditionScheduled, metav1.ConditionTrue, v1alpha1.ReasonCronJobReady,
		fmt.Sprintf("CronJob %s runs %q (UTC)", ChildName(rp), defaultSchedule(rp)))
	if ok, err := r.reconcileTopics(ctx, rp, p, now); err != nil || !ok {
		key := types.NamespacedName{Namespace: rp.Namespace, Name: rp.Name}
		return ctrl.Result{RequeueAfter: r.failures.backoff(key, r.topicResync())}, err
	}
	after := rp.Status.NextRunTime.Sub(now)
	if len(rp.Spec.Topics) > 0 {
		after = min(after, r.topicResync())
	}
	if last := apimeta.FindStatusCondition(rp.Status.Conditions, v1alpha1.ConditionLastRunSucceeded); last != nil &&
		last.Status == metav1.ConditionFalse && last.ObservedGeneration == rp.Generation {
		// The job failed on this generation: stalled until a run succeeds
		// or the spec changes.
		status.MarkStalled(rp, now, last.Reason, "last run: "+last.Message)
		return ctrl.Result{RequeueAfter: after}, nil
	}
	mode := "enforcing"
	if rp.Spec.DryRun {
		mode = "dry run"
	}
	status.MarkReady(rp, now, v1alpha1.ReasonSucceeded, fmt.Sprintf("scheduled (%s) for pipeline %q", mode, p.Name))
	return ctrl.Result{RequeueAfter: after}, nil
}

// jobRanPredicate passes the status updates of a retention run (lastRunTime
// or LastRunSucceeded changed), so the controller recomputes Ready and
// Stalled from the run's outcome.
func jobRanPredicate() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		DeleteFunc: func(event.DeleteEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*v1alpha1.RetentionPolicy)
			n, ok2 := e.ObjectNew.(*v1alpha1.RetentionPolicy)
			if !ok1 || !ok2 {
				return false
			}
			if !o.Status.LastRunTime.Equal(n.Status.LastRunTime) {
				return true
			}
			oc := apimeta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionLastRunSucceeded)
			nc := apimeta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionLastRunSucceeded)
			return (oc == nil) != (nc == nil) || (oc != nil && (oc.Status != nc.Status || oc.Reason != nc.Reason))
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

func defaultSchedule(rp *v1alpha1.RetentionPolicy) v1alpha1.Schedule {
	if rp.Spec.Schedule == "" {
		return "0 3 * * *"
	}
	return rp.Spec.Schedule
}
