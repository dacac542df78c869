package fraudruleset_test

import (
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/fraudruleset"
	"github.com/ecap-dev/ecap/controllers/testenv"
)

func ruleSet(ns, name, pipeline string, rules ...v1alpha1.FraudRule) *v1alpha1.FraudRuleSet {
	return &v1alpha1.FraudRuleSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.FraudRuleSetSpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: pipeline},
			Features: []v1alpha1.VelocityFeature{
				{Name: "card_txns_10m", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "10m"},
			},
			Rules: rules,
		},
	}
}

var (
	bigAmount   = v1alpha1.FraudRule{Name: "big-amount", Expression: "txn.amount > 1000.0", Score: 60}
	cardTesting = v1alpha1.FraudRule{Name: "card-testing", Expression: "features.card_txns_10m >= 5", Score: 60}
)

func TestRuleSetCompilesAndAttaches(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	g.Expect(env.Client.Create(ctx, testenv.Pipeline(ns, "shop"))).To(Succeed())
	off := false
	disabled := v1alpha1.FraudRule{Name: "off", Expression: "true", Score: 1, Enabled: &off}
	f := ruleSet(ns, "card-fraud", "shop", bigAmount, cardTesting, disabled)
	g.Expect(env.Client.Create(ctx, f)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, f)).To(Succeed())
		c := testenv.Condition(f, v1alpha1.ConditionRulesCompiled)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(f.Status.CompiledRules).To(Equal(int32(2)))
		g.Expect(testenv.ConditionStatus(f, v1alpha1.ConditionPipelineResolved)).To(Equal(metav1.ConditionTrue))
		g.Expect(testenv.ConditionStatus(f, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(f.Status.ObservedGeneration).To(Equal(f.Generation))
		g.Expect(f.Status.Rules).To(HaveLen(3))
		s, err := testenv.KStatus(f)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(Equal(kstatus.CurrentStatus))
	}).Should(Succeed())
	// Schema defaults reached the stored object.
	g.Expect(f.Spec.Thresholds).To(Equal(v1alpha1.OutcomeThresholds{Review: 50, Block: 100}))
	g.Expect(f.Spec.Rules[0].Mode).To(Equal(v1alpha1.RuleModeEnforce))
}

func TestWebhookRefusesRuleThatDoesNotCompile(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	cases := []struct {
		name string
		rule v1alpha1.FraudRule
		want []string
	}{
		{"syntax error", v1alpha1.FraudRule{Name: "broken", Expression: "txn.amount > > 1", Score: 1}, []string{`rule "broken"`, "spec.rules[0].expression", "Syntax error"}},
		{"undeclared feature", v1alpha1.FraudRule{Name: "ghost", Expression: "features.nope > 1", Score: 1}, []string{`rule "ghost"`, "nope"}},
		{"not a bool", v1alpha1.FraudRule{Name: "number", Expression: "txn.amount * 2.0", Score: 1}, []string{`rule "number"`, "bool"}},
		{"unknown variable", v1alpha1.FraudRule{Name: "who", Expression: "user.age > 3", Score: 1}, []string{`rule "who"`, "user"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			err := env.Client.Create(ctx, ruleSet(ns, "invalid", "shop", tc.rule))
			g.Expect(err).To(HaveOccurred())
			for _, w := range tc.want {
				g.Expect(err.Error()).To(ContainSubstring(w))
			}
		})
	}

	// An update that breaks a rule is refused too; the stored rules stay.
	f := ruleSet(ns, "good", "shop", bigAmount)
	g.Expect(env.Client.Create(ctx, f)).To(Succeed())
	// The controller writes status concurrently: retry on conflicts, never
	// on the admission error this test expects.
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, f)).To(Succeed())
		f.Spec.Rules[0].Expression = "txn.amount >"
		err := env.Client.Update(ctx, f)
		g.Expect(apierrors.IsConflict(err)).To(BeFalse())
		g.Expect(err).To(MatchError(ContainSubstring(`rule "big-amount"`)))
	}).Should(Succeed())
	g.Expect(env.Get(ctx, f)).To(Succeed())
	g.Expect(f.Spec.Rules[0].Expression).To(Equal(bigAmount.Expression))
}

func TestMissingPipelineIsReportedAndRecovers(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	f := ruleSet(ns, "card-fraud", "later", bigAmount)
	g.Expect(env.Client.Create(ctx, f)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, f)).To(Succeed())
		c := testenv.Condition(f, v1alpha1.ConditionPipelineResolved)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonPipelineNotFound))
		g.Expect(c.Message).To(ContainSubstring(`"later"`))
		g.Expect(testenv.Condition(f, v1alpha1.ConditionStalled)).NotTo(BeNil())
		s, err := testenv.KStatus(f)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(Equal(kstatus.FailedStatus))
	}).Should(Succeed())

	later := testenv.Pipeline(ns, "later")
	g.Expect(env.Client.Create(ctx, later)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, f)).To(Succeed())
		g.Expect(testenv.ConditionStatus(f, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(testenv.Condition(f, v1alpha1.ConditionStalled)).To(BeNil())
	}).Should(Succeed())

	// Deleting the Pipeline is reported again.
	g.Expect(env.Client.Delete(ctx, later)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, f)).To(Succeed())
		c := testenv.Condition(f, v1alpha1.ConditionPipelineResolved)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(testenv.Condition(f, v1alpha1.ConditionStalled)).NotTo(BeNil())
	}).Should(Succeed())
}

func TestRuleSetSteadyStateMakesNoWrites(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	g.Expect(env.Client.Create(ctx, testenv.Pipeline(ns, "shop"))).To(Succeed())
	f := ruleSet(ns, "card-fraud", "shop", bigAmount)
	g.Expect(env.Client.Create(ctx, f)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, f)).To(Succeed())
		g.Expect(f.Status.ObservedGeneration).To(Equal(f.Generation))
		g.Expect(testenv.ConditionStatus(f, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())

	// Reconcile the settled object again with a write-counting client.
	c, writes := env.CountingClient()
	r := &fraudruleset.Reconciler{Client: c, Recorder: testenv.NoEvents{}, Clock: env.Clock}
	for range 3 {
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(f)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(writes.Load()).To(BeZero())

	// The same client does count: a spec change makes exactly one status write.
	g.Expect(env.Update(ctx, f, func() { f.Spec.Rules = append(f.Spec.Rules, cardTesting) })).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(f), f)).To(Succeed())
		g.Expect(f.Spec.Rules).To(HaveLen(2))
	}).Should(Succeed())
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(f)})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(writes.Load()).To(BeNumerically("<=", 1))
}
