package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/testenv"
)

func newPipeline(ns, name string) *v1alpha1.Pipeline {
	return &v1alpha1.Pipeline{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: []string{"kafka-0.kafka:9092"}},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
			KPIs: &v1alpha1.KPISpec{Topic: "kpis", Windows: []v1alpha1.KPIWindow{
				{Name: "1m", Type: v1alpha1.WindowTumbling, Size: "1m"},
				{Name: "5m", Type: v1alpha1.WindowHopping, Size: "5m", Advance: "1m"},
			}},
		},
	}
}

func newRuleSet(ns, name, pipelineName string, score int32) *v1alpha1.FraudRuleSet {
	return &v1alpha1.FraudRuleSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.FraudRuleSetSpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: pipelineName},
			Rules:       []v1alpha1.FraudRule{{Name: "big", Expression: "txn.amount > 1000.0", Score: score}},
		},
	}
}

func setup(t *testing.T) (context.Context, Gomega, string) {
	t.Helper()
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(testenv.Timeout)
	g.SetDefaultEventuallyPollingInterval(testenv.Poll)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns, err := env.CreateNamespace(ctx, "pipeline")
	g.Expect(err).NotTo(HaveOccurred())
	return ctx, g, ns
}

func key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// markDeploymentAvailable plays the Deployment controller, which envtest
// does not run: it reports every desired replica updated and available.
func markDeploymentAvailable(ctx context.Context, g Gomega, ns, name string) {
	g.Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, key(ns, name), dep)).To(Succeed())
		n := ptr.Deref(dep.Spec.Replicas, 1)
		dep.Status = appsv1.DeploymentStatus{
			ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		}
		g.Expect(env.Client.Status().Update(ctx, dep)).To(Succeed())
	}).Should(Succeed())
}

func readyPipeline(ctx context.Context, g Gomega, ns, name string) *v1alpha1.Pipeline {
	markDeploymentAvailable(ctx, g, ns, "ecap-"+name)
	p := &v1alpha1.Pipeline{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key(ns, name), p)).To(Succeed())
		c := testenv.Condition(p, v1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
	}).Should(Succeed())
	return p
}

func TestPipelineCreatesChildrenAndBecomesReady(t *testing.T) {
	ctx, g, ns := setup(t)
	p := newPipeline(ns, "shop")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	// Children appear, each controlled by the Pipeline.
	name := pipeline.ChildName(p)
	children := []client.Object{&corev1.ConfigMap{}, &appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}}
	for _, obj := range children {
		g.Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, key(ns, name), obj)).To(Succeed())
			g.Expect(metav1.IsControlledBy(obj, p)).To(BeTrue(), "%T not controlled by the pipeline", obj)
			// Garbage collection (not run by envtest) removes children with
			// the Pipeline, waiting for them in foreground deletion.
			g.Expect(*metav1.GetControllerOf(obj).BlockOwnerDeletion).To(BeTrue())
		}).Should(Succeed())
	}

	// The Deployment runs `ecap runtime` on the resolved config.
	dep := &appsv1.Deployment{}
	g.Expect(env.Client.Get(ctx, key(ns, name), dep)).To(Succeed())
	c := dep.Spec.Template.Spec.Containers[0]
	g.Expect(c.Image).To(Equal(testenv.Image))
	g.Expect(c.Args).To(ContainElements("runtime", "--config=/etc/ecap/runtime.json"))
	g.Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(dep.Spec.Template.Annotations).To(HaveKey(v1alpha1.AnnotationConfigHash))
	g.Expect(*dep.Spec.Replicas).To(Equal(int32(1)))

	// The runtime's Role only reads.
	role := &rbacv1.Role{}
	g.Expect(env.Client.Get(ctx, key(ns, name), role)).To(Succeed())
	for _, r := range role.Rules {
		g.Expect(r.Verbs).To(HaveEach(BeElementOf("get", "list", "watch")), "runtime role must be read-only: %v", r)
	}

	// The ConfigMap carries the resolved config with the pipeline's generation.
	cm := &corev1.ConfigMap{}
	g.Expect(env.Client.Get(ctx, key(ns, name), cm)).To(Succeed())
	var cfg v1alpha1.RuntimeConfig
	g.Expect(json.Unmarshal([]byte(cm.Data[v1alpha1.RuntimeConfigKey]), &cfg)).To(Succeed())
	g.Expect(cfg.Pipeline.Name).To(Equal("shop"))
	g.Expect(cfg.Pipeline.Generation).To(Equal(int64(1)))
	g.Expect(cfg.Pipeline.Spec.Dedup.Window).To(Equal(v1alpha1.Duration("1h")), "schema defaults are applied")

	// Until the Deployment is available the Pipeline is reconciling.
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(testenv.Condition(p, v1alpha1.ConditionReconciling)).NotTo(BeNil())
		s, err := testenv.KStatus(p)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(Equal(kstatus.InProgressStatus))
	}).Should(Succeed())

	p = readyPipeline(ctx, g, ns, "shop")
	g.Expect(p.Status.ReadyReplicas).To(Equal(int32(1)))
	g.Expect(testenv.Condition(p, v1alpha1.ConditionReconciling)).To(BeNil())
	g.Expect(testenv.ConditionStatus(p, v1alpha1.ConditionDeploymentAvailable)).To(Equal(metav1.ConditionTrue))
	for _, cond := range p.Status.Conditions {
		g.Expect(cond.ObservedGeneration).To(Equal(p.Generation), "condition %s", cond.Type)
	}
	s, err := testenv.KStatus(p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s).To(Equal(kstatus.CurrentStatus))
}

func TestRuleChangesHotReloadButPipelineChangesRoll(t *testing.T) {
	ctx, g, ns := setup(t)
	p := newPipeline(ns, "shop")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	frs := newRuleSet(ns, "card-fraud", "shop", 10)
	g.Expect(env.Client.Create(ctx, frs)).To(Succeed())
	readyPipeline(ctx, g, ns, "shop")

	configOf := func(g Gomega) v1alpha1.RuntimeConfig {
		cm := &corev1.ConfigMap{}
		g.Expect(env.Client.Get(ctx, key(ns, "ecap-shop"), cm)).To(Succeed())
		var cfg v1alpha1.RuntimeConfig
		g.Expect(json.Unmarshal([]byte(cm.Data[v1alpha1.RuntimeConfigKey]), &cfg)).To(Succeed())
		return cfg
	}
	hashOf := func(g Gomega) string {
		dep := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, key(ns, "ecap-shop"), dep)).To(Succeed())
		return dep.Spec.Template.Annotations[v1alpha1.AnnotationConfigHash]
	}
	g.Eventually(func(g Gomega) {
		cfg := configOf(g)
		g.Expect(cfg.FraudRuleSets).To(HaveLen(1))
		g.Expect(cfg.FraudRuleSets[0].Generation).To(Equal(int64(1)))
	}).Should(Succeed())
	hash := hashOf(g)

	// A rule change rewrites the config but does not roll the pods.
	g.Expect(env.Update(ctx, frs, func() { frs.Spec.Rules[0].Score = 70 })).To(Succeed())
	g.Eventually(func(g Gomega) {
		cfg := configOf(g)
		g.Expect(cfg.FraudRuleSets).To(HaveLen(1))
		g.Expect(cfg.FraudRuleSets[0].Generation).To(Equal(int64(2)))
		g.Expect(cfg.FraudRuleSets[0].Spec.Rules[0].Score).To(Equal(int32(70)))
	}).Should(Succeed())
	g.Expect(hashOf(g)).To(Equal(hash), "a rule change must not roll the runtime pods")
	g.Eventually(func(g Gomega) {
		got := &v1alpha1.Pipeline{}
		g.Expect(env.Client.Get(ctx, key(ns, "shop"), got)).To(Succeed())
		g.Expect(got.Status.FraudRuleSets).To(ConsistOf(v1alpha1.AttachedObject{Name: "card-fraud", Generation: 2}))
	}).Should(Succeed())

	// A Pipeline change rolls them.
	g.Expect(env.Update(ctx, p, func() { p.Spec.Dedup.Window = "2h" })).To(Succeed())
	g.Eventually(func(g Gomega) { g.Expect(hashOf(g)).NotTo(Equal(hash)) }).Should(Succeed())

	// Deleting the rule set drops it from the config.
	g.Expect(env.Client.Delete(ctx, frs)).To(Succeed())
	g.Eventually(func(g Gomega) { g.Expect(configOf(g).FraudRuleSets).To(BeEmpty()) }).Should(Succeed())
}

func TestSuspendScalesToZero(t *testing.T) {
	ctx, g, ns := setup(t)
	p := newPipeline(ns, "shop")
	p.Spec.Replicas = ptr.To[int32](3)
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	readyPipeline(ctx, g, ns, "shop")

	g.Expect(env.Update(ctx, p, func() { p.Spec.Suspend = true })).To(Succeed())
	g.Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, key(ns, "ecap-shop"), dep)).To(Succeed())
		g.Expect(*dep.Spec.Replicas).To(BeZero())
	}).Should(Succeed())
	markDeploymentAvailable(ctx, g, ns, "ecap-shop")
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		c := testenv.Condition(p, v1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonSuspended))
		g.Expect(p.Status.Replicas).To(BeZero())
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
	}).Should(Succeed())

	// Resuming restores the replicas.
	g.Expect(env.Update(ctx, p, func() { p.Spec.Suspend = false })).To(Succeed())
	g.Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, key(ns, "ecap-shop"), dep)).To(Succeed())
		g.Expect(*dep.Spec.Replicas).To(Equal(int32(3)))
	}).Should(Succeed())
}

func TestAutoscalingOwnsAnHPA(t *testing.T) {
	ctx, g, ns := setup(t)
	p := newPipeline(ns, "shop")
	p.Spec.Replicas = nil
	p.Spec.Autoscaling = &v1alpha1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 6}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key(ns, "ecap-shop"), hpa)).To(Succeed())
		g.Expect(hpa.Spec.MaxReplicas).To(Equal(int32(6)))
	}).Should(Succeed())

	g.Expect(env.Update(ctx, p, func() { p.Spec.Autoscaling = nil })).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, key(ns, "ecap-shop"), &autoscalingv2.HorizontalPodAutoscaler{}))
	}).Should(BeTrue())
}

func TestDeletedDeploymentIsRecreated(t *testing.T) {
	ctx, g, ns := setup(t)
	g.Expect(env.Client.Create(ctx, newPipeline(ns, "shop"))).To(Succeed())
	readyPipeline(ctx, g, ns, "shop")
	dep := &appsv1.Deployment{}
	g.Expect(env.Client.Get(ctx, key(ns, "ecap-shop"), dep)).To(Succeed())
	oldUID := dep.UID
	g.Expect(env.Client.Delete(ctx, dep)).To(Succeed())
	g.Eventually(func(g Gomega) {
		fresh := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, key(ns, "ecap-shop"), fresh)).To(Succeed())
		g.Expect(fresh.UID).NotTo(Equal(oldUID))
	}).Should(Succeed())
	// The fresh Deployment has no available replicas yet: not Ready.
	g.Eventually(func(g Gomega) {
		p := &v1alpha1.Pipeline{}
		g.Expect(env.Client.Get(ctx, key(ns, "shop"), p)).To(Succeed())
		g.Expect(testenv.ConditionStatus(p, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionFalse))
	}).Should(Succeed())
}

func TestSteadyStateMakesNoWrites(t *testing.T) {
	ctx, g, ns := setup(t)
	g.Expect(env.Client.Create(ctx, newPipeline(ns, "shop"))).To(Succeed())
	g.Expect(env.Client.Create(ctx, newRuleSet(ns, "card-fraud", "shop", 10))).To(Succeed())
	readyPipeline(ctx, g, ns, "shop")
	// Let any in-flight reconcile finish.
	var before int64
	g.Eventually(func() int64 {
		w := env.Writes(ns)
		if w != before {
			before = w
			return -1
		}
		return w
	}, 10*time.Second, time.Second).Should(BeNumerically(">", 0))

	reconcilesBefore, err := testenv.ReconcileTotal("pipeline")
	g.Expect(err).NotTo(HaveOccurred())
	// Poke the Pipeline and a child: both trigger reconciles that must find
	// nothing to do.
	p := newPipeline(ns, "shop")
	g.Expect(env.Update(ctx, p, func() { p.Annotations = map[string]string{"poke": "1"} })).To(Succeed())
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ecap-shop"}}
	g.Expect(env.Update(ctx, dep, func() { dep.Labels["poke"] = "1" })).To(Succeed())

	g.Eventually(func() float64 {
		n, _ := testenv.ReconcileTotal("pipeline")
		return n
	}).Should(BeNumerically(">=", reconcilesBefore+2))
	g.Consistently(func() int64 { return env.Writes(ns) }, 3*time.Second, 200*time.Millisecond).Should(Equal(before))
}

func TestInvalidSpecIsStalledNotRetried(t *testing.T) {
	ctx, g, ns := setup(t)
	// The webhook refuses the spec at admission.
	bad := newPipeline(ns, "bad")
	bad.Spec.KPIs.Windows[1].Advance = "2m" // 5m is not a multiple of 2m
	err := env.Client.Create(ctx, bad)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("spec.kpis.windows[1].advance"))

	// What slips past admission (here: the webhook is removed) ends Stalled.
	withoutWebhooks(ctx, g, func() {
		// The API server drops a deleted webhook configuration through its
		// own watch, a moment later: retry until it admits the spec.
		g.Eventually(func() error { return env.Client.Create(ctx, bad) }).Should(Succeed())
	})
	p := &v1alpha1.Pipeline{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key(ns, "bad"), p)).To(Succeed())
		c := testenv.Condition(p, v1alpha1.ConditionStalled)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonInvalidSpec))
		g.Expect(c.Message).To(ContainSubstring("spec.kpis.windows[1].advance"))
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
		s, err := testenv.KStatus(p)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(Equal(kstatus.FailedStatus))
	}).Should(Succeed())
	// Nothing was deployed for it.
	g.Expect(apierrors.IsNotFound(env.Client.Get(ctx, key(ns, "ecap-bad"), &appsv1.Deployment{}))).To(BeTrue())

	// Fixing the spec recovers.
	g.Expect(env.Update(ctx, p, func() { p.Spec.KPIs.Windows[1].Advance = "1m" })).To(Succeed())
	readyPipeline(ctx, g, ns, "bad")
}

func TestLiveMetricsAndLagStall(t *testing.T) {
	ctx, g, ns := setup(t)
	p := newPipeline(ns, "shop")
	p.Spec.StallAfter = "5m"
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	src := &fixedMetrics{m: pipeline.LiveMetrics{Lag: 1200, EventsPerSecond: 350, DeadLettered: 7, Progressed: true}}
	env.Metrics.Set(src)
	t.Cleanup(func() { env.Metrics.Set(nil) })
	readyPipeline(ctx, g, ns, "shop")
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(p.Status.Lag).To(Equal(ptr.To[int64](1200)))
		g.Expect(p.Status.EventsPerSecond).To(Equal(ptr.To[int64](350)))
		g.Expect(p.Status.DeadLettered).To(Equal(ptr.To[int64](7)))
		g.Expect(testenv.ConditionStatus(p, v1alpha1.ConditionKafkaReachable)).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())

	// Lag with no progress for longer than stallAfter: Stalled.
	src.set(pipeline.LiveMetrics{Lag: 1500, Progressed: false})
	env.Clock.Step(6 * time.Minute)
	g.Expect(env.Update(ctx, p, func() { p.Annotations = map[string]string{"poke": "1"} })).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		c := testenv.Condition(p, v1alpha1.ConditionStalled)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonLagNotDecreasing))
	}).Should(Succeed())
}

// withoutWebhooks runs f with the validating webhook configuration removed,
// to create objects that slipped past admission.
func withoutWebhooks(ctx context.Context, g Gomega, f func()) {
	list := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	g.Expect(env.Client.List(ctx, list)).To(Succeed())
	var saved []admissionregistrationv1.ValidatingWebhookConfiguration
	for i := range list.Items {
		item := list.Items[i].DeepCopy()
		saved = append(saved, *item)
		g.Expect(env.Client.Delete(ctx, &list.Items[i])).To(Succeed())
	}
	defer func() {
		for i := range saved {
			saved[i].ResourceVersion = ""
			saved[i].UID = ""
			g.Expect(env.Client.Create(ctx, &saved[i])).To(Succeed())
		}
	}()
	f()
}
