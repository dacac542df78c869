package retentionpolicy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/segmentio/kafka-go"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func ptrTo[T any](v T) *T { return &v }

// topicPolicy is a policy with only topic targets.
func topicPolicy(ns, name, pipeline string, topics ...v1alpha1.TopicRetention) *v1alpha1.RetentionPolicy {
	return &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RetentionPolicySpec{
			PipelineRef: v1alpha1.LocalObjectReference{Name: pipeline},
			Schedule:    "30 2 * * *",
			Topics:      topics,
		},
	}
}

// kafkaPipeline is the test Pipeline pointed at brokers.
func kafkaPipeline(ns, name string, brokers []string) *v1alpha1.Pipeline {
	p := testenv.Pipeline(ns, name)
	p.Spec.Kafka.Brokers = brokers
	return p
}

// topicConfigs reads the managed configs of topic straight from the
// cluster with DescribeConfigs.
func topicConfigs(g Gomega, c *kafkatest.Cluster, topic string) map[string]string {
	cl := c.Client()
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	return describeTopic(g, cl, topic)
}

func describeTopic(g Gomega, cl *kafka.Client, topic string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		ConfigNames: []string{"retention.ms", "retention.bytes", "cleanup.policy"},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.Resources).To(HaveLen(1))
	g.Expect(resp.Resources[0].Error).NotTo(HaveOccurred())
	out := map[string]string{}
	for _, e := range resp.Resources[0].ConfigEntries {
		out[e.ConfigName] = e.ConfigValue
	}
	return out
}

// alterOutOfBand sets a topic config behind the controller's back.
func alterOutOfBand(g Gomega, c *kafkatest.Cluster, topic, key, value string) {
	cl := c.Client()
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: key, Value: value, ConfigOperation: kafka.ConfigOperationSet}},
	}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.Resources[0].Error).NotTo(HaveOccurred())
}

func target(rp *v1alpha1.RetentionPolicy, name string) *v1alpha1.TargetStatus {
	for i := range rp.Status.Targets {
		if t := &rp.Status.Targets[i]; t.Kind == v1alpha1.TargetTopic && t.Name == name {
			return t
		}
	}
	// Absent (yet): a status no assertion of these tests accepts, rather
	// than nil, which inside Eventually would end the test with a panic
	// instead of trying again.
	return &v1alpha1.TargetStatus{Name: name, Message: "no status for " + name + " (yet)"}
}

// auditRecords returns the audit records the controller wrote as Events on
// the policy.
func auditRecords(g Gomega, ctx context.Context, ns, policy string) []retentionpolicy.AuditRecord {
	evs := &eventsv1.EventList{}
	g.Expect(env.Client.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
	var out []retentionpolicy.AuditRecord
	for _, ev := range evs.Items {
		if ev.Reason != retentionpolicy.EventReasonTopicConfigsSet || ev.Regarding.Name != policy {
			continue
		}
		var rec retentionpolicy.AuditRecord
		g.Expect(json.Unmarshal([]byte(ev.Note), &rec)).To(Succeed(), ev.Note)
		out = append(out, rec)
	}
	return out
}

const day = 24 * time.Hour

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func TestTopicConfigsAppliedDriftCorrectedAndAudited(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "shop.transactions", 2, nil)
	kc.CreateTopic(t, "shop.dlq", 1, map[string]*string{"cleanup.policy": ptrTo("compact"), "retention.ms": ptrTo(ms(day))})
	g.Expect(env.Client.Create(ctx, kafkaPipeline(ns, "shop", kc.Addrs()))).To(Succeed())

	rp := topicPolicy(ns, "retain-3d", "shop", v1alpha1.TopicRetention{
		Selector:       v1alpha1.TargetSelector{Names: []string{"shop.transactions", "shop.dlq", "shop.missing"}},
		Retention:      "3d",
		RetentionBytes: ptrTo(resource.MustParse("1Gi")),
		CleanupPolicy:  "delete",
	})
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())

	want := map[string]string{"retention.ms": ms(3 * day), "retention.bytes": "1073741824", "cleanup.policy": "delete"}
	g.Eventually(func(g Gomega) {
		g.Expect(topicConfigs(g, kc, "shop.transactions")).To(Equal(want))
		g.Expect(topicConfigs(g, kc, "shop.dlq")).To(Equal(want))
	}).Should(Succeed())

	// Status: one target per topic; the missing one says so. The policy is
	// Ready and KafkaReachable.
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(rp.Status.Targets).To(HaveLen(3))
		for _, name := range []string{"shop.dlq", "shop.transactions"} {
			ts := target(rp, name)
			g.Expect(ts).NotTo(BeNil(), name)
			g.Expect(ts.ConfigsApplied).To(BeTrue(), name)
			g.Expect(ts.Message).To(Equal("in sync: cleanup.policy=delete, retention.bytes=1073741824, retention.ms=259200000"))
		}
		g.Expect(target(rp, "shop.missing").ConfigsApplied).To(BeFalse())
		g.Expect(target(rp, "shop.missing").Message).To(Equal("topic does not exist"))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionKafkaReachable)).To(Equal(metav1.ConditionTrue))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())

	// Audit: one record per changed topic, with old and new values.
	g.Eventually(func(g Gomega) {
		recs := auditRecords(g, ctx, ns, rp.Name)
		g.Expect(recs).To(ContainElement(SatisfyAll(
			HaveField("Policy", retentionpolicy.AuditPolicy{Namespace: ns, Name: "retain-3d"}),
			HaveField("Target", retentionpolicy.AuditTarget{Kind: v1alpha1.TargetTopic, Name: "shop.dlq"}),
			HaveField("Action", "SetTopicConfigs"),
			HaveField("DryRun", false),
			HaveField("Time", BeTemporally("==", env.Clock.Now())),
			HaveField("Changes", ConsistOf(
				retentionpolicy.ConfigChange{Config: "cleanup.policy", Old: "compact", New: "delete"},
				retentionpolicy.ConfigChange{Config: "retention.bytes", Old: "-1", New: "1073741824"},
				retentionpolicy.ConfigChange{Config: "retention.ms", Old: ms(day), New: ms(3 * day)},
			)),
		)))
		g.Expect(recs).To(ContainElement(HaveField("Target.Name", "shop.transactions")))
	}).Should(Succeed())
	before := len(auditRecords(g, ctx, ns, rp.Name))

	// Drift: a config changed out of band is put back by the periodic
	// re-check, and the correction is audited.
	alterOutOfBand(g, kc, "shop.transactions", "retention.ms", "1000")
	g.Expect(topicConfigs(g, kc, "shop.transactions")["retention.ms"]).To(Equal("1000"))
	g.Eventually(func(g Gomega) {
		g.Expect(topicConfigs(g, kc, "shop.transactions")).To(Equal(want))
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(auditRecords(g, ctx, ns, rp.Name)).To(ContainElement(HaveField("Changes",
			ConsistOf(retentionpolicy.ConfigChange{Config: "retention.ms", Old: "1000", New: ms(3 * day)}))))
		g.Expect(len(auditRecords(g, ctx, ns, rp.Name))).To(BeNumerically(">", before))
	}).Should(Succeed())

	// Steady state: reconciling an in-sync policy writes nothing and comes
	// back within the re-check interval.
	c, writes := env.CountingClient()
	r := &retentionpolicy.Reconciler{Client: c, Recorder: testenv.NoEvents{}, Clock: env.Clock, Image: testenv.Image, TopicResync: time.Minute}
	g.Eventually(func(g Gomega) {
		writes.Store(0)
		for range 3 {
			res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rp)})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.RequeueAfter).To(Equal(time.Minute))
		}
		g.Expect(writes.Load()).To(BeZero())
	}).Should(Succeed())
}

func TestTopicDryRunReportsAndChangesNothing(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	kc := kafkatest.Start(t)
	kc.CreateTopic(t, "shop.events", 1, map[string]*string{"retention.ms": ptrTo(ms(day))})
	g.Expect(env.Client.Create(ctx, kafkaPipeline(ns, "shop", kc.Addrs()))).To(Succeed())
	rp := topicPolicy(ns, "dry", "shop", v1alpha1.TopicRetention{
		Selector: v1alpha1.TargetSelector{Names: []string{"shop.events"}}, Retention: "3d", CleanupPolicy: "compact,delete",
	})
	rp.Spec.DryRun = true
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		ts := target(rp, "shop.events")
		g.Expect(ts).NotTo(BeNil())
		g.Expect(ts.ConfigsApplied).To(BeFalse())
		g.Expect(ts.Message).To(Equal("would set cleanup.policy=compact,delete (now delete), retention.ms=259200000 (now 86400000)"))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())
	// Several re-checks later the topic is untouched and nothing was audited.
	g.Consistently(func(g Gomega) {
		g.Expect(topicConfigs(g, kc, "shop.events")).To(HaveKeyWithValue("retention.ms", ms(day)))
		g.Expect(topicConfigs(g, kc, "shop.events")).To(HaveKeyWithValue("cleanup.policy", "delete"))
	}, 3*testenv.TopicResync, 500*time.Millisecond).Should(Succeed())
	g.Expect(auditRecords(g, ctx, ns, rp.Name)).To(BeEmpty())

	// Leaving dry run enforces; the order of cleanup.policy values does not
	// matter afterwards.
	g.Expect(env.Update(ctx, rp, func() { rp.Spec.DryRun = false })).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(topicConfigs(g, kc, "shop.events")).To(HaveKeyWithValue("retention.ms", ms(3*day)))
	}).Should(Succeed())
	alterOutOfBand(g, kc, "shop.events", "cleanup.policy", "delete,compact")
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(target(rp, "shop.events").Message).To(HavePrefix("in sync"))
	}).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(topicConfigs(g, kc, "shop.events")).To(HaveKeyWithValue("cleanup.policy", "delete,compact"))
	}, 2*testenv.TopicResync, 500*time.Millisecond).Should(Succeed())
}

func TestTopicPatternSkipsStateTopicsUnlessNamed(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	kc := kafkatest.Start(t)
	compact := map[string]*string{"cleanup.policy": ptrTo("compact")}
	for _, name := range []string{"shop.orders", "shop.clicks", "other.orders"} {
		kc.CreateTopic(t, name, 1, nil)
	}
	kc.CreateTopic(t, "shop-changelog", 1, compact)
	kc.CreateTopic(t, "shop.profiles", 1, compact)
	kc.CreateTopic(t, "__internal-looking", 1, nil)
	p := kafkaPipeline(ns, "shop", kc.Addrs())
	p.Spec.Sinks.CustomerProfilesTopic = "shop.profiles"
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	rp := topicPolicy(ns, "by-pattern", "shop",
		v1alpha1.TopicRetention{Selector: v1alpha1.TargetSelector{Pattern: `shop.*|__.*`}, Retention: "2d", CleanupPolicy: "delete"},
		// Named explicitly, a state topic is selected; the later entry wins
		// for the configs it sets.
		v1alpha1.TopicRetention{Selector: v1alpha1.TargetSelector{Names: []string{"shop-changelog", "shop.clicks"}}, RetentionBytes: ptrTo(resource.MustParse("10Mi"))},
	)
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		var names []string
		for _, ts := range rp.Status.Targets {
			names = append(names, ts.Name)
			g.Expect(ts.ConfigsApplied).To(BeTrue(), ts.Name)
		}
		g.Expect(names).To(Equal([]string{"shop-changelog", "shop.clicks", "shop.orders"}))
	}).Should(Succeed())
	g.Expect(topicConfigs(g, kc, "shop.orders")).To(Equal(map[string]string{"retention.ms": ms(2 * day), "retention.bytes": "-1", "cleanup.policy": "delete"}))
	g.Expect(topicConfigs(g, kc, "shop.clicks")).To(Equal(map[string]string{"retention.ms": ms(2 * day), "retention.bytes": "10485760", "cleanup.policy": "delete"}))
	// The changelog keeps compaction: only retention.bytes was named for it.
	g.Expect(topicConfigs(g, kc, "shop-changelog")).To(HaveKeyWithValue("cleanup.policy", "compact"))
	g.Expect(topicConfigs(g, kc, "shop-changelog")).To(HaveKeyWithValue("retention.bytes", "10485760"))
	for _, untouched := range []string{"shop.profiles", "other.orders", "__internal-looking"} {
		cfg := topicConfigs(g, kc, untouched)
		g.Expect(cfg).To(HaveKeyWithValue("retention.ms", Not(Equal(ms(2*day)))), untouched)
	}
	g.Expect(topicConfigs(g, kc, "shop.profiles")).To(HaveKeyWithValue("cleanup.policy", "compact"))
}

func freePort(g Gomega) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestTopicKafkaUnreachableStallsThenRecovers(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	port := freePort(g)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	g.Expect(env.Client.Create(ctx, kafkaPipeline(ns, "shop", []string{addr}))).To(Succeed())
	rp := topicPolicy(ns, "unreachable", "shop", v1alpha1.TopicRetention{
		Selector: v1alpha1.TargetSelector{Names: []string{"shop.transactions"}}, Retention: "3d",
	})
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		stalled := testenv.Condition(rp, v1alpha1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(v1alpha1.ReasonKafkaUnreachable))
		g.Expect(stalled.Message).To(ContainSubstring(addr))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionKafkaReachable)).To(Equal(metav1.ConditionFalse))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionFalse))
	}).Should(Succeed())

	// No crash loop: the reconcile succeeds and asks to come back after a
	// bounded back-off, and repeating it writes nothing.
	c, writes := env.CountingClient()
	r := &retentionpolicy.Reconciler{Client: c, Recorder: testenv.NoEvents{}, Clock: env.Clock, Image: testenv.Image, TopicResync: 30 * time.Second}
	var waits []time.Duration
	for range 4 {
		res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rp)})
		g.Expect(err).NotTo(HaveOccurred())
		waits = append(waits, res.RequeueAfter)
	}
	g.Expect(waits).To(Equal([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}))
	g.Expect(writes.Load()).To(BeZero())

	// The brokers come up on that address: the next retry applies the
	// configs and the policy is Ready again.
	kc := kafkatest.Start(t, kafkatest.Port(port))
	kc.CreateTopic(t, "shop.transactions", 1, nil)
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(testenv.Condition(rp, v1alpha1.ConditionStalled)).To(BeNil())
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionKafkaReachable)).To(Equal(metav1.ConditionTrue))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(target(rp, "shop.transactions").ConfigsApplied).To(BeTrue())
	}).Should(Succeed())
	g.Expect(topicConfigs(g, kc, "shop.transactions")).To(HaveKeyWithValue("retention.ms", ms(3*day)))
}

// Malformed topic durations, quantities and policies are refused at
// admission, naming the field.
func TestTopicInvalidSpecsRefused(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	cases := []struct {
		name  string
		topic map[string]any
		want  string
	}{
		{"malformed retention", map[string]any{"selector": map[string]any{"names": []any{"t"}}, "retention": "a week"}, "spec.topics[0].retention"},
		{"zero retention", map[string]any{"selector": map[string]any{"names": []any{"t"}}, "retention": "0d"}, "spec.topics[0].retention"},
		{"malformed retentionBytes", map[string]any{"selector": map[string]any{"names": []any{"t"}}, "retentionBytes": "lots"}, "spec.topics[0].retentionBytes"},
		{"negative retentionBytes", map[string]any{"selector": map[string]any{"names": []any{"t"}}, "retentionBytes": "-1Gi"}, "spec.topics[0].retentionBytes"},
		{"unknown cleanupPolicy", map[string]any{"selector": map[string]any{"names": []any{"t"}}, "cleanupPolicy": "forever"}, "spec.topics[0].cleanupPolicy"},
		{"no selector", map[string]any{"selector": map[string]any{}, "retention": "1d"}, "one of names or pattern must be set"},
		{"nothing to set", map[string]any{"selector": map[string]any{"names": []any{"t"}}}, "at least one of retention, retentionBytes or cleanupPolicy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": v1alpha1.GroupVersion.String(),
				"kind":       "RetentionPolicy",
				"metadata":   map[string]any{"namespace": ns, "name": "bad"},
				"spec": map[string]any{
					"pipelineRef": map[string]any{"name": "shop"},
					"topics":      []any{tc.topic},
				},
			}}
			err := env.Client.Create(ctx, u)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
	_ = g
}
