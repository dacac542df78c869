package kpi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/cputime"
)

var allDims = []v1alpha1.KPIDimension{
	v1alpha1.DimensionCategory, v1alpha1.DimensionCountry,
	v1alpha1.DimensionChannel, v1alpha1.DimensionPaymentMethod,
}

func testConfig(maxValues int) Config {
	return Config{
		Partition:          3,
		Windows:            []Window{Tumbling("1m", time.Minute), Hopping("5m", 5*time.Minute, time.Minute)},
		Dimensions:         allDims,
		MaxOutOfOrderness:  10 * time.Second,
		AllowedLateness:    20 * time.Second,
		MaxDimensionValues: maxValues,
	}
}

// txn is a generated transaction; it becomes one Observation per share.
type txn struct {
	at       time.Time
	customer string
	dims     [4]string
	shares   []share
}

type share struct {
	category string
	cents    int64
	units    int64
	margin   int64 // cents
}

func (x txn) observations() []Observation {
	var out []Observation
	for i, s := range x.shares {
		o := Observation{
			EventTime: x.at, CustomerID: x.customer,
			Revenue: float64(s.cents) / 100, Units: s.units, Margin: float64(s.margin) / 100,
			Orders: 1, Continuation: i > 0, Dims: x.dims,
		}
		o.Dims[DimCategory] = s.category
		out = append(out, o)
	}
	return out
}

var (
	categories = []string{"books", "toys", "garden", "food", "tools", "music", ""}
	countries  = []string{"DE", "FR", "US", "GB", "other", "NL"}
	channels   = []string{"web", "mobile_app", "store"}
	payments   = []string{"card", "paypal", "cod", "gift_card"}
)

// randomStream makes n transactions whose event times trail an advancing
// clock by a random delay; some delays exceed out-of-orderness plus
// lateness, so some transactions are late.
func randomStream(rng *rand.Rand, n, customers int) []txn {
	clock := time.Date(2024, 5, 1, 11, 58, 17, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(time.Hour))))
	out := make([]txn, 0, n)
	for range n {
		clock = clock.Add(time.Duration(rng.Int64N(int64(3 * time.Second))))
		var delay time.Duration
		switch r := rng.Float64(); {
		case r < 0.6:
			delay = time.Duration(rng.Int64N(int64(5 * time.Second)))
		case r < 0.9:
			delay = time.Duration(rng.Int64N(int64(40 * time.Second)))
		default:
			delay = time.Duration(rng.Int64N(int64(6 * time.Minute)))
		}
		x := txn{
			at:       clock.Add(-delay).Add(time.Duration(rng.Int64N(1000)) * time.Millisecond),
			customer: fmt.Sprintf("c%05d", rng.IntN(customers)),
			dims: [4]string{"", countries[rng.IntN(len(countries))],
				channels[rng.IntN(len(channels))], payments[rng.IntN(len(payments))]},
		}
		for _, c := range rng.Perm(len(categories))[:1+rng.IntN(3)] {
			cents := rng.Int64N(100000)
			x.shares = append(x.shares, share{
				category: categories[c], cents: cents, units: 1 + rng.Int64N(5),
				margin: cents/4 - rng.Int64N(cents/3+1),
			})
		}
		out = append(out, x)
	}
	return out
}

// seriesKey identifies one series of one window instance.
type seriesKey struct {
	window    string
	start     int64
	dimension string
	value     string
}

type refSeries struct {
	cents, marginCents, orders, units, lateOrders int64
	customers                                     map[string]bool
}

type reference struct {
	series map[seriesKey]*refSeries
	late   map[string]uint64
	wm     int64 // final watermark
}

// bruteForce computes the expected results from first principles: the
// watermark an event meets is max(event times before it) - out-of-order;
// an event counts in window W iff that watermark is below W.end + lateness;
// orders count once per transaction except per category; values are
// admitted first-come among events that count somewhere.
func bruteForce(cfg Config, stream []txn) reference {
	ref := reference{series: map[seriesKey]*refSeries{}, late: map[string]uint64{}}
	maxValues := cfg.maxValues()
	admittedValues := make([]map[string]bool, len(cfg.Dimensions))
	for i := range admittedValues {
		admittedValues[i] = map[string]bool{}
	}
	wms := make([]int64, len(stream))
	maxEvent := int64(math.MinInt64)
	for i, x := range stream {
		wms[i] = math.MinInt64
		if i > 0 {
			wms[i] = maxEvent - int64(cfg.MaxOutOfOrderness)
		}
		maxEvent = max(maxEvent, x.at.UnixNano())
	}
	ref.wm = maxEvent - int64(cfg.MaxOutOfOrderness)

	// instances lists the windows of w containing t: starts are the
	// multiples of the advance in (t-size, t].
	type inst struct {
		w          Window
		start, end int64
	}
	instances := func(w Window, t int64) []inst {
		var out []inst
		for start := t / int64(w.Advance) * int64(w.Advance); start > t-int64(w.Size); start -= int64(w.Advance) {
			out = append(out, inst{w, start, start + int64(w.Size)})
		}
		return out
	}
	counts := func(i int, in inst) bool {
		return wms[i] < in.end+int64(cfg.AllowedLateness)
	}
	for i, x := range stream {
		t := x.at.UnixNano()
		anyWindow := false
		for _, w := range cfg.Windows {
			inW := false
			for _, in := range instances(w, t) {
				if counts(i, in) {
					inW, anyWindow = true, true
				}
			}
			if !inW {
				ref.late[w.Name]++
			}
		}
		// Dimension values are admitted first-come among counted events.
		values := make([][]string, len(x.shares))
		for k, o := range x.observations() {
			for d, dim := range cfg.Dimensions {
				v := o.Dims[dimensionIndex[dim]]
				if v == "" {
					v = UnknownValue
				}
				if anyWindow && !admittedValues[d][v] && v != OtherValue && len(admittedValues[d]) < maxValues {
					admittedValues[d][v] = true
				}
				if !admittedValues[d][v] {
					v = OtherValue
				}
				values[k] = append(values[k], v)
			}
		}
		for _, w := range cfg.Windows {
			for _, in := range instances(w, t) {
				if !counts(i, in) {
					continue
				}
				late := wms[i] >= in.end
				for k, sh := range x.shares {
					add := func(dim, value string, orders int64) {
						key := seriesKey{w.Name, in.start, dim, value}
						s := ref.series[key]
						if s == nil {
							s = &refSeries{customers: map[string]bool{}}
							ref.series[key] = s
						}
						s.cents += sh.cents
						s.marginCents += sh.margin
						s.units += sh.units
						s.orders += orders
						if late {
							s.lateOrders += orders
						}
						if x.customer != "" {
							s.customers[x.customer] = true
						}
					}
					txnOrders := int64(1)
					if k > 0 {
						txnOrders = 0
					}
					add(DimensionAll, DimensionAll, txnOrders)
					for d, dim := range cfg.Dimensions {
						orders := txnOrders
						if dim == v1alpha1.DimensionCategory {
							orders = 1
						}
						add(string(dim), values[k][d], orders)
					}
				}
			}
		}
	}
	return ref
}

// run feeds the stream to a, emitting every emitEvery transactions, and
// returns all results in emission order.
func run(t testing.TB, a *Aggregator, stream []txn, emitEvery int) []WindowResult {
	t.Helper()
	var out []WindowResult
	for i, x := range stream {
		for _, o := range x.observations() {
			a.Add(o)
		}
		if (i+1)%emitEvery == 0 {
			out = a.Emit(out)
		}
	}
	return a.Emit(out)
}

func checkAgainstReference(t *testing.T, cfg Config, stream []txn, got []WindowResult, a *Aggregator) {
	t.Helper()
	ref := bruteForce(cfg, stream)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			t.Fatalf("result %s emitted twice", r.ID)
		}
		seen[r.ID] = true
		key := seriesKey{r.Window, r.Start.UnixNano(), r.Dimension, r.Value}
		want := ref.series[key]
		if want == nil {
			t.Fatalf("unexpected result %s", r.ID)
		}
		delete(ref.series, key)
		exp := WindowResult{
			Window: r.Window, Start: r.Start, End: r.End, Dimension: r.Dimension, Value: r.Value, Partition: cfg.Partition,
			Revenue: fromMillionths(want.cents * 10000), Orders: want.orders, Units: want.units,
			AOV: aov(want.cents*10000, want.orders), Margin: fromMillionths(want.marginCents * 10000),
			UniqueCustomers: uint64(len(want.customers)), LateOrders: want.lateOrders,
			CustomersSketch: r.CustomersSketch,
		}
		exp.ID = exp.computeID()
		if !reflect.DeepEqual(r, exp) {
			t.Fatalf("result differs from reference:\n got  %+v\n want %+v", r, exp)
		}
	}
	// What was not emitted must be exactly the windows still open.
	for key := range ref.series {
		var w Window
		for _, cw := range cfg.Windows {
			if cw.Name == key.window {
				w = cw
			}
		}
		if key.start+int64(w.Size)+int64(cfg.AllowedLateness) <= ref.wm {
			t.Fatalf("closed window %+v was not emitted", key)
		}
	}
	for _, ws := range a.Stats().Windows {
		if ws.Late != ref.late[ws.Window] {
			t.Errorf("window %s: late = %d, reference %d", ws.Window, ws.Late, ref.late[ws.Window])
		}
	}
}

func TestAggregatorMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seed      uint64
		maxValues int
		n         int
	}{
		{name: "no folding", seed: 1, maxValues: 50, n: 1500},
		{name: "folding", seed: 2, maxValues: 3, n: 1500},
		{name: "one value", seed: 3, maxValues: 1, n: 800},
		{name: "long", seed: 4, maxValues: 5, n: 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.maxValues)
			stream := randomStream(rand.New(rand.NewPCG(tc.seed, 99)), tc.n, 300)
			a, err := NewAggregator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, a, stream, 7)
			if len(got) == 0 {
				t.Fatal("no results")
			}
			var late uint64
			for _, ws := range a.Stats().Windows {
				late += ws.Late
			}
			if late == 0 {
				t.Fatal("the stream should contain late transactions")
			}
			checkAgainstReference(t, cfg, stream, got, a)
		})
	}
}

func TestEmissionOrderIsDeterministic(t *testing.T) {
	cfg := testConfig(4)
	stream := randomStream(rand.New(rand.NewPCG(5, 5)), 1000, 100)
	var runs [2][]WindowResult
	for i := range runs {
		a, _ := NewAggregator(cfg)
		runs[i] = run(t, a, stream, 13)
	}
	if !reflect.DeepEqual(runs[0], runs[1]) {
		t.Fatal("two runs over the same input emitted different results")
	}
	// Within one Emit the order is by end, window, start, then series.
	a, _ := NewAggregator(cfg)
	for _, x := range stream {
		for _, o := range x.observations() {
			a.Add(o)
		}
	}
	batch := a.Emit(nil)
	windowRank := map[string]int{"1m": 0, "5m": 1}
	dimRank := map[string]int{DimensionAll: 0, "category": 1, "country": 2, "channel": 3, "payment_method": 4}
	less := func(x, y WindowResult) bool {
		if !x.End.Equal(y.End) {
			return x.End.Before(y.End)
		}
		if x.Window != y.Window {
			return windowRank[x.Window] < windowRank[y.Window]
		}
		if x.Dimension != y.Dimension {
			return dimRank[x.Dimension] < dimRank[y.Dimension]
		}
		if (x.Value == OtherValue) != (y.Value == OtherValue) {
			return y.Value == OtherValue
		}
		return x.Value < y.Value
	}
	for i := 1; i < len(batch); i++ {
		if less(batch[i], batch[i-1]) {
			t.Fatalf("results %s and %s out of order", batch[i-1].ID, batch[i].ID)
		}
	}
}

func TestLateEvents(t *testing.T) {
	cfg := Config{
		Windows:           []Window{Tumbling("1m", time.Minute)},
		MaxOutOfOrderness: 5 * time.Second,
		AllowedLateness:   10 * time.Second,
	}
	a, err := NewAggregator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(at time.Duration, revenue float64) {
		a.Add(Observation{EventTime: base.Add(at), CustomerID: "c", Revenue: revenue, Orders: 1})
	}
	add(30*time.Second, 1)
	add(65*time.Second, 2) // watermark 60s: window [0,1m) passed its end, still open
	add(50*time.Second, 4) // admitted late
	if got := a.Emit(nil); len(got) != 0 {
		t.Fatalf("window closed too early: %+v", got)
	}
	add(75*time.Second, 8)  // watermark 70s = end + lateness: [0,1m) closes
	add(59*time.Second, 16) // late: its only window has closed
	got := a.Emit(nil)
	if len(got) != 1 {
		t.Fatalf("want one result, got %+v", got)
	}
	r := got[0]
	if r.Revenue != 5 || r.Orders != 2 || r.LateOrders != 1 || r.UniqueCustomers != 1 || r.AOV != 2.5 {
		t.Fatalf("unexpected result %+v", r)
	}
	if s := a.Stats().Windows[0]; s.Late != 1 || s.Open != 1 {
		t.Fatalf("stats = %+v, want 1 late and 1 open window", s)
	}
	wm, ok := a.Watermark()
	if !ok || !wm.Equal(base.Add(70*time.Second)) {
		t.Fatalf("watermark = %v, %v", wm, ok)
	}
}

func TestHoppingAssignment(t *testing.T) {
	cfg := Config{
		Windows:           []Window{Hopping("10m", 10*time.Minute, 2*time.Minute)},
		MaxOutOfOrderness: 0,
		AllowedLateness:   0,
	}
	a, _ := NewAggregator(cfg)
	at := time.Date(2024, 1, 1, 0, 13, 30, 0, time.UTC)
	a.Add(Observation{EventTime: at, CustomerID: "c", Revenue: 1, Orders: 1})
	// Push the watermark far ahead to close everything.
	a.Add(Observation{EventTime: at.Add(time.Hour), Orders: 0})
	got := a.Emit(nil)
	var starts []string
	for _, r := range got {
		if r.Orders == 1 {
			starts = append(starts, r.Start.Format("15:04"))
			if r.End.Sub(r.Start) != 10*time.Minute {
				t.Fatalf("window %s has the wrong size", r.ID)
			}
		}
	}
	want := []string{"00:04", "00:06", "00:08", "00:10", "00:12"}
	if !slices.Equal(starts, want) {
		t.Fatalf("event at 00:13:30 went to windows starting %v, want %v", starts, want)
	}

	// An event whose oldest windows closed goes into the open ones only.
	a, _ = NewAggregator(cfg)
	a.Add(Observation{EventTime: at, Orders: 1})                       // watermark 00:13:30
	a.Add(Observation{EventTime: at.Add(-3 * time.Minute), Orders: 1}) // 00:10:30: windows from 00:02 to 00:10; those ending <= 00:13:30 are closed
	a.Add(Observation{EventTime: at.Add(time.Hour)})
	var late []string
	for _, r := range a.Emit(nil) {
		if r.Orders == 2 {
			late = append(late, r.Start.Format("15:04"))
		}
	}
	if want := []string{"00:04", "00:06", "00:08", "00:10"}; !slices.Equal(late, want) {
		t.Fatalf("windows holding both events start %v, want %v", late, want)
	}
	if s := a.Stats().Windows[0]; s.PartiallyLate != 1 || s.Late != 0 {
		t.Fatalf("stats = %+v, want one partially late", s)
	}
}

func TestCardinalityFolding(t *testing.T) {
	cfg := Config{
		Windows:            []Window{Tumbling("1h", time.Hour)},
		Dimensions:         []v1alpha1.KPIDimension{v1alpha1.DimensionCountry},
		MaxDimensionValues: 2,
	}
	a, _ := NewAggregator(cfg)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []string{"DE", "FR", "US", "DE", "GB", "", "other", "FR"} {
		a.Add(Observation{EventTime: at.Add(time.Duration(i) * time.Second), CustomerID: c, Revenue: 1, Orders: 1, Dims: [4]string{DimCountry: c}})
	}
	a.Add(Observation{EventTime: at.Add(2 * time.Hour), Dims: [4]string{DimCountry: "DE"}})
	got := a.Emit(nil)
	values := map[string]int64{}
	for _, r := range got {
		if r.Start.Equal(at) && r.Dimension == "country" {
			values[r.Value] = r.Orders
		}
	}
	want := map[string]int64{"DE": 2, "FR": 2, OtherValue: 4}
	if !reflect.DeepEqual(values, want) {
		t.Fatalf("series = %v, want %v", values, want)
	}
	if d := a.Stats().Dimensions[0]; d.Values != 2 || d.Folded != 4 {
		t.Fatalf("dimension stats = %+v", d)
	}
}

func TestTransactionSplit(t *testing.T) {
	cfg := Config{
		Windows:    []Window{Tumbling("1h", time.Hour)},
		Dimensions: []v1alpha1.KPIDimension{v1alpha1.DimensionCategory, v1alpha1.DimensionChannel},
	}
	a, _ := NewAggregator(cfg)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	base := Observation{EventTime: at, CustomerID: "c1", Dims: [4]string{DimChannel: "web"}}
	a.AddTransaction(base, []CategoryShare{{Category: "books", Revenue: 10, Units: 1, Margin: 2}, {Category: "toys", Revenue: 30, Units: 3, Margin: 6}})
	base.CustomerID = "c2"
	base.Revenue, base.Units = 20, 2
	base.Dims[DimCategory] = "books"
	a.AddTransaction(base, nil)
	a.Add(Observation{EventTime: at.Add(2 * time.Hour)})
	got := map[string]WindowResult{}
	for _, r := range a.Emit(nil) {
		if r.Start.Equal(at) {
			got[r.Dimension+"="+r.Value] = r
		}
	}
	check := func(series string, revenue float64, orders, units int64, customers uint64) {
		t.Helper()
		r := got[series]
		if r.Revenue != revenue || r.Orders != orders || r.Units != units || r.UniqueCustomers != customers {
			t.Errorf("%s = revenue %v orders %d units %d customers %d, want %v %d %d %d",
				series, r.Revenue, r.Orders, r.Units, r.UniqueCustomers, revenue, orders, units, customers)
		}
	}
	check("all=all", 60, 2, 6, 2)
	check("channel=web", 60, 2, 6, 2)
	check("category=books", 30, 2, 3, 2)
	check("category=toys", 30, 1, 3, 1)
	if r := got["all=all"]; r.AOV != 30 || r.Margin != 8 {
		t.Errorf("all: AOV %v margin %v, want 30 and 8", r.AOV, r.Margin)
	}
}

func TestSnapshotRestoreContinuesExactly(t *testing.T) {
	cfg := testConfig(4)
	stream := randomStream(rand.New(rand.NewPCG(6, 6)), 2000, 400)
	a, _ := NewAggregator(cfg)
	want := run(t, a, stream, 11)

	for _, cut := range []int{1, 333, 1000, 1999} {
		b, _ := NewAggregator(cfg)
		got := run(t, b, stream[:cut], 11)
		snap, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		c, _ := NewAggregator(cfg)
		if err := c.UnmarshalBinary(snap); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		// Emission boundaries must line up with the uninterrupted run.
		for i, x := range stream[cut:] {
			for _, o := range x.observations() {
				c.Add(o)
			}
			if (cut+i+1)%11 == 0 {
				got = c.Emit(got)
			}
		}
		got = c.Emit(got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cut %d: restored run differs from the uninterrupted one", cut)
		}
		if !reflect.DeepEqual(c.Stats(), a.Stats()) {
			t.Fatalf("cut %d: stats differ: %+v vs %+v", cut, c.Stats(), a.Stats())
		}
	}
}

func TestSnapshotRejectsOtherConfigAndGarbage(t *testing.T) {
	a, _ := NewAggregator(testConfig(4))
	for _, x := range randomStream(rand.New(rand.NewPCG(7, 7)), 200, 50) {
		for _, o := range x.observations() {
			a.Add(o)
		}
	}
	snap, _ := a.MarshalBinary()
	other := testConfig(5)
	b, _ := NewAggregator(other)
	if err := b.UnmarshalBinary(snap); !errors.Is(err, ErrConfigChanged) {
		t.Fatalf("want ErrConfigChanged, got %v", err)
	}
	c, _ := NewAggregator(testConfig(4))
	rng := rand.New(rand.NewPCG(8, 8))
	for range 300 {
		i := rng.IntN(len(snap))
		if err := c.UnmarshalBinary(snap[:i]); err == nil {
			t.Fatalf("truncated snapshot of %d bytes accepted", i)
		}
	}
	for range 300 {
		bad := slices.Clone(snap)
		bad[rng.IntN(len(bad))] ^= byte(1 + rng.IntN(255))
		_ = c.UnmarshalBinary(bad) // must not panic
	}
}

func TestMergeAcrossPartitions(t *testing.T) {
	cfg := testConfig(50)
	// No late events: every partition then admits everything, so the
	// merged result must equal one aggregator over all events.
	cfg.MaxOutOfOrderness = time.Hour
	stream := randomStream(rand.New(rand.NewPCG(9, 9)), 1500, 500)
	// A sentinel far ahead closes every window of the stream everywhere.
	sentinel := txn{at: stream[len(stream)-1].at.Add(48 * time.Hour), shares: []share{{}}}
	whole, _ := NewAggregator(cfg)
	want := run(t, whole, append(slices.Clone(stream), sentinel), 1<<30)

	merged := map[string]*WindowResult{}
	for p := range int32(3) {
		pc := cfg
		pc.Partition = p
		a, _ := NewAggregator(pc)
		var part []txn
		for _, x := range stream {
			if int32(x.customer[len(x.customer)-1])%3 == p {
				part = append(part, x)
			}
		}
		for _, r := range run(t, a, append(part, sentinel), 1<<30) {
			key := fmt.Sprintf("%s/%d/%s/%s", r.Window, r.Start.UnixNano(), r.Dimension, r.Value)
			if m := merged[key]; m != nil {
				if err := m.Merge(&r); err != nil {
					t.Fatal(err)
				}
			} else {
				r := r
				merged[key] = &r
			}
		}
	}
	if len(merged) != len(want) {
		t.Fatalf("%d merged series, %d in the single run", len(merged), len(want))
	}
	for _, w := range want {
		key := fmt.Sprintf("%s/%d/%s/%s", w.Window, w.Start.UnixNano(), w.Dimension, w.Value)
		m := merged[key]
		if m == nil {
			t.Fatalf("no merged result for %s", w.ID)
		}
		if m.Revenue != w.Revenue || m.Orders != w.Orders || m.Units != w.Units || m.Margin != w.Margin ||
			m.AOV != w.AOV || m.UniqueCustomers != w.UniqueCustomers || m.LateOrders != w.LateOrders {
			t.Fatalf("merged %+v\nwant %+v", *m, w)
		}
	}
	var r WindowResult
	for _, m := range merged {
		if m.Partition == MergedPartition {
			r = *m
			break
		}
	}
	if r.ID == "" || r.ID[len(r.ID)-2:] != "/*" {
		t.Fatalf("merged result ID %q should end in /*", r.ID)
	}
	other := r
	other.Value = "zzz"
	if err := r.Merge(&other); err == nil {
		t.Fatal("merging different series should fail")
	}
}

func TestUniqueCustomersAccuracy(t *testing.T) {
	a, _ := NewAggregator(Config{Windows: []Window{Tumbling("1d", 24*time.Hour)}})
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 200_000
	for i := range n {
		a.Add(Observation{EventTime: at.Add(time.Duration(i) * time.Millisecond), CustomerID: fmt.Sprintf("customer-%d", i%n), Orders: 1})
		if i%3 == 0 { // repeats must not count
			a.Add(Observation{EventTime: at, CustomerID: fmt.Sprintf("customer-%d", i), Orders: 1})
		}
	}
	a.Add(Observation{EventTime: at.Add(48 * time.Hour)})
	r := a.Emit(nil)[0]
	if rel := math.Abs(float64(r.UniqueCustomers)-n) / n; rel > 4*0.0081 {
		t.Fatalf("estimate %d off by %.2f%%, more than 4 standard errors", r.UniqueCustomers, rel*100)
	}
	est, err := SketchEstimate(r.CustomersSketch)
	if err != nil || est != r.UniqueCustomers {
		t.Fatalf("sketch estimate %d (%v), result %d", est, err, r.UniqueCustomers)
	}
}

func TestResultJSONAndID(t *testing.T) {
	r := WindowResult{
		Window: "5m", Start: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), End: time.Date(2024, 5, 1, 12, 5, 0, 0, time.UTC),
		Dimension: "category", Value: "home/garden", Partition: 7, Revenue: 12.5, Orders: 2, Units: 3, AOV: 6.25,
		Margin: 1.25, UniqueCustomers: 2, LateOrders: 1, CustomersSketch: []byte{1, 2, 3},
	}
	r.ID = r.computeID()
	if want := "5m/2024-05-01T12:00:00Z/category/home%2Fgarden/7"; r.ID != want {
		t.Fatalf("ID = %q, want %q", r.ID, want)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back WindowResult
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("JSON round trip: %v\n%s\n%+v", err, b, back)
	}
	var fields map[string]any
	_ = json.Unmarshal(b, &fields)
	for _, k := range []string{"id", "window", "start", "end", "dimension", "value", "partition", "revenue", "orders", "units", "aov", "margin", "unique_customers", "late_orders", "customers_sketch"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
}

func TestConfigFromSpec(t *testing.T) {
	spec := &v1alpha1.KPISpec{
		Topic: "kpis",
		Windows: []v1alpha1.KPIWindow{
			{Name: "1m", Type: v1alpha1.WindowTumbling, Size: "1m"},
			{Name: "1h", Type: v1alpha1.WindowHopping, Size: "1h", Advance: "15m"},
		},
		Dimensions: []v1alpha1.KPIDimension{v1alpha1.DimensionCountry},
	}
	cfg, err := ConfigFromSpec(spec, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Partition:          4,
		Windows:            []Window{Tumbling("1m", time.Minute), Hopping("1h", time.Hour, 15*time.Minute)},
		Dimensions:         []v1alpha1.KPIDimension{v1alpha1.DimensionCountry},
		MaxOutOfOrderness:  DefaultMaxOutOfOrderness,
		AllowedLateness:    DefaultAllowedLateness,
		MaxDimensionValues: 0,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("cfg = %+v\nwant %+v", cfg, want)
	}
	for _, tc := range []struct {
		name string
		edit func(*v1alpha1.KPISpec)
	}{
		{"size not a multiple of advance", func(s *v1alpha1.KPISpec) { s.Windows[1].Advance = "7m" }},
		{"advance on tumbling", func(s *v1alpha1.KPISpec) { s.Windows[0].Advance = "1m" }},
		{"duplicate name", func(s *v1alpha1.KPISpec) { s.Windows[1].Name = "1m" }},
		{"no windows", func(s *v1alpha1.KPISpec) { s.Windows = nil }},
		{"unknown dimension", func(s *v1alpha1.KPISpec) { s.Dimensions = []v1alpha1.KPIDimension{"color"} }},
		{"bad duration", func(s *v1alpha1.KPISpec) { s.AllowedLateness = "soon" }},
		{"tiny hop", func(s *v1alpha1.KPISpec) { s.Windows[1].Advance = "1s" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := *spec
			s.Windows = slices.Clone(spec.Windows)
			tc.edit(&s)
			if _, err := ConfigFromSpec(&s, 0); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func BenchmarkAggregatorAdd(b *testing.B) {
	cfg := Config{
		Windows:           []Window{Tumbling("1m", time.Minute), Hopping("1h", time.Hour, 15*time.Minute)},
		Dimensions:        allDims,
		MaxOutOfOrderness: 10 * time.Second,
		AllowedLateness:   time.Minute,
	}
	a, err := NewAggregator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const pool = 1 << 12
	obs := make([]Observation, pool)
	customers := make([]string, 10_000)
	for i := range customers {
		customers[i] = fmt.Sprintf("customer-%06d", i)
	}
	for i := range obs {
		obs[i] = Observation{
			CustomerID: customers[rng.IntN(len(customers))], Revenue: float64(rng.IntN(20000)) / 100,
			Units: 1 + rng.Int64N(4), Margin: float64(rng.IntN(5000)) / 100, Orders: 1,
			Dims: [4]string{categories[rng.IntN(len(categories))], countries[rng.IntN(len(countries))],
				channels[rng.IntN(len(channels))], payments[rng.IntN(len(payments))]},
		}
	}
	// 1000 events per second of event time, a little out of order.
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var out []WindowResult
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for i := range b.N {
		o := obs[i&(pool-1)]
		o.EventTime = start.Add(time.Duration(i)*time.Millisecond - time.Duration(i%7)*time.Second)
		a.Add(o)
		if i%1024 == 0 {
			out = a.Emit(out[:0])
		}
	}
	cpuPerOp := float64(cputime.Process()-cpu) / float64(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(cpuPerOp, "cpu-ns/op")
	b.ReportMetric(1e9/cpuPerOp, "events/cpu-s")
}

// FuzzAggregatorUnmarshal checks that no snapshot bytes make the decoder
// panic, and that an accepted snapshot leaves a usable Aggregator.
func FuzzAggregatorUnmarshal(f *testing.F) {
	a, _ := NewAggregator(testConfig(3))
	for _, x := range randomStream(rand.New(rand.NewPCG(10, 10)), 50, 20) {
		for _, o := range x.observations() {
			a.Add(o)
		}
	}
	snap, _ := a.MarshalBinary()
	f.Add(snap)
	f.Add([]byte("ekpi\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, _ := NewAggregator(testConfig(3))
		if err := b.UnmarshalBinary(data); err != nil {
			return
		}
		b.Add(Observation{EventTime: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC), CustomerID: "x", Orders: 1, Dims: [4]string{"a", "b", "c", "d"}})
		b.Emit(nil)
		if _, err := b.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCustomerSetUnionEqualsInsertion: a window built from panes must count
// customers exactly as one set fed every hash would, on both sides of the
// exact limit: same count while exact, same dense registers beyond.
func TestCustomerSetUnionEqualsInsertion(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, perPane := range []int{10, 200, 700, 3000} {
		var direct, united customerSet
		for range 12 {
			var pane customerSet
			for range perPane {
				h := rng.Uint64() % 5000 // repeats across panes
				if rng.IntN(4) == 0 {
					h = rng.Uint64()
				}
				pane.insert(h)
				direct.insert(h)
			}
			united.union(&pane)
		}
		if direct.estimate() != united.estimate() {
			t.Fatalf("%d per pane: union estimates %d, direct insertion %d", perPane, united.estimate(), direct.estimate())
		}
		if !reflect.DeepEqual(direct.sketch(), united.sketch()) {
			t.Fatalf("%d per pane: union and direct insertion give different sketches", perPane)
		}
	}
}
