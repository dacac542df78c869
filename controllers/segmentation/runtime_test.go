package segmentation_test

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/admin"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// runtimeIP is where the test's runtime serves its admin port; the
// controllers read pods on <podIP>:env.RuntimeAdminPort.
const runtimeIP = "127.0.0.1"

// End to end through the API server: the CDNOW calibration period is
// produced to Kafka as transaction events, a runtime runs the RuntimeConfig
// the Pipeline controller wrote into its ConfigMap, the run-now annotation
// asks for a run, and the Segmentation's status shows the BG/NBD estimates
// of Fader, Hardie & Lee (2005), the customers and segments, Ready only
// once the runtime applied the generation.
func TestSegmentationStatusShowsCDNOWEstimates(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	adminAddr := net.JoinHostPort(runtimeIP, strconv.Itoa(env.RuntimeAdminPort))

	kafka := kafkatest.Start(t)
	kafka.CreateTopic(t, "txns", 3, nil)
	// The whole sample, calibration and holdout periods (6,919 rows).
	cdnowDir := filepath.Join("..", "..", "..", "shared", "datasets", "cdnow")
	txns, err := enginetest.CDNOWEvents(cdnowDir, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(txns).To(HaveLen(6919))
	recs := make([]kafkatest.Record, len(txns))
	for i, x := range txns {
		recs[i] = kafkatest.Record{Key: x.Key, Value: x.Value}
	}
	kafka.Produce(t, "txns", recs...)

	p := testenv.Pipeline(ns, "cdnow")
	p.Spec.Kafka.Brokers = kafka.Addrs()
	// A backfill: events from 1997 pass validation with a long maxEventAge.
	p.Spec.Validation.MaxEventAge = "1600w"
	p.Spec.Sinks.CustomerProfilesTopic = "cdnow.profiles"
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	s := &v1alpha1.Segmentation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fhl2005", Annotations: map[string]string{v1alpha1.AnnotationRunNow: "first"}},
		Spec: v1alpha1.SegmentationSpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "cdnow"}, Schedule: "@every 24h",
			TimeUnit: v1alpha1.UnitWeek, CalibrationEnd: &metav1.Time{Time: enginetest.CDNOWCalibrationEnd}},
	}
	g.Expect(env.Client.Create(ctx, s)).To(Succeed())

	// The runtime config the controller wrote, with the Segmentation in it.
	rc := &v1alpha1.RuntimeConfig{}
	g.Eventually(func(g Gomega) {
		cm := &corev1.ConfigMap{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pipeline.ChildName(p)}, cm)).To(Succeed())
		g.Expect(json.Unmarshal([]byte(cm.Data[v1alpha1.RuntimeConfigKey]), rc)).To(Succeed())
		g.Expect(rc.Segmentations).To(HaveLen(1))
		g.Expect(rc.Segmentations[0].RunNow).To(Equal("first"))
	}).Should(Succeed())

	// The runtime starts with the previous generation of the Segmentation
	// (same calibration end, no run-now value): it consumes the backfill
	// keeping each customer's summary at the calibration end, and answers
	// without having applied the current generation. Then it takes the
	// current one (as a hot reload of the same file would), so that the
	// on-demand run sees every event.
	settings, err := engine.Resolve(rc)
	g.Expect(err).NotTo(HaveOccurred())
	kcfg := kafkaio.Config{Brokers: kafka.Addrs(), SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		MaxWait: 100 * time.Millisecond, JoinGroupBackoff: 200 * time.Millisecond}
	g.Expect(engine.EnsureTopics(ctx, kcfg, &settings)).To(Succeed())
	previous := rc.Segmentations[0]
	previous.Generation--
	previous.RunNow = ""
	eng, err := engine.New(settings, engine.Options{Kafka: kcfg, Group: engine.ConsumerGroup(rc),
		Segmentations: []v1alpha1.SegmentationConfig{previous}})
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := admin.Listen(adminAddr, admin.Handler(engine.AdminBackend{E: eng}, eng.Metrics().Registry))
	g.Expect(err).NotTo(HaveOccurred())
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	// A Pod standing for the Deployment's, at the runtime's address.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cdnow-runtime", Labels: pipeline.RuntimePodLabels(p)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "runtime", Image: "ecap"}}},
	}
	g.Expect(env.Client.Create(ctx, pod)).To(Succeed())
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: runtimeIP, PodIPs: []corev1.PodIP{{IP: runtimeIP}}}
	g.Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())

	g.Eventually(func(g Gomega) {
		var sum int64
		for _, part := range eng.Status().Partitions {
			sum += part.Offset
		}
		g.Expect(sum).To(BeNumerically("==", len(recs)))
	}, 60*time.Second).Should(Succeed())
	g.Expect(eng.Status().DeadLettered).To(BeZero())

	// A runtime that answers but has not applied the generation: not Ready.
	poke := 0
	pokeIt := func() {
		poke++
		_ = env.Update(ctx, s, func() { s.Annotations["test.ecap.dev/poke"] = strconv.Itoa(poke) })
	}
	g.Eventually(func(g Gomega) {
		pokeIt()
		g.Expect(env.Get(ctx, s)).To(Succeed())
		c := testenv.Condition(s, v1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonWaitingForRuntime))
	}, 30*time.Second, time.Second).Should(Succeed())

	eng.SetSegmentations(rc.Segmentations)
	g.Eventually(func(g Gomega) {
		pokeIt()
		g.Expect(env.Get(ctx, s)).To(Succeed())
		g.Expect(s.Status.Model).NotTo(BeNil())
		g.Expect(s.Status.Model.BGNBD).NotTo(BeNil())
	}, 60*time.Second, time.Second).Should(Succeed())

	m := s.Status.Model.BGNBD
	for _, c := range []struct {
		name, got string
		want      float64
	}{{"r", m.R, 0.243}, {"alpha", m.Alpha, 4.414}, {"a", m.A, 0.793}, {"b", m.B, 2.426}} {
		v, err := strconv.ParseFloat(c.got, 64)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(round(v, 3)).To(Equal(c.want), "status.model.bgnbd.%s = %s", c.name, c.got)
	}
	ll, err := strconv.ParseFloat(m.LogLikelihood, 64)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(round(ll, 1)).To(Equal(-9582.4))
	g.Expect(s.Status.Model.GammaGamma).NotTo(BeNil())
	g.Expect(s.Status.CustomersScored).To(BeEquivalentTo(2357))
	var segmented int64
	for _, c := range s.Status.Segments {
		segmented += c.Count
	}
	g.Expect(segmented).To(BeEquivalentTo(2357))
	g.Expect(s.Status.AppliedGeneration).To(Equal(s.Generation))
	g.Expect(s.Status.LastRunTime).NotTo(BeNil())
	g.Expect(s.Status.LastRunDuration).NotTo(BeEmpty())
	g.Expect(s.Status.LastRunNowValue).To(Equal("first"))
	g.Expect(s.Status.NextRunTime).NotTo(BeNil())
	// The cohort matrix equals the brute-force one from the raw rows.
	want, err := enginetest.CDNOWCohorts(cdnowDir, enginetest.CDNOWCalibrationEnd)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Status.Cohorts).To(HaveLen(len(want)))
	for i, w := range want {
		active := make([]int64, len(w.Active))
		for k, a := range w.Active {
			active[k] = int64(a)
		}
		g.Expect(s.Status.Cohorts[i]).To(Equal(v1alpha1.CohortStatus{Month: w.Month, Size: int64(w.Size), Active: active}))
	}
	exact := testenv.Condition(s, v1alpha1.ConditionCalibrationExact)
	g.Expect(exact).NotTo(BeNil())
	g.Expect(exact.Status).To(Equal(metav1.ConditionTrue), exact.Message)
	g.Expect(testenv.ConditionStatus(s, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	st, err := testenv.KStatus(s)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(st).To(Equal(kstatus.CurrentStatus))
	t.Logf("status: customers %d, segments %v, model %+v, last run %s in %s", s.Status.CustomersScored, s.Status.Segments,
		*s.Status.Model.BGNBD, s.Status.LastRunTime, s.Status.LastRunDuration)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
