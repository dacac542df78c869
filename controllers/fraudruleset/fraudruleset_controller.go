package fraudruleset

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/attachment"
	"github.com/ecap-dev/ecap/controllers/status"
)

// Reconciler reconciles FraudRuleSets.
type Reconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Runtime reads the Pipeline runtime's rule-set figures (applied
	// generation, hits, labels); nil leaves them out.
	Runtime RuntimeSource
	// Refresh is how often an attached rule set re-reads the runtime's
	// figures; 0 means 30 seconds.
	Refresh time.Duration
}

// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=fraudrulesets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=fraudrulesets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=pipelines,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// SetupWithManager registers the controller. index.Setup must have run.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.FraudRuleSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.Pipeline{}, attachment.EnqueueReferencing(mgr.GetClient(), func() client.ObjectList { return &v1alpha1.FraudRuleSetList{} }),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Named("fraudruleset").
		Complete(r)
}

// Reconcile compiles one FraudRuleSet and reports the outcome.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	f := &v1alpha1.FraudRuleSet{}
	if err := r.Get(ctx, req.NamespacedName, f); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !f.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	original := f.DeepCopy()
	defer func() {
		if retErr != nil {
			status.MarkError(f, r.Clock.Now(), retErr)
		}
		if err := status.Patch(ctx, r.Client, original, f, func(o client.Object) any { return o.(*v1alpha1.FraudRuleSet).Status }); err != nil {
			retErr = err
		}
	}()
	now := r.Clock.Now()

	// Compile: what slipped past admission (webhook down, spec from an older
	// version) ends Stalled with the compiler's message.
	if errs := Validate(f); len(errs) > 0 {
		msg := errs.ToAggregate().Error()
		status.Set(f, now, v1alpha1.ConditionRulesCompiled, metav1.ConditionFalse, v1alpha1.ReasonCompileFailed, msg)
		status.MarkStalled(f, now, v1alpha1.ReasonCompileFailed, msg)
		f.Status.CompiledRules = 0
		if original.Status.ObservedGeneration != f.Generation {
			r.Recorder.Eventf(f, nil, corev1.EventTypeWarning, v1alpha1.ReasonCompileFailed, "Compile", msg)
		}
		log.FromContext(ctx).Info("fraud rules do not compile", "fraudruleset", klog.KObj(f), "error", msg)
		return ctrl.Result{}, nil
	}
	enabled := 0
	for _, rule := range f.Spec.Rules {
		if rule.IsEnabled() {
			enabled++
		}
	}
	f.Status.CompiledRules = int32(enabled)
	status.Set(f, now, v1alpha1.ConditionRulesCompiled, metav1.ConditionTrue, v1alpha1.ReasonCompiled,
		fmt.Sprintf("%d of %d rules enabled and compiled", enabled, len(f.Spec.Rules)))
	f.Status.Rules = ruleStatuses(f)

	p, err := attachment.ResolvePipeline(ctx, r.Client, f, now)
	if err != nil || p == nil {
		return ctrl.Result{}, err
	}
	status.MarkReady(f, now, v1alpha1.ReasonSucceeded, fmt.Sprintf("%d rules compiled for pipeline %q", enabled, p.Name))
	if r.Runtime == nil {
		return ctrl.Result{}, nil
	}
	reports, err := r.Runtime.Reports(ctx, p)
	if err != nil {
		log.FromContext(ctx).Info("runtime figures unavailable", "fraudruleset", klog.KObj(f), "error", err.Error())
	} else {
		applyRuntime(f, viewOf(f.Name, reports), p.Name, func(st, reason, msg string) {
			status.Set(f, now, v1alpha1.ConditionConfigApplied, metav1.ConditionStatus(st), reason, msg)
		})
	}
	refresh := r.Refresh
	if refresh <= 0 {
		refresh = 30 * time.Second
	}
	return ctrl.Result{RequeueAfter: refresh}, nil
}

// ruleStatuses keeps one status entry per rule of the spec, carrying over
// the counters of rules that still exist.
func ruleStatuses(f *v1alpha1.FraudRuleSet) []v1alpha1.RuleStatus {
	old := map[string]v1alpha1.RuleStatus{}
	for _, s := range f.Status.Rules {
		old[s.Name] = s
	}
	out := make([]v1alpha1.RuleStatus, 0, len(f.Spec.Rules))
	for _, rule := range f.Spec.Rules {
		s, ok := old[rule.Name]
		if !ok {
			s = v1alpha1.RuleStatus{Name: rule.Name}
		}
		out = append(out, s)
	}
	return out
}
