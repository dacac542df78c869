package kpi

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	metro "github.com/dgryski/go-metro"
)

// Reserved series names.
const (
	// DimensionAll is the Dimension (and Value) of the overall series.
	DimensionAll = "all"
	// OtherValue collects the values of a dimension beyond
	// MaxDimensionValues. A real value spelled "other" lands there too.
	OtherValue = "other"
	// UnknownValue stands for an empty dimension value.
	UnknownValue = "unknown"
)

// hashSeed is the seed hyperloglog's Insert uses; hashing with it keeps our
// sketches interchangeable with the library's own.
const hashSeed = 1337

// Aggregator computes the windowed KPIs of one partition. It is not safe for
// concurrent use.
type Aggregator struct {
	cfg       Config
	maxValues int
	// dimIdx maps configured dimension i to its index in Observation.Dims.
	dimIdx []int
	// catDim is the configured index of the category dimension, -1 when it
	// is not configured.
	catDim   int
	registry []valueRegistry
	sets     []windowSet
	ooo      int64
	lateness int64
	// maxEvent is the largest event time seen, valid when seen is set.
	maxEvent int64
	seen     bool
	// closeAt: closeWindows has nothing to do while the watermark is below
	// it (setCloseAt); math.MinInt64 until its first pass, and after a
	// restore.
	closeAt int64

	// slots and shareUpd are scratch of add: the series slots of the
	// transaction-level dimensions, and the category shares.
	slots    []int32
	shareUpd []shareUpdate
	// closed holds the windows the watermark closed, built from their panes
	// when it passed their close time, until Emit hands them out.
	closed []closedWindow
	// spare: the customer sets' buffers of released panes, for reuse.
	spare spareBuffers
}

// windowSet keeps one window definition's data as panes: the slices
// [start, start+advance) of event time. A window of size/advance panes is
// their union, built once when the watermark closes it, so an event updates
// one pane instead of every window it belongs to (12 for a 1h window
// advancing by 5m). Sums add and customer sets unite exactly (see
// customerSet.union), so the results are those of per-window aggregation.
type windowSet struct {
	name          string
	size, advance int64
	// windows is size/advance: the windows an event belongs to.
	windows int64
	panes   map[int64]*windowState
	// cur is the pane the last event went to, which the next one most
	// likely shares; nil once that pane is dropped.
	cur *windowState
	// closedEnd: every window ending at or before it has been closed. Ends
	// are multiples of advance.
	closedEnd int64
	// lateOrders holds the late orders per window and series: they depend on
	// the window an event was admitted into, not only on its pane. Only
	// events admitted after the watermark passed a window's end have entries.
	lateOrders map[lateKey]int64
	// nextClose is the earliest watermark at which a window holding data
	// closes.
	nextClose     int64
	late, partial uint64
}

// lateKey names one series of one window; dim -1 is the overall series.
type lateKey struct {
	start int64
	dim   int32
	slot  int32
}

type windowState struct {
	start int64
	all   measures
	// groups[i][slot] is the series of configured dimension i's value in
	// slot; the slot maxValues is "other". Allocated on first use.
	groups [][]*measures
}

type measures struct {
	revenue, margin int64 // millionths of the currency unit
	orders, units   int64
	lateOrders      int64
	customers       customerSet
}

type valueRegistry struct {
	slots  map[string]int32
	values []string
	// keys[s] is valueKey(values[s]).
	keys   []uint64
	folded uint64
}

type closedWindow struct {
	set int
	st  *windowState
}

// NewAggregator returns an empty Aggregator for cfg.
func NewAggregator(cfg Config) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Windows = slices.Clone(cfg.Windows)
	cfg.Dimensions = slices.Clone(cfg.Dimensions)
	a := &Aggregator{
		cfg:       cfg,
		maxValues: cfg.maxValues(),
		ooo:       int64(cfg.MaxOutOfOrderness),
		lateness:  int64(cfg.AllowedLateness),
		slots:     make([]int32, len(cfg.Dimensions)),
		catDim:    -1,
		closeAt:   math.MinInt64,
	}
	for i, d := range cfg.Dimensions {
		a.dimIdx = append(a.dimIdx, dimensionIndex[d])
		if dimensionIndex[d] == DimCategory {
			a.catDim = i
		}
		a.registry = append(a.registry, valueRegistry{slots: make(map[string]int32)})
	}
	for _, w := range cfg.Windows {
		a.sets = append(a.sets, windowSet{
			name:       w.Name,
			size:       int64(w.Size),
			advance:    int64(w.Advance),
			windows:    int64(w.Size / w.Advance),
			panes:      make(map[int64]*windowState),
			closedEnd:  math.MinInt64,
			lateOrders: make(map[lateKey]int64),
			nextClose:  math.MaxInt64,
		})
	}
	return a, nil
}

// Config returns the configuration a was built with.
func (a *Aggregator) Config() Config {
	c := a.cfg
	c.Windows = slices.Clone(c.Windows)
	c.Dimensions = slices.Clone(c.Dimensions)
	return c
}

// Add aggregates o into every window of o.EventTime that is still open and
// advances the watermark. Closed windows are collected by Emit. It reports
// whether o was late for some window name: all its windows of that name had
// closed, so it is aggregated nowhere in them.
func (a *Aggregator) Add(o Observation) (late bool) {
	return a.add(&o, nil)
}

// add aggregates o, split into shares by category when there are any: it is
// Add of one Observation per share (o with the share's category, revenue,
// units and margin, every share after the first a continuation) done in one
// pass. The shares have o's event time, so the watermark cannot close any
// of their windows between them (it trails the event time by
// MaxOutOfOrderness >= 0, and every window of o.EventTime ends after it):
// admission, open windows and late counts are those of the first share, and
// the work that does not depend on the category is done once. In the
// overall series and the other dimensions every share adds to the same
// series, whose sums are integers (add in any order) and whose customer set
// gets the same hash (inserting it again changes nothing), so they receive
// the shares' totals once.
func (a *Aggregator) add(o *Observation, shares []CategoryShare) (late bool) {
	t := o.EventTime.UnixNano()
	wm := a.watermark()
	a.closeWindows(wm)
	admitted := false
	for i := range a.sets {
		ws := &a.sets[i]
		if wm < addSat(ws.paneOf(t)+ws.size, a.lateness) {
			admitted = true
			break
		}
	}
	if !admitted {
		if !o.Continuation {
			for i := range a.sets {
				a.sets[i].late++
			}
		}
		return !o.Continuation
	}

	var h uint64
	if o.CustomerID != "" {
		h = metro.Hash64Str(o.CustomerID, hashSeed)
	}
	txnOrders := o.Orders
	if o.Continuation {
		txnOrders = 0
	}
	// One update per share for the category series, its slot looked up in
	// share order (the order values are admitted to the registry in), and
	// their total for the others. Category splits count their orders in
	// their category.
	total := update{orders: txnOrders, hash: h, customer: o.CustomerID != ""}
	catDim := a.catDim
	a.shareUpd = a.shareUpd[:0]
	if len(shares) == 0 {
		total.revenue, total.margin, total.units = toMillionths(o.Revenue), toMillionths(o.Margin), o.Units
		su := shareUpdate{u: total}
		su.u.orders = o.Orders
		if catDim >= 0 {
			su.slot = a.registry[catDim].slot(o.Dims[DimCategory], a.maxValues)
		}
		a.shareUpd = append(a.shareUpd, su)
	} else {
		base := total
		base.orders = o.Orders
		for k := range shares {
			s := &shares[k]
			su := shareUpdate{u: base}
			su.u.revenue, su.u.margin, su.u.units = toMillionths(s.Revenue), toMillionths(s.Margin), s.Units
			total.revenue += su.u.revenue
			total.margin += su.u.margin
			total.units += su.u.units
			if catDim >= 0 {
				su.slot = a.registry[catDim].slot(s.Category, a.maxValues)
			}
			a.shareUpd = append(a.shareUpd, su)
		}
	}
	for i, d := range a.dimIdx {
		if i == catDim {
			continue
		}
		a.slots[i] = a.registry[i].slot(o.Dims[d], a.maxValues)
		if a.slots[i] == int32(a.maxValues) {
			// Folded once per share, as Add of each share would.
			a.registry[i].folded += uint64(len(a.shareUpd) - 1)
		}
	}

	for i := range a.sets {
		ws := &a.sets[i]
		pane := ws.paneOf(t)
		// The windows of t start at pane, pane-advance, ... (size/advance
		// of them); the newest closes last. Count the open ones: all of
		// them when the oldest is (an event on time), else one by one.
		windows := ws.windows
		open := windows
		if wm >= addSat(pane-(windows-1)*ws.advance+ws.size, a.lateness) {
			open = 0
			for open < windows && wm < addSat(pane-open*ws.advance+ws.size, a.lateness) {
				open++
			}
		}
		switch {
		case open == 0:
			if !o.Continuation {
				ws.late++
				late = true
			}
			continue
		case open < windows:
			if !o.Continuation {
				ws.partial++
			}
		}
		st := ws.cur
		if st == nil || st.start != pane {
			prev := st
			if st = ws.panes[pane]; st == nil {
				st = &windowState{start: pane}
				ws.panes[pane] = st
			}
			if prev != nil && prev.start < pane {
				// Time moved on: the pane left behind gets few events
				// more, and its buffers go.
				prev.release(&a.spare)
			}
			ws.cur = st
		}
		oldest := pane - (open-1)*ws.advance
		ws.nextClose = min(ws.nextClose, addSat(oldest+ws.size, a.lateness))
		st.all.add(&total, &a.spare)
		if st.groups == nil && len(a.slots) > 0 {
			st.groups = make([][]*measures, len(a.slots))
		}
		for j, slot := range a.slots {
			if j == catDim {
				for k := range a.shareUpd {
					su := &a.shareUpd[k]
					a.series(st, j, su.slot).add(&su.u, &a.spare)
				}
				continue
			}
			a.series(st, j, slot).add(&total, &a.spare)
		}
		// Windows whose end the watermark already passed count the event
		// as a late order; they are the oldest of the open ones.
		for s := oldest; s <= pane && wm >= s+ws.size; s += ws.advance {
			a.addLateOrders(ws, s, catDim, txnOrders, o.Orders)
		}
	}
	if !a.seen || t > a.maxEvent {
		a.maxEvent, a.seen = t, true
	}
	return late
}

// release inserts the customers pending in st's series and frees their
// buffers, keeping full-size ones in sp.
func (st *windowState) release(sp *spareBuffers) {
	st.all.customers.release(sp)
	for _, g := range st.groups {
		for _, m := range g {
			if m != nil {
				m.customers.release(sp)
			}
		}
	}
}

// paneOf returns the start of the pane of event time t: the current
// pane's, without a division, when t falls in it (most events do).
func (ws *windowSet) paneOf(t int64) int64 {
	if c := ws.cur; c != nil && t >= c.start && uint64(t)-uint64(c.start) < uint64(ws.advance) {
		return c.start
	}
	return floorDiv(t, ws.advance) * ws.advance
}

// series returns the measures of configured dimension j's slot in st,
// allocating them on first use.
func (a *Aggregator) series(st *windowState, j int, slot int32) *measures {
	g := st.groups[j]
	if g == nil {
		g = make([]*measures, a.maxValues+1)
		st.groups[j] = g
	}
	m := g[slot]
	if m == nil {
		m = new(measures)
		g[slot] = m
	}
	return m
}

// shareUpdate is one category share of the observation being added: the
// category's series slot and what it adds there. It holds no pointer (the
// category is looked up as the share is read), so that filling the scratch
// needs no write barrier while the collector marks.
type shareUpdate struct {
	slot int32
	u    update
}

// addLateOrders counts the observation being added as late orders of the
// window of ws starting at start: txnOrders in the overall series and the
// transaction-level dimensions, orders per share in the category dimension
// (catDim, -1 when not configured).
func (a *Aggregator) addLateOrders(ws *windowSet, start int64, catDim int, txnOrders, orders int64) {
	if txnOrders != 0 {
		ws.lateOrders[lateKey{start: start, dim: -1}] += txnOrders
	}
	for j, slot := range a.slots {
		if j == catDim {
			if orders != 0 {
				for k := range a.shareUpd {
					ws.lateOrders[lateKey{start: start, dim: int32(j), slot: a.shareUpd[k].slot}] += orders
				}
			}
			continue
		}
		if txnOrders != 0 {
			ws.lateOrders[lateKey{start: start, dim: int32(j), slot: slot}] += txnOrders
		}
	}
}

// closeWindows builds every window whose close time the watermark wm has
// reached from its panes, queues it for Emit, and drops the panes no open
// window needs. It runs before an event is admitted, so a closed window
// holds exactly the events admitted while it was open.
func (a *Aggregator) closeWindows(wm int64) {
	if !a.seen || wm < a.closeAt {
		return
	}
	defer a.setCloseAt()
	for i := range a.sets {
		ws := &a.sets[i]
		// Windows end on multiples of advance; those with end+lateness <= wm
		// close. None does before the watermark reaches the next end after
		// closedEnd (plus lateness): no division for most events.
		x := subSat(wm, a.lateness)
		if ws.closedEnd != math.MinInt64 && x < addSat(ws.closedEnd, ws.advance) {
			continue
		}
		closedEnd := floorDiv(x, ws.advance) * ws.advance
		if closedEnd <= ws.closedEnd {
			continue
		}
		if wm < ws.nextClose {
			// No window holding data closes: only move the boundary, so
			// that panes filled later never reach the windows passed here.
			ws.closedEnd = closedEnd
			continue
		}
		var starts []int64
		for p := range ws.panes {
			for s := p - ws.size + ws.advance; s <= p; s += ws.advance {
				if end := s + ws.size; end > ws.closedEnd && end <= closedEnd {
					starts = append(starts, s)
				}
			}
		}
		slices.Sort(starts)
		starts = slices.Compact(starts)
		for _, s := range starts {
			a.closed = append(a.closed, closedWindow{set: i, st: a.buildWindow(ws, s)})
		}
		ws.closedEnd = closedEnd
		next := int64(math.MaxInt64)
		for p := range ws.panes {
			if p+ws.size <= closedEnd {
				ws.drop(p)
				continue
			}
			oldest := max(p-ws.size+ws.advance, closedEnd-ws.size+ws.advance)
			next = min(next, addSat(oldest+ws.size, a.lateness))
		}
		ws.nextClose = next
		for k := range ws.lateOrders {
			if k.start+ws.size <= closedEnd {
				delete(ws.lateOrders, k)
			}
		}
	}
}

// setCloseAt sets closeAt to the least watermark at which closeWindows
// could close a window or move a boundary: the least next end (plus
// lateness) of the window sets, each of which closeWindows skips below it.
// Before a set has a boundary there is none.
func (a *Aggregator) setCloseAt() {
	at := int64(math.MaxInt64)
	for i := range a.sets {
		ws := &a.sets[i]
		if ws.closedEnd == math.MinInt64 {
			at = math.MinInt64
			break
		}
		at = min(at, addSat(addSat(ws.closedEnd, ws.advance), a.lateness))
	}
	a.closeAt = at
}

// drop forgets the pane starting at start.
func (ws *windowSet) drop(start int64) {
	delete(ws.panes, start)
	if ws.cur != nil && ws.cur.start == start {
		ws.cur = nil
	}
}

// buildWindow unites the panes of the window starting at start.
func (a *Aggregator) buildWindow(ws *windowSet, start int64) *windowState {
	if ws.size == ws.advance {
		// A tumbling window is its one pane.
		st := ws.panes[start]
		ws.drop(start)
		a.applyLateOrders(ws, st)
		return st
	}
	st := &windowState{start: start}
	for p := start; p < start+ws.size; p += ws.advance {
		pane := ws.panes[p]
		if pane == nil {
			continue
		}
		st.all.merge(&pane.all)
		for j, g := range pane.groups {
			if g == nil {
				continue
			}
			if st.groups == nil {
				st.groups = make([][]*measures, len(pane.groups))
			}
			if st.groups[j] == nil {
				st.groups[j] = make([]*measures, len(g))
			}
			for slot, m := range g {
				if m == nil {
					continue
				}
				if st.groups[j][slot] == nil {
					st.groups[j][slot] = new(measures)
				}
				st.groups[j][slot].merge(m)
			}
		}
	}
	a.applyLateOrders(ws, st)
	return st
}

func (a *Aggregator) applyLateOrders(ws *windowSet, st *windowState) {
	if len(ws.lateOrders) == 0 {
		return
	}
	st.all.lateOrders = ws.lateOrders[lateKey{start: st.start, dim: -1}]
	for j, g := range st.groups {
		for slot, m := range g {
			if m != nil {
				m.lateOrders = ws.lateOrders[lateKey{start: st.start, dim: int32(j), slot: int32(slot)}]
			}
		}
	}
}

// update is what one observation adds to a series.
type update struct {
	revenue, margin int64
	units, orders   int64
	hash            uint64
	customer        bool
}

func (m *measures) add(u *update, sp *spareBuffers) {
	m.revenue += u.revenue
	m.margin += u.margin
	m.units += u.units
	m.orders += u.orders
	if u.customer {
		m.customers.add(u.hash, sp)
	}
}

// merge adds o's sums and customers to m. Late orders are per window and
// set by applyLateOrders.
func (m *measures) merge(o *measures) {
	m.revenue += o.revenue
	m.margin += o.margin
	m.units += o.units
	m.orders += o.orders
	m.customers.union(&o.customers)
}

// scannedValues is the number of admitted values up to which slot finds a
// value by comparing it with each instead of through the map.
const scannedValues = 8

// slot returns the series slot of value v, admitting v if there is room.
func (r *valueRegistry) slot(v string, maxValues int) int32 {
	if v == "" {
		v = UnknownValue
	}
	if len(r.values) <= scannedValues {
		// A handful of values (countries, channels) compare faster than
		// they hash, and their keys faster than their bytes: a value of at
		// most seven bytes is its key.
		k := valueKey(v)
		for s, x := range r.keys {
			if x == k && (len(v) < 8 || r.values[s] == v) {
				return int32(s)
			}
		}
	} else if s, ok := r.slots[v]; ok {
		return s
	}
	if v == OtherValue || len(r.values) >= maxValues {
		r.folded++
		return int32(maxValues)
	}
	return r.admit(strings.Clone(v))
}

// admit gives v, not yet admitted, the next slot.
func (r *valueRegistry) admit(v string) int32 {
	s := int32(len(r.values))
	r.slots[v] = s
	r.values = append(r.values, v)
	r.keys = append(r.keys, valueKey(v))
	return s
}

// valueKey packs the first seven bytes of v (fewer when shorter, the rest
// 0) and its length, capped at 255, into a word: equal strings have equal
// keys, and strings of at most seven bytes with equal keys are equal.
func valueKey(v string) uint64 {
	var k uint64
	for i := min(len(v), 7) - 1; i >= 0; i-- {
		k = k<<8 | uint64(v[i])
	}
	return k | uint64(min(len(v), 255))<<56
}

func (r *valueRegistry) value(slot int32) string {
	if int(slot) < len(r.values) {
		return r.values[slot]
	}
	return OtherValue
}

// Watermark returns the current watermark; ok is false before the first
// event.
func (a *Aggregator) Watermark() (wm time.Time, ok bool) {
	if !a.seen {
		return time.Time{}, false
	}
	return time.Unix(0, a.watermark()).UTC(), true
}

func (a *Aggregator) watermark() int64 {
	if !a.seen {
		return math.MinInt64
	}
	return subSat(a.maxEvent, a.ooo)
}

// Emit appends the results of every window the watermark has closed to dst
// and forgets those windows. The order is fixed: ascending window end, then
// window in configuration order, then start; within a window "all" first,
// then the dimensions in configuration order, each dimension's values in
// byte order with "other" last.
func (a *Aggregator) Emit(dst []WindowResult) []WindowResult {
	a.closeWindows(a.watermark())
	slices.SortFunc(a.closed, func(x, y closedWindow) int {
		return cmp.Or(
			cmp.Compare(x.st.start+a.sets[x.set].size, y.st.start+a.sets[y.set].size),
			cmp.Compare(x.set, y.set),
			cmp.Compare(x.st.start, y.st.start))
	})
	for _, c := range a.closed {
		dst = a.appendResults(dst, c.set, c.st)
	}
	clear(a.closed)
	a.closed = a.closed[:0]
	return dst
}

func (a *Aggregator) appendResults(dst []WindowResult, set int, st *windowState) []WindowResult {
	ws := &a.sets[set]
	start := time.Unix(0, st.start).UTC()
	end := time.Unix(0, st.start+ws.size).UTC()
	dst = append(dst, a.result(ws.name, start, end, DimensionAll, DimensionAll, &st.all))
	for i, g := range st.groups {
		if g == nil {
			continue
		}
		reg := &a.registry[i]
		var slots []int32
		for slot, m := range g {
			if m != nil {
				slots = append(slots, int32(slot))
			}
		}
		slices.SortFunc(slots, func(x, y int32) int {
			// The fold slot is the largest, so it sorts last.
			if x == int32(a.maxValues) || y == int32(a.maxValues) {
				return cmp.Compare(x, y)
			}
			return strings.Compare(reg.values[x], reg.values[y])
		})
		dim := string(a.cfg.Dimensions[i])
		for _, slot := range slots {
			dst = append(dst, a.result(ws.name, start, end, dim, reg.value(slot), g[slot]))
		}
	}
	return dst
}

func (a *Aggregator) result(window string, start, end time.Time, dim, value string, m *measures) WindowResult {
	r := WindowResult{
		Window:     window,
		Start:      start,
		End:        end,
		Dimension:  dim,
		Value:      value,
		Partition:  a.cfg.Partition,
		Revenue:    fromMillionths(m.revenue),
		Orders:     m.orders,
		Units:      m.units,
		Margin:     fromMillionths(m.margin),
		LateOrders: m.lateOrders,
	}
	r.UniqueCustomers = m.customers.estimate()
	if !a.cfg.OmitSketches {
		r.CustomersSketch = m.customers.sketch()
	}
	r.AOV = aov(m.revenue, m.orders)
	r.ID = r.computeID()
	return r
}

// WindowStats describes one window definition of an Aggregator.
type WindowStats struct {
	Window string
	// Open is the number of windows not yet emitted.
	Open int
	// Late counts transactions whose windows of this name had all closed
	// when they arrived; they were aggregated nowhere in this window name.
	Late uint64
	// PartiallyLate counts transactions admitted into some but not all of
	// their (Hopping) windows because the oldest had closed.
	PartiallyLate uint64
}

// DimensionStats describes the values of one dimension.
type DimensionStats struct {
	Dimension string
	// Values is the number of values with a series of their own.
	Values int
	// Folded counts observations whose value went to "other".
	Folded uint64
}

// Stats are an Aggregator's counters, for metrics.
type Stats struct {
	Windows    []WindowStats
	Dimensions []DimensionStats
}

// Stats returns a's counters.
func (a *Aggregator) Stats() Stats {
	var s Stats
	for i := range a.sets {
		ws := &a.sets[i]
		s.Windows = append(s.Windows, WindowStats{Window: ws.name, Open: a.openWindows(i), Late: ws.late, PartiallyLate: ws.partial})
	}
	for i := range a.registry {
		r := &a.registry[i]
		s.Dimensions = append(s.Dimensions, DimensionStats{Dimension: string(a.cfg.Dimensions[i]), Values: len(r.values), Folded: r.folded})
	}
	return s
}

// openWindows counts the windows of set i that hold data and have not been
// emitted.
func (a *Aggregator) openWindows(i int) int {
	ws := &a.sets[i]
	starts := map[int64]struct{}{}
	for p := range ws.panes {
		for s := p - ws.size + ws.advance; s <= p; s += ws.advance {
			if s+ws.size > ws.closedEnd {
				starts[s] = struct{}{}
			}
		}
	}
	n := len(starts)
	for _, c := range a.closed {
		if c.set == i {
			n++
		}
	}
	return n
}

// toMillionths converts an amount to integer millionths of the currency
// unit. Non-finite amounts count as 0; the event validation rejects them.
func toMillionths(v float64) int64 {
	if v-v != 0 {
		// NaN or an infinity (v-v is NaN); 0 for every finite v.
		return 0
	}
	return int64(math.Round(v * 1e6))
}

func fromMillionths(v int64) float64 { return float64(v) / 1e6 }

func aov(revenue, orders int64) float64 {
	if orders <= 0 {
		return 0
	}
	return fromMillionths(revenue) / float64(orders)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func subSat(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}
