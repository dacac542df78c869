package segmentation

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/attachment"
	"github.com/ecap-dev/ecap/controllers/schedule"
	"github.com/ecap-dev/ecap/controllers/status"
)

// Reconciler reconciles Segmentations.
type Reconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Runtime reads the runtime's results; nil means a PodSource on the
	// manager's client.
	Runtime RuntimeSource
}

// Refresh intervals of the runtime's figures.
const (
	// liveRefresh bounds how stale the copied results get between runs.
	liveRefresh = 30 * time.Second
	// waitRefresh is how soon a runtime that has not applied the current
	// generation is asked again.
	waitRefresh = 5 * time.Second
)

// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=segmentations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=segmentations/status,verbs=get;update;patch

// SetupWithManager registers the controller. index.Setup must have run.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Runtime == nil {
		r.Runtime = &PodSource{Client: mgr.GetClient()}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Segmentation{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&v1alpha1.Pipeline{}, attachment.EnqueueReferencing(mgr.GetClient(), func() client.ObjectList { return &v1alpha1.SegmentationList{} }),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Named("segmentation").
		Complete(r)
}

// Reconcile validates one Segmentation and reports its schedule.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	s := &v1alpha1.Segmentation{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	original := s.DeepCopy()
	defer func() {
		if retErr != nil {
			status.MarkError(s, r.Clock.Now(), retErr)
		}
		if err := status.Patch(ctx, r.Client, original, s, func(o client.Object) any { return o.(*v1alpha1.Segmentation).Status }); err != nil {
			retErr = err
		}
	}()
	now := r.Clock.Now()

	if errs := Validate(s); len(errs) > 0 {
		msg := errs.ToAggregate().Error()
		if original.Status.ObservedGeneration != s.Generation {
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, v1alpha1.ReasonInvalidSpec, "Validate", msg)
		}
		status.MarkStalled(s, now, v1alpha1.ReasonInvalidSpec, msg)
		return ctrl.Result{}, nil
	}
	p, err := attachment.ResolvePipeline(ctx, r.Client, s, now)
	if err != nil || p == nil {
		return ctrl.Result{}, err
	}
	next := nextRun(s, now)
	if s.Status.NextRunTime == nil || !s.Status.NextRunTime.Time.Equal(next) {
		// Keep a due time that has not passed yet; move it only once passed,
		// so that status is not rewritten on every reconcile.
		if s.Status.NextRunTime == nil || !s.Status.NextRunTime.Time.After(now) || original.Status.ObservedGeneration != s.Generation {
			s.Status.NextRunTime = &metav1.Time{Time: next}
		}
	}
	requeue := max(s.Status.NextRunTime.Time.Sub(now), time.Second)
	msg := fmt.Sprintf("scored by the runtime of pipeline %q", p.Name)
	if r.Runtime != nil {
		rep, err := r.Runtime.Segmentation(ctx, p, s.Name)
		if err != nil {
			return ctrl.Result{}, err
		}
		if rep.Replicas > 0 {
			if done, res := r.applyReport(s, p, rep, now); done {
				return res, nil
			}
			msg = runMessage(p, rep)
			requeue = min(requeue, liveRefresh)
		}
	}
	status.MarkReady(s, now, v1alpha1.ReasonSucceeded, msg)
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// applyReport copies the runtime's results into status. When the runtime
// has not applied the current generation it marks the Segmentation
// Reconciling (or Stalled, if the runtime refused it) and returns done.
// Without any answering runtime replica it is not called: the Segmentation
// stays Ready on its validation alone, since nothing can confirm or deny it.
func (r *Reconciler) applyReport(s *v1alpha1.Segmentation, p *v1alpha1.Pipeline, rep *RuntimeReport, now time.Time) (bool, ctrl.Result) {
	switch {
	case rep.Running > 0 && rep.AppliedGeneration == 0 && rep.LastError != "":
		status.MarkStalled(s, now, v1alpha1.ReasonRuntimeRejected, rep.LastError)
		return true, ctrl.Result{RequeueAfter: liveRefresh}
	case rep.Running < rep.Replicas || rep.AppliedGeneration < s.Generation:
		status.MarkReconciling(s, now, v1alpha1.ReasonWaitingForRuntime, fmt.Sprintf(
			"waiting for the runtime of pipeline %q to apply generation %d (%d of %d replicas run it, lowest generation %d)",
			p.Name, s.Generation, rep.Running, rep.Replicas, rep.AppliedGeneration))
		return true, ctrl.Result{RequeueAfter: waitRefresh}
	}
	s.Status.AppliedGeneration = rep.AppliedGeneration
	if rep.NextRunTime != nil {
		next := metav1.NewTime(rep.NextRunTime.Truncate(time.Second))
		s.Status.NextRunTime = &next
	}
	run := rep.Run
	if run == nil {
		return false, ctrl.Result{}
	}
	s.Status.CustomersScored = run.CustomersScored
	s.Status.Segments = segmentCounts(run.Segments)
	s.Status.Model = run.Model
	s.Status.Cohorts = run.Cohorts
	markCalibration(s, run, now)
	finished := metav1.NewTime(run.FinishedAt.Truncate(time.Second))
	s.Status.LastRunTime = &finished
	s.Status.LastRunDuration = (time.Duration(run.DurationSeconds * float64(time.Second))).Round(time.Millisecond).String()
	if run.RunNow != "" {
		s.Status.LastRunNowValue = run.RunNow
	}
	return false, ctrl.Result{}
}

// markCalibration sets CalibrationExact for a Segmentation with a
// calibration end from the last run, and removes it otherwise.
func markCalibration(s *v1alpha1.Segmentation, run *RunReport, now time.Time) {
	if s.Spec.CalibrationEnd == nil {
		meta.RemoveStatusCondition(&s.Status.Conditions, v1alpha1.ConditionCalibrationExact)
		return
	}
	end := s.Spec.CalibrationEnd.UTC().Format(time.DateOnly)
	if run.CalibrationUnknown == 0 {
		status.Set(s, now, v1alpha1.ConditionCalibrationExact, metav1.ConditionTrue, v1alpha1.ReasonSummariesFrozen,
			"every customer's summary at the calibration end "+end+" is known")
		return
	}
	status.Set(s, now, v1alpha1.ConditionCalibrationExact, metav1.ConditionFalse, v1alpha1.ReasonSummariesUnknown, fmt.Sprintf(
		"%d customers had purchased on both sides of the calibration end %s before the runtime tracked that day; "+
			"they are left out of the fit (a runtime state rebuilt from the transactions with this Segmentation in place includes them)",
		run.CalibrationUnknown, end))
}

// runMessage is the Ready message with the runtime's last run.
func runMessage(p *v1alpha1.Pipeline, rep *RuntimeReport) string {
	msg := fmt.Sprintf("scored by the runtime of pipeline %q (%d replicas)", p.Name, rep.Replicas)
	switch {
	case rep.LastError != "":
		msg += "; last run failed: " + rep.LastError
	case rep.Run == nil:
		msg += "; no run yet"
	default:
		msg += fmt.Sprintf("; last run %s scored %d customers", rep.Run.RunID, rep.Run.CustomersScored)
	}
	return msg
}

func nextRun(s *v1alpha1.Segmentation, now time.Time) time.Time {
	sched := s.Spec.Schedule
	if sched == "" {
		sched = "@every 15m"
	}
	parsed, err := schedule.Parse(sched, true)
	if err != nil {
		return now
	}
	from := now
	if s.Status.LastRunTime != nil {
		from = s.Status.LastRunTime.Time
	}
	next := schedule.Next(parsed, from)
	if next.Before(now) {
		next = schedule.Next(parsed, now)
	}
	return next.Truncate(time.Second)
}
