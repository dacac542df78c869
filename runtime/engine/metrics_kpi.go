package engine

import (
	"math"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecap-dev/ecap/runtime/events"
)

// Unspecified is the label value of an optional enum field the event left
// out (channel, payment method): Prometheus treats an empty label value as a
// missing label, which would merge it with series that lack the label.
const Unspecified = "unspecified"

// kpiMetrics are the business series: sales counters per accepted
// transaction, user-behaviour counts per accepted user event, and customers
// per segment. The sales counters count what the stage chain accepted
// (valid, not a duplicate, not already in the restored state), so they agree
// with the windowed KPIs on the KPI topic.
//
// Cardinality. channel takes the 5 events.Channel values or Unspecified,
// payment_method the 8 events.PaymentMethod values or Unspecified, action the
// 7 events.Action values. currency is an active ISO 4217 code (about 155) and
// is bounded further by validation.allowedCurrencies. Amounts are not
// converted to a reporting currency (docs/runtime.md), so revenue and margin
// are only summable within one currency: currency is a label of every sales
// counter, and orders carry it too so that revenue/orders (AOV) divides like
// by like. A pipeline that sells in C currencies therefore exports at most
// C*6*9 series per sales counter, and only the combinations that occur; a
// pipeline has at most 42 user-event series, and a Segmentation at most
// MaxItems=32 segment series.
type kpiMetrics struct {
	revenue    *prometheus.CounterVec // currency, channel, payment_method
	orders     *prometheus.CounterVec // currency, channel, payment_method
	units      *prometheus.CounterVec // currency, channel, payment_method
	marginGain *prometheus.CounterVec // currency, channel, payment_method
	marginLoss *prometheus.CounterVec // currency, channel, payment_method
	userEvents *prometheus.CounterVec // action, channel
	segments   *prometheus.GaugeVec   // segmentation, segment

	segMu    sync.Mutex
	segNames map[string]map[string]bool // segmentation -> segments exported
}

func newKPIMetrics() *kpiMetrics {
	sales := []string{"currency", "channel", "payment_method"}
	return &kpiMetrics{
		revenue: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_revenue_total",
			Help: "Revenue of accepted transactions (their amount), in major units of the currency label."}, sales),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_orders_total",
			Help: "Accepted transactions (one order each)."}, sales),
		units: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_units_total",
			Help: "Units sold: the sum of line quantities of accepted transactions."}, sales),
		marginGain: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_margin_gain_total",
			Help: "Catalog margin of accepted transactions whose margin is positive; margin = gain - loss."}, sales),
		marginLoss: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_margin_loss_total",
			Help: "Absolute catalog margin of accepted transactions whose margin is negative; margin = gain - loss."}, sales),
		userEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_user_events_total",
			Help: "Accepted user-behaviour events, by action and channel."}, []string{"action", "channel"}),
		segments: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ecap_segment_customers",
			Help: "Customers per segment in the last run of a Segmentation."}, []string{"segmentation", "segment"}),
		segNames: map[string]map[string]bool{},
	}
}

func (k *kpiMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{k.revenue, k.orders, k.units, k.marginGain, k.marginLoss, k.userEvents, k.segments}
}

// salesKey selects one child of every sales counter.
type salesKey struct {
	currency string
	channel  events.Channel
	method   events.PaymentMethod
}

// salesSeries are the resolved children of one salesKey, so that the per-event
// path does a map lookup instead of hashing label values into each vector,
// and what a batch has counted into them so far: the counters get it in
// one Add each at the end of the batch (flushSales) instead of five atomic
// updates per transaction.
type salesSeries struct {
	revenue, orders, units, marginGain, marginLoss prometheus.Counter

	nOrders, nUnits              int64
	revenueSum, gainSum, lossSum float64
	pending                      bool // listed in kpiCache.pending
}

// userEventKey selects one child of ecap_user_events_total.
type userEventKey struct {
	action  events.Action
	channel events.Channel
}

// kpiCache holds one processor's resolved children. It is owned by the
// processor's goroutine and needs no lock; the vectors behind it are shared.
type kpiCache struct {
	sales      map[salesKey]*salesSeries
	userEvents map[userEventKey]prometheus.Counter
	// last and lastKey: the series of the previous sale of the batch, which
	// the next one most often shares.
	last    *salesSeries
	lastKey salesKey
	// pending lists the series with counts not yet flushed.
	pending []*salesSeries
}

func orUnspecified[T ~string](v T) string {
	if v == "" {
		return Unspecified
	}
	return string(v)
}

// countSale adds one accepted transaction with its unit count and catalog
// margin (0 without a catalog) to the sales counters, at the batch's end
// (flushSales).
func (k *kpiMetrics) countSale(c *kpiCache, t *events.Transaction, units int64, margin float64) {
	key := salesKey{currency: t.Currency, channel: t.Channel, method: t.Payment.Method}
	s := c.last
	if s == nil || key != c.lastKey {
		s = c.sales[key]
		if s == nil {
			if c.sales == nil {
				c.sales = map[salesKey]*salesSeries{}
			}
			lv := []string{t.Currency, orUnspecified(t.Channel), orUnspecified(t.Payment.Method)}
			s = &salesSeries{revenue: k.revenue.WithLabelValues(lv...), orders: k.orders.WithLabelValues(lv...),
				units: k.units.WithLabelValues(lv...), marginGain: k.marginGain.WithLabelValues(lv...),
				marginLoss: k.marginLoss.WithLabelValues(lv...)}
			// The key may point into the record's bytes: keep a copy.
			key.currency = strings.Clone(key.currency)
			c.sales[key] = s
		}
		c.last, c.lastKey = s, key
	}
	if !s.pending {
		s.pending = true
		c.pending = append(c.pending, s)
	}
	s.nOrders++
	s.revenueSum += t.Amount
	s.nUnits += units
	switch {
	case math.IsNaN(margin) || math.IsInf(margin, 0):
	case margin > 0:
		s.gainSum += margin
	case margin < 0:
		s.lossSum -= margin
	}
}

// flushSales adds the sales counted since the last flush to the counters.
func (k *kpiMetrics) flushSales(c *kpiCache) {
	for _, s := range c.pending {
		s.orders.Add(float64(s.nOrders))
		s.revenue.Add(s.revenueSum)
		s.units.Add(float64(s.nUnits))
		if s.gainSum > 0 {
			s.marginGain.Add(s.gainSum)
		}
		if s.lossSum > 0 {
			s.marginLoss.Add(s.lossSum)
		}
		s.nOrders, s.nUnits, s.revenueSum, s.gainSum, s.lossSum, s.pending = 0, 0, 0, 0, 0, false
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	// Drop the previous sale's key, which may point into the batch's bytes.
	c.last, c.lastKey = nil, salesKey{}
}

// countUserEvent adds one accepted user event.
func (k *kpiMetrics) countUserEvent(c *kpiCache, u *events.UserEvent) {
	key := userEventKey{action: u.Action, channel: u.Channel}
	ctr := c.userEvents[key]
	if ctr == nil {
		if c.userEvents == nil {
			c.userEvents = map[userEventKey]prometheus.Counter{}
		}
		ctr = k.userEvents.WithLabelValues(string(u.Action), orUnspecified(u.Channel))
		c.userEvents[key] = ctr
	}
	ctr.Inc()
}

// SetSegmentCounts publishes the customers per segment of one Segmentation
// (by name) as ecap_segment_customers. counts are the customers this replica
// scored (the customers of its partitions): dashboards sum the gauge over
// replicas. Segments exported before and missing from counts are removed,
// and an empty counts removes the Segmentation's series altogether. Safe for
// concurrent use.
func (m *Metrics) SetSegmentCounts(segmentation string, counts map[string]int) {
	k := m.kpi
	k.segMu.Lock()
	defer k.segMu.Unlock()
	for seg := range k.segNames[segmentation] {
		if _, ok := counts[seg]; !ok {
			k.segments.DeleteLabelValues(segmentation, seg)
		}
	}
	if len(counts) == 0 {
		delete(k.segNames, segmentation)
		return
	}
	names := make(map[string]bool, len(counts))
	for seg, n := range counts {
		k.segments.WithLabelValues(segmentation, seg).Set(float64(n))
		names[seg] = true
	}
	k.segNames[segmentation] = names
}

// SetSegmentCounts publishes the customers per segment of one Segmentation;
// see Metrics.SetSegmentCounts.
func (e *Engine) SetSegmentCounts(segmentation string, counts map[string]int) {
	e.metrics.SetSegmentCounts(segmentation, counts)
}
