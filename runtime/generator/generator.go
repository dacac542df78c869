package generator

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

// Record is one generated record, ready for Kafka or a file.
type Record struct {
	// Topic is the kind of event, which picks the topic.
	Topic events.Kind
	// Key is the Kafka key: the customer ID (product ID for products).
	Key []byte
	// Value is the JSON payload. Good records are events.Encode output.
	Value []byte
	// EventTime is the record's event_time (for bad records, the time the
	// payload claims or would have claimed).
	EventTime time.Time
	// Bad is empty for good records and one of the Bad* reasons otherwise.
	Bad string
}

// Stats counts what a Generator has produced so far.
type Stats struct {
	// Records is every record returned by Next, good and bad.
	Records int64
	// ByKind counts good records per event kind.
	ByKind map[events.Kind]int64
	// Bad counts bad records per reason.
	Bad map[string]int64
	// Fraud counts fraudulent transactions per pattern.
	Fraud map[string]int64
	// LegitTransactions counts transactions labelled {fraud: false}.
	LegitTransactions int64
	// Sessions counts browsing sessions started.
	Sessions int64
	// Funnel counts sessions that reached each step of FunnelSteps, when
	// they are simulated (a session's later events may still be queued).
	Funnel [5]int64
	// Customers counts customers acquired (the population, not the
	// throwaway accounts fraudsters open).
	Customers int64
	// ActiveCustomers counts customers that have not dropped out.
	ActiveCustomers int64
	// EventTime is the event time of the latest good record.
	EventTime time.Time
}

// FunnelSteps are the session funnel's steps, in order.
var FunnelSteps = []events.Action{events.ActionPageView, events.ActionProductView, events.ActionAddToCart,
	events.ActionCheckoutStart, events.ActionPurchase}

// Generator produces a deterministic stream of commerce events. It is not
// safe for concurrent use.
type Generator struct {
	cfg    Config
	rng    *rand.Rand
	cal    calendar
	cat    *catalog
	start  int64 // unix nanoseconds
	end    int64 // unix nanoseconds; 0 = none
	stats  Stats
	nextID int // next customer number, shared by population and fraud accounts

	customers []*customer
	schedule  timeHeap[int32] // next candidate session per active customer
	pending   timeHeap[pendingRecord]
	seq       uint64

	nextAcquisition int64
	nextPriceChange int64

	fraud    fraudState
	lastGood [3]*goodRecord // by kind index, for bad records
	lastKind int
	done     bool
}

// pendingRecord is an event scheduled for emission.
type pendingRecord struct {
	key   string
	event events.Event
}

// goodRecord is a good record kept as the base of bad ones.
type goodRecord struct {
	key   string
	event events.Event
	value []byte
}

const secondsPerWeek = 7 * 24 * 3600

// New returns a Generator for cfg. It panics on an invalid Config; use
// NewChecked to get the error instead.
func New(cfg Config) *Generator {
	g, err := NewChecked(cfg)
	if err != nil {
		panic(fmt.Sprintf("generator: %v", err))
	}
	return g
}

// NewChecked returns a Generator for cfg, or why cfg is invalid.
func NewChecked(cfg Config) (*Generator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		cal:   newCalendar(cfg.PromoEveryDays),
		start: cfg.Start.UnixNano(),
		stats: Stats{ByKind: map[events.Kind]int64{}, Bad: map[string]int64{}, Fraud: map[string]int64{}},
	}
	if !cfg.End.IsZero() {
		g.end = cfg.End.UnixNano()
	}
	g.cat = newCatalog(g.rng, cfg.Products)
	for i := range g.cat.products {
		g.push(g.start, g.cat.products[i].id, g.productUpdate(i, g.start))
	}
	for range cfg.Customers {
		g.acquire(g.start)
	}
	g.nextAcquisition = g.after(g.start, cfg.AcquisitionPerDay*cfg.TimeScale/86400)
	g.nextPriceChange = g.after(g.start, cfg.PriceChangesPerDay*cfg.TimeScale/86400)
	g.fraud = newFraudState(g)
	return g, nil
}

// Config returns the configuration with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// after returns a time an exponential wait at ratePerSecond after t, or
// never for a zero rate.
func (g *Generator) after(t int64, ratePerSecond float64) int64 {
	if !(ratePerSecond > 0) {
		return never
	}
	// Waits beyond a century (a customer whose λ is next to zero) are
	// never; this also keeps the nanosecond arithmetic from overflowing.
	wait := expSeconds(g.rng, ratePerSecond)
	if !(wait < maxWaitSeconds) {
		return never
	}
	return t + int64(wait*1e9) + 1
}

const maxWaitSeconds = 100 * 365 * 86400

const never = int64(1<<63 - 1)

// push schedules ev for emission at its event time.
func (g *Generator) push(at int64, key string, ev events.Event) {
	g.seq++
	g.pending.push(at, g.seq, pendingRecord{key: key, event: ev})
}

// Next returns the next record, in event-time order except for the late
// records of bad-input mode, and false once Config.End is passed.
func (g *Generator) Next() (Record, bool) {
	if g.done {
		return Record{}, false
	}
	if g.cfg.BadFraction > 0 && g.rng.Float64() < g.cfg.BadFraction {
		if rec, ok := g.badRecord(); ok {
			g.count(rec)
			return rec, true
		}
	}
	for {
		next := min(g.schedule.peekTime(), g.nextAcquisition, g.nextPriceChange)
		if g.pending.len() > 0 && g.pending.peekTime() <= next {
			at, p := g.pending.pop()
			if g.end != 0 && at > g.end {
				g.done = true
				return Record{}, false
			}
			rec := g.encode(at, p)
			g.count(rec)
			return rec, true
		}
		if next == never || (g.end != 0 && next > g.end && g.pending.len() == 0) {
			g.done = true
			return Record{}, false
		}
		g.step(next)
	}
}

// step advances the simulation to t, the time of its earliest happening.
func (g *Generator) step(t int64) {
	switch {
	case t == g.nextAcquisition:
		g.acquire(t)
		g.nextAcquisition = g.after(t, g.cfg.AcquisitionPerDay*g.cfg.TimeScale/86400)
	case t == g.nextPriceChange:
		g.changePrice(t)
		g.nextPriceChange = g.after(t, g.cfg.PriceChangesPerDay*g.cfg.TimeScale/86400)
	default:
		_, idx := g.schedule.pop()
		c := g.customers[idx]
		// Thinning: candidates arrive at the peak rate and are kept with
		// probability multiplier/peak, which gives the time-varying rate.
		if g.rng.Float64()*g.cal.maxMultiplier < g.cal.multiplier(time.Unix(0, t), Cities[c.city].UTCOffset) {
			g.session(c, t)
		}
		if !c.alive {
			g.stats.ActiveCustomers--
		} else if at := g.after(t, c.candidateRate); at != never {
			g.schedule.push(at, 0, idx)
		}
	}
}

func (g *Generator) encode(at int64, p pendingRecord) Record {
	value, err := events.Encode(p.event)
	if err != nil {
		panic(fmt.Sprintf("generator: failed to encode %s: %v", p.event.Kind(), err)) // generated values are always encodable
	}
	kind := p.event.Kind()
	k := kindIndex(kind)
	g.lastGood[k] = &goodRecord{key: p.key, event: p.event, value: value}
	g.lastKind = k
	g.stats.ByKind[kind]++
	if tx, ok := p.event.(*events.Transaction); ok {
		if tx.Label.Fraud {
			g.stats.Fraud[tx.Label.Pattern]++
		} else {
			g.stats.LegitTransactions++
		}
	}
	g.stats.EventTime = time.Unix(0, at).UTC()
	return Record{Topic: kind, Key: []byte(p.key), Value: value, EventTime: g.stats.EventTime}
}

func (g *Generator) count(rec Record) {
	g.stats.Records++
	if rec.Bad != "" {
		g.stats.Bad[rec.Bad]++
	}
}

func kindIndex(k events.Kind) int {
	switch k {
	case events.KindTransaction:
		return 0
	case events.KindUserEvent:
		return 1
	}
	return 2
}

// Stats returns a copy of the counters.
func (g *Generator) Stats() Stats {
	s := g.stats
	s.ByKind = copyMap(s.ByKind)
	s.Bad = copyMap(s.Bad)
	s.Fraud = copyMap(s.Fraud)
	return s
}

func copyMap[K comparable](m map[K]int64) map[K]int64 {
	c := make(map[K]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// envelope returns a fresh envelope of kind at t.
func (g *Generator) envelope(kind events.Kind, t int64) events.Envelope {
	return events.Envelope{EventID: uuid(g.rng), Type: kind, SchemaVersion: events.SchemaVersion, EventTime: time.Unix(0, t).UTC()}
}

// timeHeap is a binary min-heap ordered by (time, seq), typed to avoid
// container/heap's boxing.
type timeHeap[T any] struct {
	items []heapItem[T]
}

type heapItem[T any] struct {
	at  int64
	seq uint64
	v   T
}

func (h *timeHeap[T]) len() int { return len(h.items) }

func (h *timeHeap[T]) peekTime() int64 {
	if len(h.items) == 0 {
		return never
	}
	return h.items[0].at
}

func (a heapItem[T]) less(b heapItem[T]) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (h *timeHeap[T]) push(at int64, seq uint64, v T) {
	h.items = append(h.items, heapItem[T]{at, seq, v})
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.items[i].less(h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *timeHeap[T]) pop() (int64, T) {
	top := h.items[0]
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	var zero heapItem[T]
	h.items[n] = zero
	h.items = h.items[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.items[l].less(h.items[m]) {
			m = l
		}
		if r < n && h.items[r].less(h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top.at, top.v
}
