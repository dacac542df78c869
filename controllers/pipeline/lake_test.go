package pipeline_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/testenv"
)

// TestLakeUnavailableIsStalled: a runtime reporting a failing lake makes
// the Pipeline Stalled with the store's error (the runtime itself keeps
// running); once the lake answers again the Pipeline is Ready.
func TestLakeUnavailableIsStalled(t *testing.T) {
	ctx, g, ns := setup(t)
	p := newPipeline(ns, "lakeshop")
	p.Spec.Sinks.Lake = &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions},
		Local: &v1alpha1.LocalLake{Path: "/lake", ClaimName: "lake"}}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	src := &fixedMetrics{m: pipeline.LiveMetrics{LakeReported: true, Progressed: true}}
	env.Metrics.Set(src)
	t.Cleanup(func() { env.Metrics.Set(nil) })
	readyPipeline(ctx, g, ns, "lakeshop")
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		c := testenv.Condition(p, v1alpha1.ConditionLakeWritable)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())

	src.set(pipeline.LiveMetrics{LakeReported: true, LakeError: "stage: failed to put lake/x.parquet: connection refused", Progressed: true})
	env.Clock.Step(time.Minute) // past the live-figures refresh interval
	g.Expect(env.Update(ctx, p, func() { p.Annotations = map[string]string{"poke": "1"} })).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		c := testenv.Condition(p, v1alpha1.ConditionStalled)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonLakeUnavailable))
		g.Expect(c.Message).To(ContainSubstring("connection refused"))
		g.Expect(testenv.Condition(p, v1alpha1.ConditionLakeWritable).Status).To(Equal(metav1.ConditionFalse))
	}).Should(Succeed())

	src.set(pipeline.LiveMetrics{LakeReported: true, Progressed: true})
	env.Clock.Step(time.Minute)
	g.Expect(env.Update(ctx, p, func() { p.Annotations = map[string]string{"poke": "2"} })).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(testenv.Condition(p, v1alpha1.ConditionStalled)).To(BeNil())
		g.Expect(testenv.Condition(p, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
}
