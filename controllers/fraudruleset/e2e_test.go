package fraudruleset_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// alertRecord is the part of an alert the test reads.
type alertRecord struct {
	AlertID       string `json:"alert_id"`
	TransactionID string `json:"transaction_id"`
	CustomerID    string `json:"customer_id"`
	Generation    int64  `json:"generation"`
	RuleSet       string `json:"rule_set"`
	Hits          []struct {
		Rule string `json:"rule"`
	} `json:"hits"`
}

// TestRuleSetEndToEnd: a FraudRuleSet applied to the API server scores
// transactions in a runtime process (the Deployment's container, run
// locally against an in-process Kafka, watching FraudRuleSets); a rule edit
// reaches the runtime through the watch and every later transaction is
// scored by the new generation, each exactly once; analyst labels come
// back as precision; the FraudRuleSet's status shows the applied
// generation, the hits and the precision; an invalid edit is refused at
// admission and scoring goes on unchanged.
func TestRuleSetEndToEnd(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	go func() { _, _ = testenv.BuildECAP() }() // while the control plane works

	kafka := kafkatest.Start(t)
	kafka.CreateTopic(t, "txns", 3, nil)
	p := testenv.Pipeline(ns, "shop")
	p.Spec.Kafka.Brokers = kafka.Addrs()
	p.Spec.Topics = v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq", Feedback: "feedback"}
	p.Spec.Sinks.AlertsTopic = "alerts"
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	rule := v1alpha1.FraudRule{Name: "big-amount", Expression: "txn.amount > 100.0", Score: 100}
	f := ruleSet(ns, "card", "shop", rule)
	g.Expect(env.Client.Create(ctx, f)).To(Succeed())

	name := pipeline.ChildName(p)
	dep, cm := &appsv1.Deployment{}, &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, dep)).To(Succeed())
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm)).To(Succeed())
		g.Expect(cm.Data[v1alpha1.RuntimeConfigKey]).To(ContainSubstring(`"card"`))
	}).Should(Succeed())

	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(env.RuntimeAdminPort))
	rt, err := testenv.StartRuntime(t, dep, cm, testenv.RuntimeOptions{AdminAddr: adminAddr,
		Args: []string{"--watch-rule-sets=on"}, Env: []string{"KUBECONFIG=" + env.Kubeconfig}})
	g.Expect(err).NotTo(HaveOccurred())
	type ruleSetStatus struct {
		Name              string `json:"name"`
		AppliedGeneration int64  `json:"appliedGeneration"`
	}
	status := func(g Gomega) (st struct {
		EventsTotal int64           `json:"eventsTotal"`
		RuleSets    []ruleSetStatus `json:"ruleSets"`
	}) {
		if err, exited := rt.Exited(); exited {
			t.Fatalf("runtime exited early: %v", err)
		}
		resp, err := http.Get("http://" + adminAddr + "/v1/status")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		g.Expect(json.NewDecoder(resp.Body).Decode(&st)).To(Succeed())
		return st
	}
	applied := func(g Gomega) int64 {
		for _, rs := range status(g).RuleSets {
			if rs.Name == "card" {
				return rs.AppliedGeneration
			}
		}
		return 0
	}
	g.Eventually(applied, 60*time.Second).Should(Equal(f.Generation))
	_, err = env.RuntimePod(ctx, dep)
	g.Expect(err).NotTo(HaveOccurred())

	gen := enginetest.NewGenerator(3, 60, 30, time.Now().Add(-10*time.Minute), 500*time.Millisecond)
	produce := func(n int) []enginetest.Txn {
		var txns []enginetest.Txn
		var recs []kafkatest.Record
		for range n {
			x := gen.Next()
			txns = append(txns, x)
			recs = append(recs, kafkatest.Record{Key: x.Key, Value: x.Value})
		}
		kafka.Produce(t, "txns", recs...)
		return txns
	}
	txnID := func(x enginetest.Txn) string { return "txn-" + strings.TrimPrefix(x.EventID, "evt-") }
	alertsByTxn := func(g Gomega) map[string][]alertRecord {
		out := map[string][]alertRecord{}
		for _, r := range kafka.ReadAll(t, "alerts") {
			var a alertRecord
			g.Expect(json.Unmarshal(r.Value, &a)).To(Succeed())
			out[a.TransactionID] = append(out[a.TransactionID], a)
		}
		return out
	}
	// check waits for the runtime to have consumed total records and checks
	// that every transaction of batch was scored exactly once, by gen, with
	// threshold as the rule's cut.
	check := func(batch []enginetest.Txn, total int64, generation int64, threshold float64) (hits int) {
		g.Eventually(func(g Gomega) { g.Expect(status(g).EventsTotal).To(Equal(total)) }, 30*time.Second).Should(Succeed())
		var byTxn map[string][]alertRecord
		want := 0
		for _, x := range batch {
			if x.Amount > threshold {
				want++
			}
		}
		g.Eventually(func(g Gomega) {
			byTxn = alertsByTxn(g)
			n := 0
			for _, x := range batch {
				n += len(byTxn[txnID(x)])
			}
			g.Expect(n).To(Equal(want))
		}, 10*time.Second).Should(Succeed())
		for _, x := range batch {
			as := byTxn[txnID(x)]
			if x.Amount <= threshold {
				g.Expect(as).To(BeEmpty(), "transaction %s (amount %.2f) alerted under generation %d", x.EventID, x.Amount, generation)
				continue
			}
			g.Expect(as).To(HaveLen(1), "transaction %s (amount %.2f) scored %d times", x.EventID, x.Amount, len(as))
			g.Expect(as[0].Generation).To(Equal(generation), "transaction %s", x.EventID)
			g.Expect(as[0].RuleSet).To(Equal("card"))
		}
		return want
	}

	// Generation 1 scores the first batch.
	first := produce(150)
	hits1 := check(first, 150, f.Generation, 100)
	g.Expect(hits1).To(BeNumerically(">", 5))
	gen1 := f.Generation

	// One rule changes; the watch delivers it within a second.
	g.Expect(env.Update(ctx, f, func() { f.Spec.Rules[0].Expression = "txn.amount > 60.0" })).To(Succeed())
	g.Expect(f.Generation).To(Equal(gen1 + 1))
	t0 := time.Now()
	g.Eventually(applied, 5*time.Second, 10*time.Millisecond).Should(Equal(f.Generation))
	reload := time.Since(t0)
	t.Logf("rule edit to runtime applying generation %d: %v", f.Generation, reload)
	g.Expect(reload).To(BeNumerically("<", time.Second))
	second := produce(150)
	hits2 := check(second, 300, f.Generation, 60)
	g.Expect(hits2).To(BeNumerically(">", hits1*150/150))

	// Analyst labels on three alerts of the second batch: two fraud, one legit.
	var labelled []alertRecord
	byTxn := alertsByTxn(g)
	for _, x := range second {
		if as := byTxn[txnID(x)]; len(as) == 1 && len(labelled) < 3 {
			labelled = append(labelled, as[0])
		}
	}
	g.Expect(labelled).To(HaveLen(3))
	var fb []kafkatest.Record
	for i, a := range labelled {
		l := "fraud"
		if i == 2 {
			l = "legit"
		}
		fb = append(fb, kafkatest.Record{Key: []byte(a.CustomerID),
			Value: []byte(fmt.Sprintf(`{"alert_id":%q,"label":%q,"customer_id":%q}`, a.AlertID, l, a.CustomerID))})
	}
	kafka.Produce(t, "feedback", fb...)

	// The FraudRuleSet's status: applied generation, hits, precision.
	g.Eventually(func(g Gomega) {
		got := &v1alpha1.FraudRuleSet{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(f), got)).To(Succeed())
		g.Expect(got.Status.AppliedGeneration).To(Equal(f.Generation))
		c := testenv.Condition(got, v1alpha1.ConditionConfigApplied)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(got.Status.Rules).To(HaveLen(1))
		r := got.Status.Rules[0]
		g.Expect(r.Hits).To(BeEquivalentTo(hits1 + hits2))
		g.Expect(got.Status.TotalHits).To(BeEquivalentTo(hits1 + hits2))
		g.Expect(r.LastHitTime).NotTo(BeNil())
		g.Expect(r.ConfirmedFraud).To(BeEquivalentTo(2))
		g.Expect(r.ConfirmedLegit).To(BeEquivalentTo(1))
		g.Expect(r.Precision).To(Equal("0.667"))
	}, 30*time.Second).Should(Succeed())

	// An edit that does not compile is refused at admission, naming the
	// rule; the runtime keeps scoring with the last generation.
	bad := &v1alpha1.FraudRuleSet{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(f), bad)).To(Succeed())
	bad.Spec.Rules[0].Expression = "txn.no_such_field > 1"
	err = env.Client.Update(ctx, bad)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("big-amount"))
	third := produce(50)
	check(third, 350+int64(len(fb)), f.Generation, 60) // the labels count as events too

	g.Expect(rt.Stop(20 * time.Second)).To(Succeed())
}
