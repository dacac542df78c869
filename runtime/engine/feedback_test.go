package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func TestDecodeFeedback(t *testing.T) {
	cases := map[string]struct {
		in            string
		reason, field string
	}{
		"ok":            {`{"alert_id":"a1","label":"fraud","customer_id":"c"}`, "", ""},
		"legit":         {`{"alert_id":"a1","label":"legit"}`, "", ""},
		"broken json":   {`{"alert_id":`, events.ReasonMalformedJSON, ""},
		"trailing":      {`{"alert_id":"a","label":"fraud"} {}`, events.ReasonMalformedJSON, ""},
		"unknown field": {`{"alert_id":"a","label":"fraud","verdict":1}`, events.ReasonMalformedJSON, ""},
		"no alert":      {`{"label":"fraud"}`, events.ReasonMissingField, "alert_id"},
		"no label":      {`{"alert_id":"a"}`, events.ReasonMissingField, "label"},
		"bad label":     {`{"alert_id":"a","label":"maybe"}`, events.ReasonInvalidEnum, "label"},
		"wrong type":    {`{"alert_id":7,"label":"fraud"}`, events.ReasonWrongType, "alert_id"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeFeedback([]byte(tc.in))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			rej, ok := err.(*events.Rejection)
			if !ok {
				t.Fatalf("got %v, want a rejection %s", err, tc.reason)
			}
			if rej.Reason != tc.reason || rej.Field != tc.field {
				t.Fatalf("got %s at %q (%s), want %s at %q", rej.Reason, rej.Field, rej.Detail, tc.reason, tc.field)
			}
		})
	}
}

// TestEngineFeedback: labels produced keyed by the alert's customer reach the
// owner of the alert's partition, change the rule's precision, and are
// checkpointed with the state: a restart does not apply them again. Bad and
// misrouted labels are dead-lettered with the reason.
func TestEngineFeedback(t *testing.T) {
	c := kafkatest.Start(t)
	env := &testEnv{t: t, cluster: c, rc: testRuntimeConfig(c.Addrs())}
	env.rc.Pipeline.Spec.Topics.Feedback = "feedback"
	env.rc.FraudRuleSets[0].Spec.Rules[0].Expression = "txn.amount > 80.0"
	var err error
	if env.s, err = Resolve(env.rc); err != nil {
		t.Fatal(err)
	}
	env.kcfg = kafkaConfigFor(env.rc)
	env.kcfg.SessionTimeout, env.kcfg.HeartbeatInterval = 2*time.Second, 200*time.Millisecond
	env.kcfg.MaxWait, env.kcfg.JoinGroupBackoff = 100*time.Millisecond, 200*time.Millisecond
	for _, topic := range []string{"txns", "uevents"} {
		c.CreateTopic(t, topic, testPartitions, nil)
	}
	c.CreateTopic(t, "products", 1, nil)
	if err := EnsureTopics(context.Background(), env.kcfg, &env.s); err != nil {
		t.Fatal(err)
	}
	if n := c.Partitions(t, "feedback"); n != testPartitions {
		t.Fatalf("EnsureTopics created feedback with %d partitions, want %d", n, testPartitions)
	}

	gen := enginetest.NewGenerator(7, 100, 20, time.Now().Add(-5*time.Minute), 50*time.Millisecond)
	var txns []enginetest.Txn
	for range 400 {
		txns = append(txns, gen.Next())
	}
	e, stop := env.run()
	produceTxns(t, c, txns)
	waitCaughtUp(t, e, int64(len(txns)))

	type alert struct {
		AlertID    string `json:"alert_id"`
		CustomerID string `json:"customer_id"`
	}
	var alerts []alert
	for _, r := range c.ReadAll(t, "alerts") {
		var a alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, a)
	}
	if len(alerts) < 20 {
		t.Fatalf("only %d alerts; the test needs at least 20", len(alerts))
	}
	label := func(a alert, l string) kafkatest.Record {
		b, _ := json.Marshal(map[string]string{"alert_id": a.AlertID, "label": l, "customer_id": a.CustomerID})
		return kafkatest.Record{Key: []byte(a.CustomerID), Value: b}
	}
	// 9 fraud, 3 legit, one alert relabelled legit -> fraud (counts once).
	var good []kafkatest.Record
	for i := range 9 {
		good = append(good, label(alerts[i], "fraud"))
	}
	for i := 9; i < 12; i++ {
		good = append(good, label(alerts[i], "legit"))
	}
	good = append(good, label(alerts[12], "legit"), label(alerts[12], "fraud"))
	good = append(good, label(alerts[0], "fraud")) // redelivered: no change
	bad := []kafkatest.Record{
		{Key: []byte(alerts[0].CustomerID), Value: []byte(`{"alert_id":`)},
		{Key: []byte(alerts[0].CustomerID), Value: []byte(`{"alert_id":"x","label":"maybe"}`)},
		{Key: []byte(alerts[0].CustomerID), Value: []byte(`{"alert_id":"no-such-alert","label":"fraud"}`)},
	}
	c.Produce(t, "feedback", append(good, bad...)...)
	// The same real alert on a partition that does not own it.
	var hash kafka.Murmur2Balancer
	home := hash.Balance(kafka.Message{Key: []byte(alerts[13].CustomerID)}, 0, 1, 2, 3)
	c.ProduceTo(t, "feedback", (home+1)%testPartitions, label(alerts[13], "fraud"))
	total := int64(len(good) + len(bad) + 1)

	waitFeedback := func(e *Engine) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var sum int64
			for _, p := range e.Status().Partitions {
				sum += p.FeedbackOffset
			}
			if sum == total {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("feedback not consumed: %+v", e.Status().Partitions)
	}
	waitFeedback(e)
	st := e.Status()
	if len(st.RuleSets) != 1 || len(st.RuleSets[0].Rules) != 1 {
		t.Fatalf("rule set status %+v", st.RuleSets)
	}
	r := st.RuleSets[0].Rules[0]
	if r.ConfirmedFraud != 10 || r.ConfirmedLegit != 3 {
		t.Errorf("rule %s: confirmed fraud %d legit %d, want 10 and 3", r.Rule, r.ConfirmedFraud, r.ConfirmedLegit)
	}
	if r.Hits != int64(len(alerts)) {
		t.Errorf("rule hits %d, want %d (one per alert)", r.Hits, len(alerts))
	}
	deadline := time.Now().Add(3 * time.Second) // the gauges follow once a second
	for testutil.ToFloat64(e.metrics.precision.WithLabelValues("big", "big-amount")) != 10.0/13 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(e.metrics.precision.WithLabelValues("big", "big-amount")); got != 10.0/13 {
		t.Errorf("precision metric %v, want %v", got, 10.0/13)
	}
	if got := testutil.ToFloat64(e.metrics.feedback.WithLabelValues("fraud")); got != 11 {
		t.Errorf("fraud labels applied %v, want 11 (9 + relabel + redelivery)", got)
	}
	stop()

	reasons := map[string]int{}
	for _, rec := range c.ReadAll(t, "dlq") {
		h := map[string]string{}
		for _, kh := range rec.Headers {
			h[kh.Key] = string(kh.Value)
		}
		if h[events.HeaderSourceTopic] != "feedback" {
			t.Errorf("dead letter from %q", h[events.HeaderSourceTopic])
		}
		reasons[h[events.HeaderDLQReason]]++
	}
	want := map[string]int{events.ReasonMalformedJSON: 1, events.ReasonInvalidEnum: 1, ReasonUnknownAlert: 2}
	for k, v := range want {
		if reasons[k] != v {
			t.Errorf("dead letters by reason %v, want %v", reasons, want)
			break
		}
	}

	// Restart: the labels are part of the checkpointed state and their
	// offsets with it; nothing is applied or dead-lettered twice.
	e2, stop2 := env.run()
	waitCaughtUp(t, e2, int64(len(txns)))
	waitFeedback(e2)
	if got := testutil.ToFloat64(e2.metrics.feedback.WithLabelValues("fraud")); got != 0 {
		t.Errorf("restarted engine re-applied %v labels", got)
	}
	// The tallies are checkpointed state: a new label on a labelled alert
	// moves one count from fraud to legit.
	c.Produce(t, "feedback", label(alerts[0], "legit"))
	total++
	waitFeedback(e2)
	r2 := e2.Status().RuleSets[0].Rules[0]
	if r2.ConfirmedFraud != 9 || r2.ConfirmedLegit != 4 || r2.Hits != r.Hits || !r2.LastHit.Equal(r.LastHit) {
		t.Errorf("after restart and relabel: %+v, want fraud 9, legit 4 and the hits of before (%d, last %v)", r2, r.Hits, r.LastHit)
	}
	stop2()
	if n := len(c.ReadAll(t, "dlq")); n != 4 {
		t.Errorf("%d dead letters after restart, want still 4", n)
	}
}
