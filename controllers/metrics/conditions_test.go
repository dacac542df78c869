package metrics_test

import (
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/metrics"
	"github.com/ecap-dev/ecap/controllers/testenv"
)

// conditionSeries returns the ecap_resource_condition series of one object as
// "type=status/reason" strings, sorted.
func conditionSeries(g Gomega, kind, ns, name string) []string {
	fams, err := ctrlmetrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, f := range fams {
		if f.GetName() != metrics.ResourceConditionMetric {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["kind"] == kind && l["resource_namespace"] == ns && l["name"] == name {
				g.Expect(m.GetGauge().GetValue()).To(Equal(1.0))
				out = append(out, l["type"]+"="+l["status"]+"/"+l["reason"])
			}
		}
	}
	slices.Sort(out)
	return out
}

func conditionStrings(conds []metav1.Condition) []string {
	var out []string
	for _, c := range conds {
		out = append(out, c.Type+"="+string(c.Status)+"/"+c.Reason)
	}
	slices.Sort(out)
	return out
}

func TestResourceConditionFollowsStatus(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	p := testenv.Pipeline(ns, "shop")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	// A rule set whose Pipeline does not exist cannot become Ready.
	f := &v1alpha1.FraudRuleSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orphan"},
		Spec: v1alpha1.FraudRuleSetSpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "ghost"},
			Rules: []v1alpha1.FraudRule{{Name: "big", Expression: "txn.amount > 1000.0", Score: 60}}},
	}
	g.Expect(env.Client.Create(ctx, f)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, f)).To(Succeed())
		g.Expect(testenv.Condition(f, v1alpha1.ConditionReady)).NotTo(BeNil())
		g.Expect(testenv.ConditionStatus(f, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionFalse))
		g.Expect(conditionSeries(g, "FraudRuleSet", ns, "orphan")).To(Equal(conditionStrings(f.Status.Conditions)))
		g.Expect(conditionSeries(g, "FraudRuleSet", ns, "orphan")).To(ContainElement(v1alpha1.ConditionRulesCompiled + "=True/" + v1alpha1.ReasonCompiled))

		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(p.Status.Conditions).NotTo(BeEmpty())
		g.Expect(conditionSeries(g, "Pipeline", ns, "shop")).To(Equal(conditionStrings(p.Status.Conditions)))
	}).Should(Succeed())

	// Deleted objects take their series with them.
	g.Expect(env.Client.Delete(ctx, f)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(conditionSeries(g, "FraudRuleSet", ns, "orphan")).To(BeEmpty())
	}).Should(Succeed())
}
