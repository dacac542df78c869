package pipeline_test

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// Consumer lag comes from Kafka itself (a real protocol peer), so it shows in
// the Pipeline's status even when no runtime pod runs.
func TestLagFromKafkaWithoutPods(t *testing.T) {
	ctx, g, ns := setup(t)
	kafka := kafkatest.Start(t)
	kafka.CreateTopic(t, "txns", 3, nil)
	var recs []kafkatest.Record
	for i := range 42 {
		recs = append(recs, kafkatest.Record{Key: []byte(fmt.Sprintf("c%d", i%7)), Value: []byte(`{}`)})
	}
	kafka.Produce(t, "txns", recs...)

	p := newPipeline(ns, "shop")
	p.Spec.Kafka.Brokers = kafka.Addrs()
	p.Spec.KPIs = nil
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	src := &pipeline.LiveSource{Client: env.Client}
	m, err := src.Gather(ctx, p)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(m.Lag).To(Equal(int64(42)))
	g.Expect(m.EventsPerSecond).To(BeZero(), "no runtime pods answer")

	env.Metrics.Set(src)
	t.Cleanup(func() { env.Metrics.Set(nil) })
	markDeploymentAvailable(ctx, g, ns, "ecap-shop")
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(p.Status.Lag).To(Equal(ptr.To[int64](42)))
		g.Expect(testenv.ConditionStatus(p, v1alpha1.ConditionKafkaReachable)).To(BeEquivalentTo("True"))
	}).Should(Succeed())

	// Unreachable brokers are reported, not fatal.
	bad := newPipeline(ns, "nowhere")
	bad.Spec.Kafka.Brokers = []string{"127.0.0.1:1"}
	_, err = src.Gather(ctx, bad)
	g.Expect(err).To(MatchError(ContainSubstring("127.0.0.1:1")))
}
