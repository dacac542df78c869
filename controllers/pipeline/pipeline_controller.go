package pipeline

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/children"
	"github.com/ecap-dev/ecap/controllers/index"
	"github.com/ecap-dev/ecap/controllers/status"
)

// Reconciler reconciles Pipelines.
type Reconciler struct {
	client.Client
	// Recorder emits Kubernetes events on changes (never in a steady state).
	Recorder events.EventRecorder
	// Clock stamps condition transitions; tests inject a fake one.
	Clock clock.PassiveClock
	// RuntimeImage is the image of `ecap runtime` when spec.image is unset.
	RuntimeImage string
	// Metrics gathers lag, rate and dead-letter counts; nil disables it.
	Metrics MetricsSource
}

// MetricsSource reports live figures of a Pipeline's data plane for its
// status columns.
type MetricsSource interface {
	// Gather returns the figures, or an error when the source is
	// unreachable.
	Gather(ctx context.Context, p *v1alpha1.Pipeline) (*LiveMetrics, error)
}

// LiveMetrics are the figures shown in a Pipeline's printer columns.
type LiveMetrics struct {
	Lag             int64
	EventsPerSecond int64
	DeadLettered    int64
	Watermark       *time.Time
	// Progressed reports whether committed offsets advanced since the last
	// gathering.
	Progressed bool
	// LakeReported is true when a runtime replica reported its lake sink;
	// LakeError is the first failing replica's last lake error.
	LakeReported bool
	LakeError    string
}

// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=pipelines,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=pipelines/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=analytics.ecap.dev,resources=fraudrulesets;segmentations,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps;services;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller. index.Setup must have run.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Pipeline{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Watches(&v1alpha1.FraudRuleSet{}, handler.EnqueueRequestsFromMapFunc(pipelineOf)).
		Watches(&v1alpha1.Segmentation{}, handler.EnqueueRequestsFromMapFunc(pipelineOf)).
		Named("pipeline").
		Complete(r)
}

// pipelineOf maps an attached object to the Pipeline it references. On an
// update that changes pipelineRef, the old Pipeline is reconciled through the
// delete/create pair of events the cache delivers for the old and new object.
func pipelineOf(_ context.Context, obj client.Object) []reconcile.Request {
	var name string
	switch o := obj.(type) {
	case *v1alpha1.FraudRuleSet:
		name = o.Spec.PipelineRef.Name
	case *v1alpha1.Segmentation:
		name = o.Spec.PipelineRef.Name
	}
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// Reconcile drives one Pipeline towards its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	logger := log.FromContext(ctx)
	p := &v1alpha1.Pipeline{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// Children are owned and garbage-collected; nothing outside the cluster
	// needs cleaning up, so there is no finalizer and nothing to do here.
	if !p.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	original := p.DeepCopy()
	defer func() {
		if retErr != nil {
			status.MarkError(p, r.Clock.Now(), retErr)
		}
		if err := status.Patch(ctx, r.Client, original, p, func(o client.Object) any { return o.(*v1alpha1.Pipeline).Status }); err != nil {
			retErr = err
		}
	}()

	if errs := ValidateSpec(&p.Spec); len(errs) > 0 {
		msg := errs.ToAggregate().Error()
		if !isStalledWith(original, msg) {
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, v1alpha1.ReasonInvalidSpec, "Validate", msg)
		}
		status.MarkStalled(p, r.Clock.Now(), v1alpha1.ReasonInvalidSpec, msg)
		logger.Info("pipeline spec is invalid", "pipeline", klog.KObj(p), "error", msg)
		return ctrl.Result{}, nil
	}

	dep, err := r.reconcileChildren(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	requeue := r.reconcileLiveMetrics(ctx, p)
	r.computeStatus(p, dep)
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// reconcileChildren resolves the runtime config and makes every child match
// it. It returns the live Deployment.
func (r *Reconciler) reconcileChildren(ctx context.Context, p *v1alpha1.Pipeline) (*appsv1.Deployment, error) {
	rules := &v1alpha1.FraudRuleSetList{}
	if err := r.List(ctx, rules, client.InNamespace(p.Namespace), client.MatchingFields{index.PipelineRef: p.Name}); err != nil {
		return nil, fmt.Errorf("failed to list fraud rule sets: %w", err)
	}
	segs := &v1alpha1.SegmentationList{}
	if err := r.List(ctx, segs, client.InNamespace(p.Namespace), client.MatchingFields{index.PipelineRef: p.Name}); err != nil {
		return nil, fmt.Errorf("failed to list segmentations: %w", err)
	}
	cfg := BuildRuntimeConfig(p, rules.Items, segs.Items)
	p.Status.FraudRuleSets = attached(cfg.FraudRuleSets, func(c v1alpha1.FraudRuleSetConfig) v1alpha1.AttachedObject {
		return v1alpha1.AttachedObject{Name: c.Name, Generation: c.Generation}
	})
	p.Status.Segmentations = attached(cfg.Segmentations, func(c v1alpha1.SegmentationConfig) v1alpha1.AttachedObject {
		return v1alpha1.AttachedObject{Name: c.Name, Generation: c.Generation}
	})

	image := p.Spec.Image
	if image == "" {
		image = r.RuntimeImage
	}
	configHash := restartHash(p, image)
	cm, err := desiredConfigMap(p, cfg)
	if err != nil {
		return nil, err
	}
	dep := desiredDeployment(p, image, configHash)
	steps := []struct {
		obj      client.Object
		preserve func(live, desired client.Object)
	}{
		{desiredServiceAccount(p), nil},
		{desiredRole(p), nil},
		{desiredRoleBinding(p), nil},
		{cm, nil},
		{desiredService(p), preserveClusterIP},
		{dep, preserveAutoscaledReplicas(p)},
	}
	if p.Spec.Autoscaling != nil && !p.Spec.Suspend {
		steps = append(steps, struct {
			obj      client.Object
			preserve func(live, desired client.Object)
		}{desiredHPA(p), nil})
	} else if _, err := children.Delete(ctx, r.Client, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace}}); err != nil {
		return nil, err
	}
	for _, s := range steps {
		action, err := children.Ensure(ctx, r.Client, p, s.obj, s.preserve)
		if err != nil {
			return nil, err
		}
		if action != children.Unchanged {
			log.FromContext(ctx).Info("child written", "pipeline", klog.KObj(p), "kind", fmt.Sprintf("%T", s.obj), "name", s.obj.GetName(), "action", action)
		}
	}
	p.Status.ConfigMapName = cm.Name
	p.Status.ConfigHash = configHash

	return dep, nil
}

func attached[T any](items []T, f func(T) v1alpha1.AttachedObject) []v1alpha1.AttachedObject {
	if len(items) == 0 {
		return nil
	}
	out := make([]v1alpha1.AttachedObject, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}

func preserveClusterIP(live, desired client.Object) {
	l, d := live.(*corev1.Service), desired.(*corev1.Service)
	d.Spec.ClusterIP = l.Spec.ClusterIP
	d.Spec.ClusterIPs = l.Spec.ClusterIPs
	d.Spec.IPFamilies = l.Spec.IPFamilies
	d.Spec.IPFamilyPolicy = l.Spec.IPFamilyPolicy
}

// preserveAutoscaledReplicas keeps the autoscaler's replica count when the
// controller rewrites the Deployment.
func preserveAutoscaledReplicas(p *v1alpha1.Pipeline) func(live, desired client.Object) {
	return func(live, desired client.Object) {
		d := desired.(*appsv1.Deployment)
		if d.Spec.Replicas == nil {
			d.Spec.Replicas = live.(*appsv1.Deployment).Spec.Replicas
		}
	}
}

// reconcileLiveMetrics fills lag, rate and dead-letter counts and detects a
// stalled consumer. It returns how soon to look again.
func (r *Reconciler) reconcileLiveMetrics(ctx context.Context, p *v1alpha1.Pipeline) time.Duration {
	if r.Metrics == nil {
		return 0
	}
	const interval = 30 * time.Second
	now := r.Clock.Now()
	// Bound the write rate: the figures are refreshed at most every interval.
	if t := p.Status.MetricsTime; t != nil && now.Sub(t.Time) < interval {
		return interval - now.Sub(t.Time)
	}
	m, err := r.Metrics.Gather(ctx, p)
	if err != nil {
		status.Set(p, now, v1alpha1.ConditionKafkaReachable, metav1.ConditionFalse, v1alpha1.ReasonKafkaUnreachable, err.Error())
		return interval
	}
	status.Set(p, now, v1alpha1.ConditionKafkaReachable, metav1.ConditionTrue, v1alpha1.ReasonKafkaReachable, "brokers answered")
	p.Status.Lag = &m.Lag
	p.Status.EventsPerSecond = &m.EventsPerSecond
	p.Status.DeadLettered = &m.DeadLettered
	if m.Watermark != nil {
		p.Status.Watermark = &metav1.Time{Time: *m.Watermark}
	}
	switch {
	case p.Spec.Sinks.Lake == nil:
		meta.RemoveStatusCondition(&p.Status.Conditions, v1alpha1.ConditionLakeWritable)
	case m.LakeError != "":
		status.Set(p, now, v1alpha1.ConditionLakeWritable, metav1.ConditionFalse, v1alpha1.ReasonLakeUnavailable, m.LakeError)
	case m.LakeReported:
		status.Set(p, now, v1alpha1.ConditionLakeWritable, metav1.ConditionTrue, v1alpha1.ReasonLakeWritable, "runtime replicas write and commit to the lake")
	}
	if m.Progressed || m.Lag == 0 || p.Status.LastProgressTime == nil {
		p.Status.LastProgressTime = &metav1.Time{Time: now}
	}
	p.Status.MetricsTime = &metav1.Time{Time: now}
	return interval
}

// computeStatus sets the summary conditions from the Deployment and the
// consumer's progress.
func (r *Reconciler) computeStatus(p *v1alpha1.Pipeline, dep *appsv1.Deployment) {
	now := r.Clock.Now()
	desired := DesiredReplicas(p)
	if dep.Spec.Replicas != nil && p.Spec.Autoscaling != nil && !p.Spec.Suspend {
		desired = *dep.Spec.Replicas
	}
	p.Status.Replicas = desired
	p.Status.ReadyReplicas = dep.Status.ReadyReplicas

	rolledOut := dep.Status.ObservedGeneration >= dep.Generation &&
		dep.Status.UpdatedReplicas >= desired &&
		dep.Status.AvailableReplicas >= desired &&
		dep.Status.Replicas == dep.Status.UpdatedReplicas
	if desired == 0 {
		rolledOut = dep.Status.ObservedGeneration >= dep.Generation && dep.Status.Replicas == 0
	}
	if rolledOut {
		status.Set(p, now, v1alpha1.ConditionDeploymentAvailable, metav1.ConditionTrue, v1alpha1.ReasonDeploymentAvailable,
			fmt.Sprintf("%d/%d runtime replicas available", dep.Status.AvailableReplicas, desired))
	} else {
		status.Set(p, now, v1alpha1.ConditionDeploymentAvailable, metav1.ConditionFalse, v1alpha1.ReasonDeploymentUnavailable,
			fmt.Sprintf("%d/%d runtime replicas available and updated", min(dep.Status.AvailableReplicas, dep.Status.UpdatedReplicas), desired))
	}

	switch {
	case deploymentDeadlineExceeded(dep):
		status.MarkStalled(p, now, v1alpha1.ReasonDeploymentUnavailable, "runtime rollout exceeded its progress deadline: "+deploymentMessage(dep))
	case p.Spec.Sinks.Lake != nil && meta.IsStatusConditionFalse(p.Status.Conditions, v1alpha1.ConditionLakeWritable):
		// The runtime does not crash on it (its pods turn unready): the
		// store or its credentials need fixing.
		status.MarkStalled(p, now, v1alpha1.ReasonLakeUnavailable, "lake unavailable, the runtime keeps the data staged and retries: "+
			meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionLakeWritable).Message)
	case !rolledOut:
		status.MarkReconciling(p, now, v1alpha1.ReasonProgressing,
			fmt.Sprintf("waiting for the runtime rollout: %d/%d replicas available and updated", min(dep.Status.AvailableReplicas, dep.Status.UpdatedReplicas), desired))
	case p.Spec.Suspend:
		status.MarkReady(p, now, v1alpha1.ReasonSuspended, "pipeline is suspended: runtime scaled to zero")
	case r.lagStalled(p, now):
		status.MarkStalled(p, now, v1alpha1.ReasonLagNotDecreasing,
			fmt.Sprintf("consumer lag %d with no committed progress since %s", ptrValue(p.Status.Lag), p.Status.LastProgressTime.UTC().Format(time.RFC3339)))
	default:
		status.MarkReady(p, now, v1alpha1.ReasonSucceeded, fmt.Sprintf("%d/%d runtime replicas ready", dep.Status.ReadyReplicas, desired))
	}
}

func (r *Reconciler) lagStalled(p *v1alpha1.Pipeline, now time.Time) bool {
	if p.Status.Lag == nil || *p.Status.Lag == 0 || p.Status.LastProgressTime == nil {
		return false
	}
	return now.Sub(p.Status.LastProgressTime.Time) > p.Spec.StallAfter.OrDefault(10*time.Minute)
}

func deploymentDeadlineExceeded(dep *appsv1.Deployment) bool {
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return true
		}
	}
	return false
}

func deploymentMessage(dep *appsv1.Deployment) string {
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			return c.Message
		}
	}
	return ""
}

func isStalledWith(p *v1alpha1.Pipeline, msg string) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1alpha1.ConditionStalled && c.Status == metav1.ConditionTrue && c.Message == msg && c.ObservedGeneration == p.Generation {
			return true
		}
	}
	return false
}

func ptrValue(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}
