package engine

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
)

// Fraud state does not grow with every card ever seen: at checkpoints the
// velocity windows no rule can read any more are dropped against the latest
// event time, and the restored state is the smaller one.
func TestFraudStateExpiresAtCheckpoints(t *testing.T) {
	env := newTestEnv(t)
	env.rc.FraudRuleSets[0].Spec.Features = []v1alpha1.VelocityFeature{
		{Name: "card_txns_10m", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "10m"},
	}
	env.rc.FraudRuleSets[0].Spec.Rules = []v1alpha1.FraudRule{{Name: "card-burst", Expression: "features.card_txns_10m >= 3", Score: 100}}
	now := time.Now().UTC()
	// 200 customers' cards three hours ago, then only 40 of them now (on
	// every partition: expiry follows each partition's own event time).
	old := enginetest.NewGenerator(1, 200, 20, now.Add(-3*time.Hour), 50*time.Millisecond)
	recent := enginetest.NewGenerator(2, 40, 20, now.Add(-time.Minute), 50*time.Millisecond)
	var first, second []enginetest.Txn
	for range 1000 {
		first = append(first, old.Next())
	}
	for range 200 {
		x := recent.Next()
		x.EventID = "r" + x.EventID // distinct from the first batch's IDs
		second = append(second, x)
	}
	e, stop := env.run()
	defer stop()
	produceTxns(t, env.cluster, first)
	waitCaughtUp(t, e, int64(len(first)))
	cards := func() int {
		n := 0
		for _, o := range e.owned() {
			o.mu.Lock()
			for _, st := range o.p.fraud {
				n += st.Size().Entities
			}
			o.mu.Unlock()
		}
		return n
	}
	if n := cards(); n < 150 {
		t.Fatalf("%d card entities after the first batch, want about 200", n)
	}
	produceTxns(t, env.cluster, second)
	waitCaughtUp(t, e, int64(len(first)+len(second)))
	deadline := time.Now().Add(10 * time.Second)
	for cards() > 40 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := cards(); n > 40 {
		t.Errorf("%d card entities hours past their windows, want at most the 40 recent cards", n)
	}
	// Cards follow customers in the generator: the stale ones are the first
	// batch's customers that did not come back.
	stale := map[string]bool{}
	for _, x := range first {
		stale[x.CustomerID] = true
	}
	for _, x := range second {
		delete(stale, x.CustomerID)
	}
	if got := testutil.ToFloat64(e.metrics.fraudExpired); got != float64(len(stale)) {
		t.Errorf("ecap_fraud_state_expired_total = %v, want the %d stale cards", got, len(stale))
	}
}
