package pipeline_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/lake/laketest"
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
		g.Expect(testenv.ConditionStatus(p, v1alpha1.ConditionLakeWritable)).To(Equal(metav1.ConditionFalse))
	}).Should(Succeed())

	src.set(pipeline.LiveMetrics{LakeReported: true, Progressed: true})
	env.Clock.Step(time.Minute)
	g.Expect(env.Update(ctx, p, func() { p.Annotations = map[string]string{"poke": "2"} })).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(testenv.Condition(p, v1alpha1.ConditionStalled)).To(BeNil())
		g.Expect(testenv.ConditionStatus(p, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
}

// TestLakeControlPlaneMeetsDataPlane: a Pipeline with an S3 lake whose
// bucket does not answer. The controller renders the runtime (keys from a
// Secret), the test runs that container locally; the Pipeline turns
// Stalled with the store's error while the runtime keeps running, and once
// the bucket answers it is Ready and the lake holds every transaction.
func TestLakeControlPlaneMeetsDataPlane(t *testing.T) {
	ctx, g, ns := setup(t)
	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(env.RuntimeAdminPort))
	go func() { _, _ = testenv.BuildECAP() }()

	kafka := kafkatest.Start(t)
	kafka.CreateTopic(t, "txns", 2, nil)
	s3 := laketest.NewS3(t, "ecap-lake")
	s3.SetDown(true)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lake-keys"},
		StringData: map[string]string{"username": laketest.AccessKey, "password": laketest.SecretKey}}
	g.Expect(env.Client.Create(ctx, secret)).To(Succeed())
	p := newPipeline(ns, "lakeshop")
	p.Spec.Kafka.Brokers = kafka.Addrs()
	p.Spec.Topics = v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"}
	p.Spec.KPIs = nil
	p.Spec.State.CheckpointInterval = "1s"
	p.Spec.Sinks.Lake = &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions}, CommitInterval: "1s",
		S3: &v1alpha1.S3Lake{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: "shop", Region: "us-east-1", Insecure: true,
			Credentials: v1alpha1.CredentialsSource{SecretRef: &v1alpha1.SecretCredentials{Name: "lake-keys"}}}}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	name := pipeline.ChildName(p)
	dep := &appsv1.Deployment{}
	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key(ns, name), dep)).To(Succeed())
		g.Expect(env.Client.Get(ctx, key(ns, name), cm)).To(Succeed())
	}).Should(Succeed())
	// What the kubelet does: the Deployment's env from the Secret's keys.
	var procEnv []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		s := &corev1.Secret{}
		g.Expect(env.Client.Get(ctx, key(ns, e.ValueFrom.SecretKeyRef.Name), s)).To(Succeed())
		procEnv = append(procEnv, e.Name+"="+string(s.Data[e.ValueFrom.SecretKeyRef.Key]))
	}
	g.Expect(procEnv).To(HaveLen(2), "the access key pair from the Secret")
	rt, err := testenv.StartRuntime(t, dep, cm, testenv.RuntimeOptions{AdminAddr: adminAddr, Env: procEnv})
	g.Expect(err).NotTo(HaveOccurred())

	gen := enginetest.NewGenerator(5, 40, 10, time.Now().Add(-5*time.Minute), 100*time.Millisecond)
	var ids []string
	var recs []kafkatest.Record
	for range 100 {
		x := gen.Next()
		ids = append(ids, x.EventID)
		recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
	}
	kafka.Produce(t, "txns", recs...)

	_, err = env.RuntimePod(ctx, dep)
	g.Expect(err).NotTo(HaveOccurred())
	env.Metrics.Set(&pipeline.LiveSource{Client: env.Client, Port: env.RuntimeAdminPort})
	t.Cleanup(func() { env.Metrics.Set(nil) })
	markDeploymentAvailable(ctx, g, ns, name)

	// Live figures refresh at most every 30s of the controller's clock.
	poke := 0
	refresh := func(got *v1alpha1.Pipeline) {
		poke++
		env.Clock.Step(31 * time.Second)
		_ = env.Update(ctx, got, func() {
			if got.Annotations == nil {
				got.Annotations = map[string]string{}
			}
			got.Annotations["test.ecap.dev/poke"] = strconv.Itoa(poke)
		})
	}
	g.Eventually(func(g Gomega) {
		if err, exited := rt.Exited(); exited {
			t.Fatalf("runtime exited while the bucket was down: %v", err)
		}
		got := &v1alpha1.Pipeline{}
		g.Expect(env.Client.Get(ctx, key(ns, p.Name), got)).To(Succeed())
		c := testenv.Condition(got, v1alpha1.ConditionStalled)
		if c == nil || c.Reason != v1alpha1.ReasonLakeUnavailable {
			refresh(got)
		}
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(v1alpha1.ReasonLakeUnavailable))
		g.Expect(c.Message).To(ContainSubstring("stage"))
		g.Expect(testenv.ConditionStatus(got, v1alpha1.ConditionLakeWritable)).To(Equal(metav1.ConditionFalse))
	}, 60*time.Second, time.Second).Should(Succeed())

	s3.SetDown(false)
	l := lake.New(s3.Store(t), lake.Options{Prefix: "shop"})
	g.Eventually(func(g Gomega) {
		rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
		g.Expect(err).NotTo(HaveOccurred())
		got := make([]string, len(rows))
		for i, r := range rows {
			got[i] = r.EventID
		}
		g.Expect(got).To(ConsistOf(ids))
	}, 60*time.Second, time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) {
		got := &v1alpha1.Pipeline{}
		g.Expect(env.Client.Get(ctx, key(ns, p.Name), got)).To(Succeed())
		c := testenv.Condition(got, v1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			refresh(got)
		}
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(testenv.Condition(got, v1alpha1.ConditionStalled)).To(BeNil())
		g.Expect(testenv.ConditionStatus(got, v1alpha1.ConditionLakeWritable)).To(Equal(metav1.ConditionTrue))
	}, 60*time.Second, time.Second).Should(Succeed())
	g.Expect(rt.Stop(20 * time.Second)).To(Succeed())
}
