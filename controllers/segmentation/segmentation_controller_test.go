package segmentation_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/segmentation"
	"github.com/ecap-dev/ecap/controllers/testenv"
)

func seg(ns, name, pipeline string) *v1alpha1.Segmentation {
	return &v1alpha1.Segmentation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.SegmentationSpec{PipelineRef: v1alpha1.LocalObjectReference{Name: pipeline}, Schedule: "@every 10m"},
	}
}

func TestSegmentationReadyWithDefaultsAndSchedule(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	g.Expect(env.Client.Create(ctx, testenv.Pipeline(ns, "shop"))).To(Succeed())
	s := seg(ns, "rfm", "shop")
	g.Expect(env.Client.Create(ctx, s)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, s)).To(Succeed())
		g.Expect(testenv.Condition(s, v1alpha1.ConditionReady)).NotTo(BeNil())
		g.Expect(testenv.ConditionStatus(s, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(s.Status.ObservedGeneration).To(Equal(s.Generation))
		g.Expect(s.Status.NextRunTime).NotTo(BeNil())
		g.Expect(s.Status.NextRunTime.Time).To(BeTemporally("==", env.Clock.Now().Add(10*time.Minute)))
		st, err := testenv.KStatus(s)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(st).To(Equal(kstatus.CurrentStatus))
	}).Should(Succeed())
	g.Expect(s.Spec.RFM.Bins).To(Equal(int32(5)))
	g.Expect(s.Spec.TimeUnit).To(Equal(v1alpha1.UnitWeek))
	g.Expect(s.Spec.CLV.AnnualDiscountPercent).To(Equal(int32(10)))

	// The Pipeline folds it into the runtime config.
	g.Eventually(func(g Gomega) {
		p := &v1alpha1.Pipeline{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, p)).To(Succeed())
		g.Expect(p.Status.Segmentations).To(ConsistOf(v1alpha1.AttachedObject{Name: "rfm", Generation: 1}))
	}).Should(Succeed())

	// A settled object reconciles without writes.
	c, writes := env.CountingClient()
	r := &segmentation.Reconciler{Client: c, Recorder: testenv.NoEvents{}, Clock: env.Clock}
	for range 3 {
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s)})
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(writes.Load()).To(BeZero())
}

func TestSegmentationInvalidSpecs(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	cases := []struct {
		name   string
		mutate func(*v1alpha1.Segmentation)
		want   string
	}{
		{"malformed schedule", func(s *v1alpha1.Segmentation) { s.Spec.Schedule = "every tuesday" }, "spec.schedule"},
		{"range beyond bins", func(s *v1alpha1.Segmentation) {
			s.Spec.RFM.Bins = 3
			s.Spec.RFM.Segments = []v1alpha1.SegmentRule{{Name: "Top", Frequency: &v1alpha1.ScoreRange{Min: 2, Max: 4}}}
		}, "spec.rfm.segments[0].frequency.max"},
		{"min above max", func(s *v1alpha1.Segmentation) {
			s.Spec.RFM.Segments = []v1alpha1.SegmentRule{{Name: "Odd", Recency: &v1alpha1.ScoreRange{Min: 4, Max: 2}}}
		}, "min must not exceed max"},
		{"bad time unit", func(s *v1alpha1.Segmentation) { s.Spec.TimeUnit = "fortnight" }, "spec.timeUnit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := seg(ns, "bad", "shop")
			tc.mutate(s)
			err := env.Client.Create(ctx, s)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
	_ = g
}

func TestSegmentationMissingPipelineRecovers(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	s := seg(ns, "rfm", "later")
	g.Expect(env.Client.Create(ctx, s)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, s)).To(Succeed())
		c := testenv.Condition(s, v1alpha1.ConditionStalled)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonPipelineNotFound))
	}).Should(Succeed())
	g.Expect(env.Client.Create(ctx, testenv.Pipeline(ns, "later"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, s)).To(Succeed())
		g.Expect(testenv.ConditionStatus(s, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
}
