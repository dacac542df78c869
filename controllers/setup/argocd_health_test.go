package setup_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/deploy/argocd"
)

var updateHealthFixtures = flag.Bool("update", false,
	"write the live objects of TestArgoCDHealthOfLiveObjects to deploy/argocd/testdata as fixtures")

// healthFixture is the file format of deploy/argocd/testdata/*.json: a live
// object taken from this suite and the health its script must report.
type healthFixture struct {
	Description string         `json:"description"`
	Want        argocd.Health  `json:"want"`
	Object      map[string]any `json:"object"`
}

// TestArgoCDHealthOfLiveObjects drives real objects through the real
// controllers into the states Argo CD must tell apart, runs each kind's Lua
// health script on the object as the API server returns it, and (with
// -update) records the objects as the fixtures of deploy/argocd's tests.
func TestArgoCDHealthOfLiveObjects(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	fixtures := map[string]healthFixture{}

	// check evaluates kind's script on obj as it is now and records it.
	check := func(name, description string, obj client.Object, want, wantMessage string) {
		t.Helper()
		gvk, err := apiutil.GVKForObject(obj, env.Client.Scheme())
		g.Expect(err).NotTo(HaveOccurred())
		u, err := kruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
		g.Expect(err).NotTo(HaveOccurred())
		u["apiVersion"], u["kind"] = gvk.GroupVersion().String(), gvk.Kind
		script, err := argocd.Script(gvk.Kind)
		g.Expect(err).NotTo(HaveOccurred())
		got, err := argocd.Evaluate(script, u)
		g.Expect(err).NotTo(HaveOccurred(), name)
		g.Expect(got.Status).To(Equal(want), "%s: %s (message %q)", name, description, got.Message)
		g.Expect(got.Message).To(ContainSubstring(wantMessage), name)
		fixtures[name] = healthFixture{Description: description, Want: argocd.Health{Status: want, Message: wantMessage}, Object: normalize(u, ns)}
	}
	ready := func(obj v1alpha1.ConditionedObject, reason string) func(Gomega) {
		return func(g Gomega) {
			g.Expect(env.Get(ctx, obj.(client.Object))).To(Succeed())
			c := testenv.Condition(obj, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(reason))
			g.Expect(obj.(client.Object).GetGeneration()).To(Equal(observedGeneration(obj)))
		}
	}
	stalled := func(obj v1alpha1.ConditionedObject, reason string) func(Gomega) {
		return func(g Gomega) {
			g.Expect(env.Get(ctx, obj.(client.Object))).To(Succeed())
			c := testenv.Condition(obj, v1alpha1.ConditionStalled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(reason))
			g.Expect(obj.(client.Object).GetGeneration()).To(Equal(observedGeneration(obj)))
		}
	}

	// Pipeline: rolling out, rolled out, spec changed, suspended, stuck.
	p := testenv.Pipeline(ns, "shop")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(testenv.Condition(p, v1alpha1.ConditionReconciling)).NotTo(BeNil())
	}).Should(Succeed())
	check("pipeline-rolling-out", "a new Pipeline whose runtime Deployment has no ready pods yet", p, argocd.StatusProgressing, "waiting for the runtime rollout")
	playDeployment(ctx, g, p, nil)
	g.Eventually(ready(p, v1alpha1.ReasonSucceeded)).Should(Succeed())
	check("pipeline-healthy", "a Pipeline whose runtime Deployment is rolled out", p, argocd.StatusHealthy, "runtime replicas ready")

	// The API server's answer to the update carries the new generation and
	// the Ready of the previous one: the stale Ready Argo CD must not trust.
	g.Expect(env.Update(ctx, p, func() { p.Spec.Topics.DeadLetter = "dlq-v2" })).To(Succeed())
	g.Expect(testenv.ConditionStatus(p, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	check("pipeline-spec-changed", "a healthy Pipeline right after a spec change (Ready of the previous generation)", p, argocd.StatusProgressing, "generation 2")
	playDeployment(ctx, g, p, nil)
	g.Eventually(ready(p, v1alpha1.ReasonSucceeded)).Should(Succeed())

	g.Expect(env.Update(ctx, p, func() { p.Spec.Suspend = true })).To(Succeed())
	playDeployment(ctx, g, p, nil)
	g.Eventually(ready(p, v1alpha1.ReasonSuspended)).Should(Succeed())
	check("pipeline-suspended", "a Pipeline with spec.suspend, scaled to zero", p, argocd.StatusSuspended, "suspended")

	stuck := testenv.Pipeline(ns, "stuck")
	g.Expect(env.Client.Create(ctx, stuck)).To(Succeed())
	playDeployment(ctx, g, stuck, func(s *appsv1.DeploymentStatus) {
		s.ReadyReplicas, s.AvailableReplicas = 0, 0
		s.Conditions = []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
			Message: `ReplicaSet "ecap-stuck-5d4f" has timed out progressing.`,
		}}
	})
	g.Eventually(stalled(stuck, v1alpha1.ReasonDeploymentUnavailable)).Should(Succeed())
	check("pipeline-rollout-stalled", "a Pipeline whose runtime rollout exceeded its progress deadline", stuck, argocd.StatusDegraded, "progress deadline")

	// FraudRuleSet: compiled, spec changed, pipeline missing, rule broken.
	rules := fraudRuleSet(ns, "card-fraud", "shop", "txn.amount > 1000.0")
	g.Expect(env.Client.Create(ctx, rules)).To(Succeed())
	g.Eventually(ready(rules, v1alpha1.ReasonSucceeded)).Should(Succeed())
	check("fraudruleset-healthy", "a FraudRuleSet whose rules compiled for an existing Pipeline", rules, argocd.StatusHealthy, "rules compiled")
	g.Expect(env.Update(ctx, rules, func() { rules.Spec.Rules[0].Score = 70 })).To(Succeed())
	check("fraudruleset-spec-changed", "a FraudRuleSet right after a rule change", rules, argocd.StatusProgressing, "generation 2")

	orphan := fraudRuleSet(ns, "orphan", "missing", "txn.amount > 1000.0")
	g.Expect(env.Client.Create(ctx, orphan)).To(Succeed())
	g.Eventually(stalled(orphan, v1alpha1.ReasonPipelineNotFound)).Should(Succeed())
	check("fraudruleset-pipeline-not-found", "a FraudRuleSet whose spec.pipelineRef names no Pipeline", orphan, argocd.StatusDegraded, `"missing"`)

	// The webhook refuses a rule that does not compile; what reaches the
	// controller anyway (webhook down or skipped) ends Stalled. Let labelled
	// objects skip the FraudRuleSet webhook for this one object.
	bypassFraudRuleSetWebhook(ctx, t, g)
	broken := fraudRuleSet(ns, "broken", "shop", "txn.amount > > 1")
	broken.Labels = map[string]string{bypassLabel: "true"}
	g.Eventually(func() error { return env.Client.Create(ctx, broken) }).Should(Succeed())
	g.Eventually(stalled(broken, v1alpha1.ReasonCompileFailed)).Should(Succeed())
	check("fraudruleset-compile-failed", "a FraudRuleSet with a rule that does not compile (admitted past the webhook)", broken, argocd.StatusDegraded, `rule "r0"`)

	// Segmentation: scheduled, spec changed, pipeline missing.
	seg := &v1alpha1.Segmentation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rfm"},
		Spec:       v1alpha1.SegmentationSpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"}, Schedule: "@every 10m"},
	}
	g.Expect(env.Client.Create(ctx, seg)).To(Succeed())
	g.Eventually(ready(seg, v1alpha1.ReasonSucceeded)).Should(Succeed())
	check("segmentation-healthy", "a Segmentation attached to an existing Pipeline", seg, argocd.StatusHealthy, "scored by the runtime")
	g.Expect(env.Update(ctx, seg, func() { seg.Spec.Schedule = "@every 20m" })).To(Succeed())
	check("segmentation-spec-changed", "a Segmentation right after a schedule change", seg, argocd.StatusProgressing, "generation 2")
	lost := seg.DeepCopy()
	lost.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "lost"}
	lost.Spec.PipelineRef.Name = "missing"
	g.Expect(env.Client.Create(ctx, lost)).To(Succeed())
	g.Eventually(stalled(lost, v1alpha1.ReasonPipelineNotFound)).Should(Succeed())
	check("segmentation-pipeline-not-found", "a Segmentation whose spec.pipelineRef names no Pipeline", lost, argocd.StatusDegraded, `"missing"`)

	// RetentionPolicy: scheduled, spec changed, suspended.
	rp := &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "retain-90d"},
		Spec: v1alpha1.RetentionPolicySpec{
			PipelineRef:   v1alpha1.LocalObjectReference{Name: "shop"},
			Schedule:      "30 2 * * *",
			CustomerState: &v1alpha1.CustomerStateRetention{InactiveAfter: "730d"},
		},
	}
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())
	g.Eventually(ready(rp, v1alpha1.ReasonSucceeded)).Should(Succeed())
	check("retentionpolicy-healthy", "a RetentionPolicy whose CronJob is in place", rp, argocd.StatusHealthy, "scheduled")
	g.Expect(env.Update(ctx, rp, func() { rp.Spec.Schedule = "45 3 * * *" })).To(Succeed())
	check("retentionpolicy-spec-changed", "a RetentionPolicy right after a schedule change", rp, argocd.StatusProgressing, "generation 2")
	g.Expect(env.Update(ctx, rp, func() { rp.Spec.Suspend = true })).To(Succeed())
	g.Eventually(ready(rp, v1alpha1.ReasonSuspended)).Should(Succeed())
	check("retentionpolicy-suspended", "a RetentionPolicy with spec.suspend", rp, argocd.StatusSuspended, "suspended")

	if *updateHealthFixtures {
		dir := filepath.Join(testenv.RepoRoot(), "deploy", "argocd", "testdata")
		g.Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
		old, err := filepath.Glob(filepath.Join(dir, "*.json"))
		g.Expect(err).NotTo(HaveOccurred())
		for _, f := range old {
			g.Expect(os.Remove(f)).To(Succeed())
		}
		for name, f := range fixtures {
			data, err := json.MarshalIndent(f, "", "  ")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(os.WriteFile(filepath.Join(dir, name+".json"), append(data, '\n'), 0o644)).To(Succeed())
		}
		t.Logf("wrote %d fixtures to %s", len(fixtures), dir)
	}
}

func observedGeneration(obj v1alpha1.ConditionedObject) int64 {
	switch o := obj.(type) {
	case *v1alpha1.Pipeline:
		return o.Status.ObservedGeneration
	case *v1alpha1.FraudRuleSet:
		return o.Status.ObservedGeneration
	case *v1alpha1.Segmentation:
		return o.Status.ObservedGeneration
	case *v1alpha1.RetentionPolicy:
		return o.Status.ObservedGeneration
	}
	return -1
}

func fraudRuleSet(ns, name, pipeline, expression string) *v1alpha1.FraudRuleSet {
	return &v1alpha1.FraudRuleSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.FraudRuleSetSpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: pipeline},
			Rules:       []v1alpha1.FraudRule{{Name: "r0", Expression: expression, Score: 60}},
		},
	}
}

// playDeployment plays the Deployment controller, which envtest lacks: it
// reports the Pipeline's runtime Deployment as rolled out at its current
// generation, then lets mutate adjust the status.
func playDeployment(ctx context.Context, g Gomega, p *v1alpha1.Pipeline, mutate func(*appsv1.DeploymentStatus)) {
	g.Eventually(func(g Gomega) {
		// Wait for the controller to have written the Deployment of the
		// Pipeline's current generation: it reports Reconciling for that
		// generation only after writing its children.
		g.Expect(env.Get(ctx, p)).To(Succeed())
		rec := testenv.Condition(p, v1alpha1.ConditionReconciling)
		g.Expect(rec).NotTo(BeNil())
		g.Expect(rec.ObservedGeneration).To(Equal(p.Generation))
		dep := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: "ecap-" + p.Name}, dep)).To(Succeed())
		n := ptr.Deref(dep.Spec.Replicas, 1)
		g.Expect(n == 0).To(Equal(p.Spec.Suspend), "suspend scales the runtime to zero")
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if mutate != nil {
			mutate(&dep.Status)
		}
		g.Expect(env.Client.Status().Update(ctx, dep)).To(Succeed())
	}).Should(Succeed())
}

// bypassLabel lets an object skip the FraudRuleSet webhook while
// bypassFraudRuleSetWebhook is in force.
const bypassLabel = "test.ecap.dev/skip-webhook"

// bypassFraudRuleSetWebhook adds an objectSelector to the suite's
// FraudRuleSet webhook so that objects labelled bypassLabel skip it, and
// restores the webhook when the test ends. Unlabelled objects are still
// validated, so other tests are unaffected.
func bypassFraudRuleSetWebhook(ctx context.Context, t *testing.T, g Gomega) {
	t.Helper()
	var vwcs admissionv1.ValidatingWebhookConfigurationList
	g.Expect(env.Client.List(ctx, &vwcs)).To(Succeed())
	for i := range vwcs.Items {
		vwc := &vwcs.Items[i]
		for j := range vwc.Webhooks {
			if !strings.HasPrefix(vwc.Webhooks[j].Name, "vfraudruleset.") {
				continue
			}
			original := vwc.DeepCopy()
			vwc.Webhooks[j].ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: bypassLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
			}}
			g.Expect(env.Client.Update(ctx, vwc)).To(Succeed())
			t.Cleanup(func() {
				current := &admissionv1.ValidatingWebhookConfiguration{}
				if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(original), current); err != nil {
					t.Errorf("failed to restore the FraudRuleSet webhook: %v", err)
					return
				}
				current.Webhooks = original.Webhooks
				if err := env.Client.Update(context.Background(), current); err != nil {
					t.Errorf("failed to restore the FraudRuleSet webhook: %v", err)
				}
			})
			return
		}
	}
	t.Fatal("no FraudRuleSet webhook installed in the suite")
}

// normalize drops what differs from run to run (UIDs, resource versions,
// timestamps of creation, managed fields) and renames the test's generated
// namespace to "shop" wherever it appears, so that regenerated fixtures only
// differ where behaviour did.
func normalize(u map[string]any, ns string) map[string]any {
	u = kruntime.DeepCopyJSON(u)
	meta, _ := u["metadata"].(map[string]any)
	for _, k := range []string{"managedFields", "uid", "resourceVersion", "creationTimestamp"} {
		delete(meta, k)
	}
	return renameNamespace(u, ns).(map[string]any)
}

func renameNamespace(v any, ns string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, item := range v {
			v[k] = renameNamespace(item, ns)
		}
	case []any:
		for i, item := range v {
			v[i] = renameNamespace(item, ns)
		}
	case string:
		return strings.ReplaceAll(v, ns, "shop")
	}
	return v
}

// The install command of deploy/argocd/README.md merges the scripts into an
// existing argocd-cm and keeps its other keys.
func TestArgoCDConfigMapPatchInstalls(t *testing.T) {
	ctx, g, _ := env.Setup(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}
	g.Expect(env.Client.Create(ctx, ns)).To(Succeed())
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "argocd-cm"},
		Data:       map[string]string{"url": "https://argocd.example.com"},
	}
	g.Expect(env.Client.Create(ctx, cm)).To(Succeed())

	out, err := kubectl("-n", "argocd", "patch", "configmap", "argocd-cm", "--type", "merge",
		"--patch-file", filepath.Join(testenv.RepoRoot(), "deploy", "argocd", "argocd-cm.yaml"))
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(env.Get(ctx, cm)).To(Succeed())
	g.Expect(cm.Data).To(HaveKeyWithValue("url", "https://argocd.example.com"))
	for _, kind := range argocd.Kinds {
		script, err := argocd.Script(kind)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cm.Data).To(HaveKeyWithValue(argocd.ConfigKey(kind), script))
	}
}
