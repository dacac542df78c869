package pipeline_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
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
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/generator"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// The control plane meets the data plane: the Pipeline controller renders a
// Deployment and ConfigMap, the test runs that Deployment's container command
// as a local process against an in-process Kafka, and the Pipeline's status
// columns fill from that process through the controller's LiveSource.
func TestControlPlaneMeetsDataPlane(t *testing.T) {
	ctx, g, ns := setup(t)

	// The controller reads pods' /v1/status on the env's runtime admin
	// port; the local runtime listens there on 127.0.0.1.
	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(env.RuntimeAdminPort))
	go func() { _, _ = testenv.BuildECAP() }() // while the control plane works

	// 1. Input topic and Pipeline.
	kafka := kafkatest.Start(t)
	kafka.CreateTopic(t, "txns", 3, nil)
	p := newPipeline(ns, "shop")
	p.Spec.Kafka.Brokers = kafka.Addrs()
	p.Spec.Topics = v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"}
	p.Spec.KPIs = nil
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	// 2. The controller renders the runtime.
	name := pipeline.ChildName(p)
	dep := &appsv1.Deployment{}
	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key(ns, name), dep)).To(Succeed())
		g.Expect(env.Client.Get(ctx, key(ns, name), cm)).To(Succeed())
		g.Expect(cm.Data).To(HaveKey(v1alpha1.RuntimeConfigKey))
	}).Should(Succeed())
	// 3. Run the container's command and args locally, the ConfigMap
	// "mounted" into a temp dir.
	rt, err := testenv.StartRuntime(t, dep, cm, testenv.RuntimeOptions{AdminAddr: adminAddr})
	g.Expect(err).NotTo(HaveOccurred())

	// Wait for the admin server (and so the engine) to be up.
	status := func(g Gomega) map[string]any {
		if err, exited := rt.Exited(); exited {
			t.Fatalf("runtime exited early: %v", err)
		}
		resp, err := http.Get("http://" + adminAddr + "/v1/status")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		st := map[string]any{}
		g.Expect(json.NewDecoder(resp.Body).Decode(&st)).To(Succeed())
		return st
	}
	g.Eventually(func(g Gomega) { status(g) }, 30*time.Second).Should(Succeed())

	// 4. Valid transactions from the generator, and malformed records. A
	// small population spreads 200 transactions over months, past the
	// validator's future skew; re-time them one second apart over the last
	// few minutes (keeping their order) so every one is valid now.
	gen := generator.New(generator.Config{Seed: 1, Customers: 50, Start: time.Now().Add(-time.Hour)})
	const valid = 200
	base := time.Now().Add(-valid * time.Second).UTC()
	var recs []kafkatest.Record
	for len(recs) < valid {
		r, ok := gen.Next()
		g.Expect(ok).To(BeTrue(), "generator ran dry")
		if r.Topic != events.KindTransaction || r.Bad != "" {
			continue
		}
		ev, err := events.Decode(events.KindTransaction, r.Value)
		g.Expect(err).NotTo(HaveOccurred())
		txn := ev.(*events.Transaction)
		txn.EventTime = base.Add(time.Duration(len(recs)) * time.Second)
		value, err := events.Encode(txn)
		g.Expect(err).NotTo(HaveOccurred())
		recs = append(recs, kafkatest.Record{Key: r.Key, Value: value})
	}
	const malformed = 5
	for i := range malformed {
		recs = append(recs, kafkatest.Record{Key: []byte(fmt.Sprintf("bad-%d", i)), Value: []byte("{not json")})
	}
	kafka.Produce(t, "txns", recs...)

	// The runtime consumes everything and dead-letters every malformed
	// record, and only those.
	g.Eventually(func(g Gomega) {
		st := status(g)
		g.Expect(st["eventsTotal"]).To(BeNumerically("==", valid+malformed))
		g.Expect(st["deadLettered"]).To(BeNumerically("==", malformed))
	}, 30*time.Second).Should(Succeed())

	// 5. A Pod standing for the Deployment's, running on 127.0.0.1.
	_, err = env.RuntimePod(ctx, dep)
	g.Expect(err).NotTo(HaveOccurred())

	env.Metrics.Set(&pipeline.LiveSource{Client: env.Client, Port: env.RuntimeAdminPort})
	t.Cleanup(func() { env.Metrics.Set(nil) })
	markDeploymentAvailable(ctx, g, ns, name)

	// The controller refreshes live figures at most every 30s of its (fake)
	// clock; while they are not there yet, advance it and poke the Pipeline.
	poke := 0
	g.Eventually(func(g Gomega) {
		got := &v1alpha1.Pipeline{}
		g.Expect(env.Client.Get(ctx, key(ns, p.Name), got)).To(Succeed())
		ok := got.Status.Lag != nil && *got.Status.Lag == 0 &&
			got.Status.DeadLettered != nil && *got.Status.DeadLettered == malformed &&
			got.Status.EventsPerSecond != nil
		if !ok {
			poke++
			env.Clock.Step(31 * time.Second)
			_ = env.Update(ctx, got, func() {
				if got.Annotations == nil {
					got.Annotations = map[string]string{}
				}
				got.Annotations["test.ecap.dev/poke"] = strconv.Itoa(poke)
			})
		}
		g.Expect(got.Status.Lag).NotTo(BeNil())
		g.Expect(*got.Status.Lag).To(BeZero())
		g.Expect(got.Status.DeadLettered).NotTo(BeNil())
		g.Expect(*got.Status.DeadLettered).To(BeEquivalentTo(malformed))
		g.Expect(got.Status.EventsPerSecond).NotTo(BeNil())
		g.Expect(testenv.ConditionStatus(got, v1alpha1.ConditionKafkaReachable)).To(Equal(metav1.ConditionTrue))
	}, 30*time.Second, time.Second).Should(Succeed())

	// The dead-letter topic holds the malformed records, unchanged.
	dlq := kafka.ReadAll(t, "dlq")
	g.Expect(dlq).To(HaveLen(malformed))
	for _, r := range dlq {
		g.Expect(string(r.Value)).To(Equal("{not json"))
	}

	// SIGTERM stops the runtime cleanly.
	g.Expect(rt.Stop(20 * time.Second)).To(Succeed())
}
