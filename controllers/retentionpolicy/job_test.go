package retentionpolicy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/audit"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// runtimeFor starts the runtime (engine) of Pipeline p on the test cluster
// and returns it; it stops with the test.
func runtimeFor(t *testing.T, g Gomega, c *kafkatest.Cluster, p *v1alpha1.Pipeline) *engine.Engine {
	s, err := engine.Resolve(&v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: p.Name, Namespace: p.Namespace, Generation: 1, Spec: p.Spec}})
	g.Expect(err).NotTo(HaveOccurred())
	s.CheckpointInterval = 200 * time.Millisecond
	kcfg := kafkaio.Config{Brokers: c.Addrs(), SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		MaxWait: 100 * time.Millisecond, JoinGroupBackoff: 200 * time.Millisecond}
	g.Expect(engine.EnsureTopics(context.Background(), kcfg, &s)).To(Succeed())
	e, err := engine.New(s, engine.Options{Kafka: kcfg, Group: "ecap-" + p.Namespace + "-" + p.Name})
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("runtime did not stop")
		}
	})
	return e
}

// workload: customers 0..9 buy three hours ago only, 10..19 in the last
// ten minutes. It returns the records and the customers of each group.
func workload() (recs []kafkatest.Record, old, recent []string) {
	now := time.Now()
	seen := map[string]bool{}
	for i, gen := range []*enginetest.Generator{
		enginetest.NewGenerator(1, 10, 10, now.Add(-3*time.Hour), time.Second),
		enginetest.NewGenerator(2, 10, 10, now.Add(-10*time.Minute), time.Second),
	} {
		for range 120 {
			x := gen.Next()
			if i == 1 {
				// Move to customers 10..19 under new event IDs.
				var m map[string]any
				_ = json.Unmarshal(x.Value, &m)
				var n int
				_, _ = fmt.Sscanf(x.CustomerID, "cus-%06d", &n)
				x.CustomerID = enginetest.CustomerID(n + 10)
				m["customer_id"], m["event_id"], m["transaction_id"] = x.CustomerID, "r-"+x.EventID, "r-"+x.EventID
				x.Value, _ = json.Marshal(m)
				x.Key = []byte(x.CustomerID)
			}
			recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
			if !seen[x.CustomerID] {
				seen[x.CustomerID] = true
				if i == 0 {
					old = append(old, x.CustomerID)
				} else {
					recent = append(recent, x.CustomerID)
				}
			}
		}
	}
	sort.Strings(old)
	sort.Strings(recent)
	return recs, old, recent
}

func waitApplied(g Gomega, e *engine.Engine, n int64) {
	g.Eventually(func(g Gomega) {
		st := e.Status()
		var sum int64
		for _, p := range st.Partitions {
			sum += p.Offset
		}
		g.Expect(st.Ready).To(BeTrue())
		g.Expect(sum).To(Equal(n))
	}).WithTimeout(60 * time.Second).Should(Succeed())
}

// TestRetentionJobErasesAndForgets runs `ecap retention` (RunJob) against
// the API server and a runtime on Kafka: a dry run reports the counts and
// changes nothing; the real run erases the listed customers (spec list and
// ConfigMap) and forgets the inactive ones everywhere, tombstones them in
// the profile topic, leaves every other profile byte-identical, writes the
// audit records and the job's status fields, and the controller neither
// undoes them nor writes anything more in steady state.
func TestRetentionJobErasesAndForgets(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	c := kafkatest.Start(t)
	c.CreateTopic(t, "txns", 4, nil)
	c.CreateTopic(t, "profiles", 4, map[string]*string{"cleanup.policy": ptrTo("compact")})
	p := kafkaPipeline(ns, "shop", c.Addrs())
	p.Spec.Sinks.CustomerProfilesTopic = "profiles"
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	e := runtimeFor(t, g, c, p)

	recs, old, recent := workload()
	g.Expect(old).To(HaveLen(10))
	g.Expect(recent).To(HaveLen(10))
	c.Produce(t, "txns", recs...)
	var profiles []kafkatest.Record
	for _, id := range append(append([]string{}, old...), recent...) {
		profiles = append(profiles, kafkatest.Record{Key: []byte(id), Value: []byte(`{"customer_id":"` + id + `","segment":"champions"}`)})
	}
	c.Produce(t, "profiles", profiles...)
	waitApplied(g, e, int64(len(recs)))

	erase := []string{recent[0], recent[1]}
	g.Expect(env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erasure-requests"},
		Data: map[string]string{"ids": "# ticket 4711\n" + recent[1] + "\n\n"}})).To(Succeed())
	rp := &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gdpr"},
		Spec: v1alpha1.RetentionPolicySpec{
			PipelineRef:   v1alpha1.LocalObjectReference{Name: "shop"},
			Schedule:      "30 2 * * *",
			CustomerState: &v1alpha1.CustomerStateRetention{InactiveAfter: "1h"},
			Erasure: &v1alpha1.ErasureSpec{CustomerIDs: []string{recent[0]},
				ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "erasure-requests", Key: "ids"}},
		},
	}
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(testenv.Condition(rp, v1alpha1.ConditionReady)).NotTo(BeNil())
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).Should(Succeed())

	clock := clocktesting.NewFakeClock(time.Now().UTC().Truncate(time.Second))
	opts := retentionpolicy.JobOptions{Client: env.Client, Namespace: ns, Policy: "gdpr", Clock: clock,
		KafkaTimeout: 10 * time.Second, AckTimeout: 30 * time.Second,
		KafkaConfig: func(context.Context, *v1alpha1.Pipeline) (kafkaio.Config, error) {
			return kafkaio.Config{Brokers: c.Addrs(), ClientID: "ecap-retention"}, nil
		}}
	target := func(rp *v1alpha1.RetentionPolicy, kind v1alpha1.TargetKind) v1alpha1.TargetStatus {
		for _, ts := range rp.Status.Targets {
			if ts.Kind == kind {
				return ts
			}
		}
		return v1alpha1.TargetStatus{}
	}

	// Dry run: counts, no change.
	dry := opts
	dry.DryRun = true
	g.Expect(retentionpolicy.RunJob(ctx, dry)).To(Succeed())
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(rp.Status.LastRunDryRun).To(BeTrue())
	g.Expect(target(rp, v1alpha1.TargetErasure).CustomersForgotten).To(BeEquivalentTo(2), "%+v", rp.Status.Targets)
	g.Expect(target(rp, v1alpha1.TargetCustomerState).CustomersForgotten).To(BeEquivalentTo(len(old)), "%+v", rp.Status.Targets)
	g.Expect(target(rp, v1alpha1.TargetErasure).Message).To(ContainSubstring("would erase 2 of 2"))
	for _, id := range append(append([]string{}, old...), erase...) {
		_, held := e.Customer(id)
		g.Expect(held).To(BeTrue(), "dry run removed %s", id)
	}
	g.Expect(kafkatest.Compacted(c.ReadAll(t, "profiles"))).To(HaveLen(20))

	// The real run, five minutes later on the job's clock: the cutoff
	// (55 minutes ago) still falls between the two groups.
	clock.Step(5 * time.Minute)
	before := kafkatest.Compacted(c.ReadAll(t, "profiles"))
	g.Expect(retentionpolicy.RunJob(ctx, opts)).To(Succeed())
	g.Expect(env.Get(ctx, rp)).To(Succeed())
	g.Expect(rp.Status.LastRunDryRun).To(BeFalse())
	g.Expect(rp.Status.LastRunTime.Time).To(BeTemporally("==", clock.Now()))
	nextRun := time.Date(clock.Now().Year(), clock.Now().Month(), clock.Now().Day(), 2, 30, 0, 0, time.UTC)
	if !nextRun.After(clock.Now()) {
		nextRun = nextRun.AddDate(0, 0, 1)
	}
	g.Expect(rp.Status.NextRunTime.Time).To(BeTemporally("==", nextRun))
	er, cs := target(rp, v1alpha1.TargetErasure), target(rp, v1alpha1.TargetCustomerState)
	g.Expect(er.Name).To(Equal("shop"))
	g.Expect(er.CustomersForgotten).To(BeEquivalentTo(2))
	g.Expect(er.RowsErased).To(BeNumerically(">=", 2*2), "store entries and profile tombstones")
	g.Expect(er.Message).To(ContainSubstring("tombstoned in profiles"))
	g.Expect(cs.CustomersForgotten).To(BeEquivalentTo(len(old)), cs.Message)
	g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionLastRunSucceeded)).To(Equal(metav1.ConditionTrue))

	for _, id := range append(append([]string{}, old...), erase...) {
		_, held := e.Customer(id)
		g.Expect(held).To(BeFalse(), "runtime still holds %s", id)
	}
	after := kafkatest.Compacted(c.ReadAll(t, "profiles"))
	g.Expect(after).To(HaveLen(len(recent) - 2))
	for _, id := range recent[2:] {
		g.Expect(after).To(HaveKey(id))
		g.Expect(bytes.Equal(after[id].Value, before[id].Value)).To(BeTrue(), "profile of %s changed", id)
		_, held := e.Customer(id)
		g.Expect(held).To(BeTrue(), "active customer %s forgotten", id)
	}

	// Audit: the runtime's records per request, the job's per target.
	var jobRecs, runtimeRecs int
	for _, r := range c.ReadAll(t, "shop-audit") {
		var a audit.Record
		g.Expect(json.Unmarshal(r.Value, &a)).To(Succeed())
		g.Expect(a.Policy).To(Equal(audit.Policy{Namespace: ns, Name: "gdpr"}))
		g.Expect(bytes.Contains(r.Value, []byte(erase[0]))).To(BeFalse(), "audit records carry no customer IDs")
		if a.DryRun {
			continue
		}
		switch a.Source {
		case audit.SourceJob:
			jobRecs++
		case audit.SourceRuntime:
			runtimeRecs++
		}
	}
	g.Expect(jobRecs).To(Equal(2))
	g.Expect(runtimeRecs).To(Equal(2+4), "one per erased customer, one per partition")

	// The controller recomputes Ready from the run and keeps the job's
	// fields; then it is quiet.
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(rp.Status.Targets).To(HaveLen(2))
		g.Expect(rp.Status.LastRunTime).NotTo(BeNil())
		s, err := testenv.KStatus(rp)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(Equal(kstatus.CurrentStatus))
	}).Should(Succeed())
	counting, writes := env.CountingClient()
	r := &retentionpolicy.Reconciler{Client: counting, Recorder: testenv.NoEvents{}, Clock: env.Clock, Image: testenv.Image}
	writes.Store(0)
	for range 3 {
		_, err := r.Reconcile(ctx, reconcileRequest(rp))
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(writes.Load()).To(BeZero())
}

// TestRetentionJobKafkaUnreachable: brokers that do not answer fail the run
// once, with Stalled=True and the reason in the status, which the
// controller keeps until a run succeeds.
func TestRetentionJobKafkaUnreachable(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	p := kafkaPipeline(ns, "shop", []string{"127.0.0.1:1"})
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	rp := &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ttl"},
		Spec: v1alpha1.RetentionPolicySpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"},
			CustomerState: &v1alpha1.CustomerStateRetention{InactiveAfter: "365d"}},
	}
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(testenv.Condition(rp, v1alpha1.ConditionReady)).NotTo(BeNil())
	}).Should(Succeed())

	t0 := time.Now()
	err := retentionpolicy.RunJob(ctx, retentionpolicy.JobOptions{Client: env.Client, Namespace: ns, Policy: "ttl",
		Clock: clocktesting.NewFakeClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)), KafkaTimeout: 2 * time.Second})
	g.Expect(err).To(MatchError(ContainSubstring("kafka unreachable")))
	g.Expect(time.Since(t0)).To(BeNumerically("<", 20*time.Second), "one bounded attempt, no retry loop")
	check := func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		stalled := testenv.Condition(rp, v1alpha1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(stalled.Reason).To(Equal(v1alpha1.ReasonKafkaUnreachable))
		g.Expect(stalled.Message).To(ContainSubstring("127.0.0.1:1"))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionFalse))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionLastRunSucceeded)).To(Equal(metav1.ConditionFalse))
		g.Expect(rp.Status.LastRunTime).NotTo(BeNil())
		s, err := testenv.KStatus(rp)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(Equal(kstatus.FailedStatus))
	}
	g.Eventually(check).Should(Succeed())
	// The controller reconciles on the run's status change and keeps it.
	g.Consistently(check).Should(Succeed())
}

func reconcileRequest(obj client.Object) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)}
}

// TestErasureIDs: IDs come from the list, the ConfigMap and the Secret, in
// that order and without duplicates; bad input names the field.
func TestErasureIDs(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	g.Expect(env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ids"},
		Data: map[string]string{"list": "c2\n\n# a comment\n  c3  \nc1\n", "bad": "c4\n\x00oops\n"}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ids"},
		Data: map[string][]byte{"list": []byte("c5\r\nc2\r\n")}})).To(Succeed())
	rp := func(e v1alpha1.ErasureSpec) *v1alpha1.RetentionPolicy {
		return &v1alpha1.RetentionPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}, Spec: v1alpha1.RetentionPolicySpec{Erasure: &e}}
	}
	ids, err := retentionpolicy.ErasureIDs(ctx, env.Client, rp(v1alpha1.ErasureSpec{CustomerIDs: []string{"c1"},
		ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "ids", Key: "list"},
		SecretRef:    &v1alpha1.SecretKeyReference{Name: "ids", Key: "list"}}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ids).To(Equal([]string{"c1", "c2", "c3", "c5"}))

	for _, tc := range []struct {
		spec v1alpha1.ErasureSpec
		want string
	}{
		{v1alpha1.ErasureSpec{CustomerIDs: []string{"c1", " "}}, "spec.erasure.customerIDs[1]: empty customer ID"},
		{v1alpha1.ErasureSpec{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "ids", Key: "bad"}}, "spec.erasure.configMapRef (ConfigMap ids key bad) line 2"},
		{v1alpha1.ErasureSpec{ConfigMapRef: &v1alpha1.ConfigMapKeyReference{Name: "ids", Key: "nope"}}, `spec.erasure.configMapRef: ConfigMap ids has no key "nope"`},
		{v1alpha1.ErasureSpec{SecretRef: &v1alpha1.SecretKeyReference{Name: "missing", Key: "list"}}, "spec.erasure.secretRef: failed to read Secret missing"},
	} {
		_, err := retentionpolicy.ErasureIDs(ctx, env.Client, rp(tc.spec))
		g.Expect(err).To(MatchError(ContainSubstring(tc.want)))
	}
}
