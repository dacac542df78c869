package engine

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/catalog"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
)

// series gathers every series of the named family from reg, keyed by its
// labels as "k=v,k=v" in label-name order.
func series(t *testing.T, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var kv []string
			for _, l := range m.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(kv)
			v := m.GetCounter().GetValue()
			if m.GetGauge() != nil {
				v = m.GetGauge().GetValue()
			}
			out[strings.Join(kv, ",")] = v
		}
	}
	return out
}

func assertSeries(t *testing.T, reg prometheus.Gatherer, name string, want map[string]float64) {
	t.Helper()
	got := series(t, reg, name)
	if len(got) != len(want) {
		t.Errorf("%s: series %v, want %v", name, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s{%s} missing", name, k)
			continue
		}
		if math.Abs(g-w) > 1e-9 {
			t.Errorf("%s{%s} = %v, want %v", name, k, g, w)
		}
	}
}

func jsonMsgs(t *testing.T, evs []map[string]any) []kafka.Message {
	t.Helper()
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		var b []byte
		if raw, ok := ev["raw"].(string); ok {
			b = []byte(raw)
		} else {
			var err error
			if b, err = json.Marshal(ev); err != nil {
				t.Fatal(err)
			}
		}
		msgs[i] = kafka.Message{Offset: int64(i), Key: []byte("k"), Value: b}
	}
	return msgs
}

func TestKPIMetricsCountAcceptedTransactions(t *testing.T) {
	rc := testRuntimeConfig([]string{"unused:9092"})
	s, err := Resolve(rc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(s, rc.FraudRuleSets)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UTC()
	// sku-a earns 4 per unit, sku-b loses 3 per unit; sku-x is unknown.
	l.Catalog().Upsert(catalog.Product{ID: "sku-a", Category: "toys", Price: 10, Cost: 6, Currency: "EUR", UpdatedAt: at})
	l.Catalog().Upsert(catalog.Product{ID: "sku-b", Category: "books", Price: 5, Cost: 8, Currency: "EUR", UpdatedAt: at})

	line := func(id string, q int, price float64) map[string]any {
		return map[string]any{"product_id": id, "quantity": q, "unit_price": price}
	}
	card := map[string]any{"method": "card", "card_fingerprint": "fp-1"}
	txn := func(id string, amount float64, currency string, extra map[string]any, lines ...map[string]any) map[string]any {
		ev := map[string]any{"event_id": id, "type": "transaction", "schema_version": 1, "event_time": at.Format(time.RFC3339Nano),
			"transaction_id": "t-" + id, "customer_id": "cus-" + id, "lines": lines, "amount": amount, "currency": currency}
		maps.Copy(ev, extra)
		return ev
	}
	web := map[string]any{"channel": "web", "payment": card}
	msgs := jsonMsgs(t, []map[string]any{
		txn("e1", 20, "EUR", web, line("sku-a", 2, 10)),                      // margin +8, units 2
		txn("e2", 15, "EUR", web, line("sku-b", 3, 5)),                       // margin -9, units 3
		txn("e3", 15, "EUR", web, line("sku-a", 1, 10), line("sku-b", 1, 5)), // margin +1, units 2
		txn("e4", 10, "USD", map[string]any{"payment": map[string]any{"method": "paypal"}}, line("sku-x", 4, 2.5)),
		txn("e1", 20, "EUR", web, line("sku-a", 2, 10)),                                     // duplicate event_id: not counted
		txn("e6", 5, "XXX", web, line("sku-a", 1, 5)),                                       // invalid currency: dead-lettered
		{"raw": `{"event_id": "e7", "type": "transaction"`},                                 // malformed: dead-lettered
		txn("e8", 12, "EUR", map[string]any{"channel": "mobile_app"}, line("sku-a", 1, 12)), // margin +6
	})
	l.ProcessTransactions(msgs)
	reg := l.Metrics().Registry

	const eurWebCard = "channel=web,currency=EUR,payment_method=card"
	const usdPaypal = "channel=unspecified,currency=USD,payment_method=paypal"
	const eurApp = "channel=mobile_app,currency=EUR,payment_method=unspecified"
	assertSeries(t, reg, "ecap_revenue_total", map[string]float64{eurWebCard: 50, usdPaypal: 10, eurApp: 12})
	assertSeries(t, reg, "ecap_orders_total", map[string]float64{eurWebCard: 3, usdPaypal: 1, eurApp: 1})
	assertSeries(t, reg, "ecap_units_total", map[string]float64{eurWebCard: 7, usdPaypal: 4, eurApp: 1})
	// net margin of eurWebCard: 8 - 9 + 1 = 0, as gain 9 and loss 9
	assertSeries(t, reg, "ecap_margin_gain_total", map[string]float64{eurWebCard: 9, usdPaypal: 0, eurApp: 6})
	assertSeries(t, reg, "ecap_margin_loss_total", map[string]float64{eurWebCard: 9, usdPaypal: 0, eurApp: 0})
	assertSeries(t, reg, "ecap_events_rejected_total", map[string]float64{"reason=invalid_currency": 1, "reason=malformed_json": 1})

	// A replay of offsets the state already includes changes nothing.
	l.ProcessTransactions(msgs)
	assertSeries(t, reg, "ecap_orders_total", map[string]float64{eurWebCard: 3, usdPaypal: 1, eurApp: 1})
}

func TestKPIMetricsCountUserEventsByAction(t *testing.T) {
	rc := testRuntimeConfig([]string{"unused:9092"})
	s, err := Resolve(rc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	ue := func(id, action, channel string, extra ...string) map[string]any {
		ev := map[string]any{"event_id": id, "type": "user_event", "schema_version": 1, "event_time": at,
			"session_id": "ses-1", "action": action}
		if channel != "" {
			ev["channel"] = channel
		}
		for i := 0; i+1 < len(extra); i += 2 {
			ev[extra[i]] = extra[i+1]
		}
		return ev
	}
	msgs := jsonMsgs(t, []map[string]any{
		ue("u1", "product_view", "web", "product_id", "sku-a"),
		ue("u2", "product_view", "web", "product_id", "sku-b"),
		ue("u3", "product_view", "web", "product_id", "sku-a"),
		ue("u3", "product_view", "web", "product_id", "sku-a"), // duplicate
		ue("u4", "add_to_cart", "web", "product_id", "sku-a"),
		ue("u5", "add_to_cart", "mobile_app", "product_id", "sku-a"),
		ue("u6", "purchase", "web", "order_id", "o-1"),
		ue("u7", "search", "", "query", "red shoes"),
		ue("u8", "teleport", "web"), // invalid action: dead-lettered
	})
	l.ProcessUserEvents(msgs)
	reg := l.Metrics().Registry
	assertSeries(t, reg, "ecap_user_events_total", map[string]float64{
		"action=product_view,channel=web":       3,
		"action=add_to_cart,channel=web":        1,
		"action=add_to_cart,channel=mobile_app": 1,
		"action=purchase,channel=web":           1,
		"action=search,channel=unspecified":     1,
	})
	// ecap_events_in_total counts every record read, without the action:
	// it cannot give the funnel, which is why ecap_user_events_total exists.
	assertSeries(t, reg, "ecap_events_in_total", map[string]float64{"kind=user_event,topic=uevents": 9})
}

func TestSetSegmentCounts(t *testing.T) {
	rc := testRuntimeConfig([]string{"127.0.0.1:1"})
	s, err := Resolve(rc)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(s, Options{Kafka: kafkaio.Config{Brokers: rc.Pipeline.Spec.Kafka.Brokers}, Group: ConsumerGroup(rc)})
	if err != nil {
		t.Fatal(err)
	}
	reg := e.Metrics().Registry
	const name = "ecap_segment_customers"

	e.SetSegmentCounts("rfm", map[string]int{"champions": 3, "at_risk": 5})
	e.SetSegmentCounts("churn", map[string]int{"likely": 7})
	assertSeries(t, reg, name, map[string]float64{
		"segment=champions,segmentation=rfm": 3, "segment=at_risk,segmentation=rfm": 5, "segment=likely,segmentation=churn": 7})

	// A later run replaces the counts; a segment that vanished goes away,
	// a segment with zero customers stays at 0.
	e.SetSegmentCounts("rfm", map[string]int{"champions": 4, "new": 0})
	assertSeries(t, reg, name, map[string]float64{
		"segment=champions,segmentation=rfm": 4, "segment=new,segmentation=rfm": 0, "segment=likely,segmentation=churn": 7})

	// No counts removes the Segmentation, leaving the others alone.
	e.SetSegmentCounts("rfm", nil)
	assertSeries(t, reg, name, map[string]float64{"segment=likely,segmentation=churn": 7})
}
