package fraud

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

func TestWindowSlides(t *testing.T) {
	// A 16-minute window has 1-minute buckets, which keeps the expected
	// values easy to derive by hand: at time t it counts the events of
	// the buckets [bucket(t)-16, bucket(t)].
	const W = 16 * time.Minute
	min := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }
	type step struct {
		add    bool
		at     time.Duration // from base
		amount float64
		want   float64 // value at `at` before adding (count, sum)
	}
	tests := []struct {
		name  string
		agg   aggregation
		steps []step
	}{
		{"count accumulates within the window", aggCount, []step{
			{true, 0, 0, 0}, {true, min(1), 0, 1}, {true, min(5), 0, 2}, {false, min(10), 0, 3},
		}},
		{"count slides: events drop out after W plus at most one bucket", aggCount, []step{
			{true, 0, 0, 0},               // bucket 0
			{true, min(8), 0, 1},          // bucket 8
			{false, min(16.5), 0, 2},      // bucket 16: covers 0..16, both in
			{false, min(16.99), 0, 2},     // still bucket 16
			{false, min(17), 0, 1},        // bucket 17: covers 1..17, the first event is out
			{false, min(24.99), 0, 1},     // bucket 24: covers 8..24
			{false, min(25), 0, 0},        // bucket 25: covers 9..25, empty
			{true, min(40), 0, 0},         // a new event after a gap
			{false, min(40.5), 0, 1},      // only the new one
			{false, min(40 + 16.9), 0, 1}, // bucket 56 covers 40..56
		}},
		{"every event within W is counted", aggCount, []step{
			{true, min(0.99), 0, 0},   // bucket 0, near its end
			{false, min(16.98), 0, 1}, // 15.99 min later: within W, counted
		}},
		{"sum", aggSum, []step{
			{true, 0, 10, 0}, {true, min(2), 2.5, 10}, {true, min(17), 1, 2.5}, {false, min(18.5), 0, 3.5},
		}},
		{"late event lands in its bucket", aggCount, []step{
			{true, min(10), 0, 0}, {true, min(3), 0, 0}, {false, min(10), 0, 2}, {false, min(4), 0, 1},
		}},
		{"event too late to count is dropped", aggCount, []step{
			{true, min(30), 0, 0}, {true, min(3), 0, 0}, {false, min(30), 0, 1},
		}},
		// Relative to 1970-01-01 (see below): -30s falls in bucket -1,
		// not 0, so it leaves the window at minute 16, not 17.
		{"times before 1970", aggCount, []step{
			{true, -min(0.5), 0, 0}, {false, -min(0.2), 0, 1}, {false, min(15.99), 0, 1}, {false, min(16), 0, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := time.Unix(0, 0).Add(1000 * time.Hour)
			if tt.name == "times before 1970" {
				base = time.Unix(0, 0)
			}
			w := window{agg: tt.agg, width: bucketWidth(W)}
			for i, s := range tt.steps {
				at := unixNano(base.Add(s.at))
				var v windowValue
				w.value(at, &v)
				got := v.count
				if tt.agg == aggSum {
					got = v.sum
				}
				if got != s.want {
					t.Errorf("step %d at %v: value = %v, want %v", i, s.at, got, s.want)
				}
				if s.add {
					w.add(at, s.amount, 0, false)
				}
				if len(w.buckets) > windowBuckets+1 {
					t.Fatalf("step %d: %d buckets kept, bound is %d", i, len(w.buckets), windowBuckets+1)
				}
			}
		})
	}
}

func TestWindowMemoryIsBounded(t *testing.T) {
	w := window{agg: aggDistinct, width: bucketWidth(10 * time.Minute)}
	for i := range 100_000 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		w.add(unixNano(at), 0, hashString(fmt.Sprint(i)), true)
	}
	if len(w.buckets) > windowBuckets+1 {
		t.Errorf("%d buckets, bound is %d", len(w.buckets), windowBuckets+1)
	}
	for _, kmv := range w.kmv {
		if len(kmv) > sketchK {
			t.Errorf("bucket holds %d hashes, bound is %d", len(kmv), sketchK)
		}
	}
}

func TestDistinctCount(t *testing.T) {
	w := window{agg: aggDistinct, width: bucketWidth(time.Hour)}
	at := unixNano(t0)
	// Exact below sketchK, duplicates ignored, spread over buckets.
	for i := range 20 {
		w.add(at+int64(i)*int64(time.Minute), 0, hashString(fmt.Sprint("card-", i%10)), true)
	}
	var v windowValue
	w.value(at+int64(30*time.Minute), &v)
	if got := v.distinct(); got != 10 {
		t.Errorf("distinct = %v, want exactly 10", got)
	}

	// Above sketchK the KMV estimate has a relative standard error of
	// about 1/sqrt(K-2) = 18%; check the mean error over many windows is
	// small and single estimates stay within 4 standard errors.
	const n, trials = 1000, 50
	var sum float64
	for trial := range trials {
		w := window{agg: aggDistinct, width: bucketWidth(time.Hour)}
		for i := range n {
			w.add(at+int64(i)*int64(time.Second), 0, hashString(fmt.Sprint(trial, "/", i)), true)
		}
		var v windowValue
		w.value(at+int64(n)*int64(time.Second), &v)
		est := v.distinct()
		if rel := math.Abs(est-n) / n; rel > 4/math.Sqrt(sketchK-2) {
			t.Errorf("trial %d: estimate %v of %d is off by %.0f%%", trial, est, n, rel*100)
		}
		sum += est
	}
	if mean := sum / trials; math.Abs(mean-n)/n > 0.05 {
		t.Errorf("mean estimate %v of %d is biased by more than 5%%", mean, n)
	}
}

func TestFeaturesCountTheScoredTransaction(t *testing.T) {
	spec := sampleSpec()
	rs := mustCompile(t, spec)
	st := NewState(StateConfig{})
	// Four payments on card-1 from dev-1, then one on card-2; every
	// feature counts the transaction being scored.
	for i := range 4 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Minute))
		txn.Amount = 2
		f := rs.Features(&txn, st)
		if got := f.Velocity["card_txns_10m"]; got != float64(i+1) {
			t.Errorf("txn %d: card_txns_10m = %v, want %d", i, got, i+1)
		}
		if got := f.Velocity["card_amount_10m"]; got != float64(2*(i+1)) {
			t.Errorf("txn %d: card_amount_10m = %v, want %d", i, got, 2*(i+1))
		}
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
	txn := baseTxn("t5", t0.Add(5*time.Minute))
	txn.CardFingerprint = "card-2"
	f := rs.Features(&txn, st)
	if got := f.Velocity["device_cards_1h"]; got != 2 {
		t.Errorf("device_cards_1h = %v, want 2", got)
	}
	if got := f.Velocity["card_txns_10m"]; got != 1 {
		t.Errorf("card_txns_10m for a fresh card = %v, want 1", got)
	}
	if got := f.Velocity["customer_txns_1h"]; got != 5 {
		t.Errorf("customer_txns_1h = %v, want 5", got)
	}
	txn.CardFingerprint = ""
	if got := rs.Features(&txn, st).Velocity["card_txns_10m"]; got != 0 {
		t.Errorf("card_txns_10m without a card = %v, want 0", got)
	}
}

func TestFeatureStateSurvivesRename(t *testing.T) {
	spec := sampleSpec()
	rs := mustCompile(t, spec)
	st := NewState(StateConfig{})
	for i := range 3 {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Minute))
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
	spec.Features[0].Name = "card_count_10m"
	spec.Rules[0].Expression = `features.card_count_10m >= 5`
	renamed := mustCompile(t, spec)
	txn := baseTxn("t9", t0.Add(4*time.Minute))
	if got := renamed.Features(&txn, st).Velocity["card_count_10m"]; got != 4 {
		t.Errorf("renamed feature = %v, want 4 (state kept by definition, not name)", got)
	}
	spec.Features[0].Window = v1alpha1.Duration("11m")
	changed := mustCompile(t, spec)
	if got := changed.Features(&txn, st).Velocity["card_count_10m"]; got != 1 {
		t.Errorf("feature with a new window = %v, want 1 (starts empty)", got)
	}
}

// TestDistinctSketchesFollowTheirBuckets: a distinct count's sketches are
// kept beside its buckets; late transactions (inserted between buckets)
// and sliding (dropping the oldest) must move both alike, so that the
// count over any window is the exact count of the values in it (below
// sketchK), and a marshalled window decodes to the same.
func TestDistinctSketchesFollowTheirBuckets(t *testing.T) {
	const width = int64(time.Minute)
	w := window{agg: aggDistinct, width: width}
	at := unixNano(t0)
	type obs struct {
		t int64
		v int
	}
	var seen []obs
	for i := range 400 {
		// Mostly forward, every fifth transaction up to 12 minutes late.
		tt := at + int64(i)*int64(20*time.Second)
		if i%5 == 4 {
			tt -= int64((i%13)+1) * width
		}
		val := i / 5 // about ten distinct values per window, new ones as it slides
		if w.add(tt, 0, hashString(fmt.Sprint("v", val)), true) {
			seen = append(seen, obs{tt, val})
		}
		if len(w.kmv) != len(w.buckets) {
			t.Fatalf("step %d: %d sketches for %d buckets", i, len(w.kmv), len(w.buckets))
		}
		if i%10 != 9 {
			continue
		}
		now := at + int64(i)*int64(20*time.Second)
		b := floorDiv(now, width)
		want := map[int]bool{}
		for _, o := range seen {
			if ob := floorDiv(o.t, width); ob >= b-windowBuckets && ob <= b {
				want[o.v] = true
			}
		}
		var v windowValue
		w.value(now, &v)
		if got := v.distinct(); got != float64(len(want)) {
			t.Fatalf("step %d: %v distinct values, want %d", i, got, len(want))
		}
		back := windowRoundTrip(t, &w)
		var bv windowValue
		back.value(now, &bv)
		if bv.distinct() != v.distinct() || len(back.kmv) != len(back.buckets) {
			t.Fatalf("step %d: decoded window counts %v, want %v", i, bv.distinct(), v.distinct())
		}
	}
}

// TestWindowCountSummary: a window's summary (oldest and newest bucket,
// total count) stays that of its buckets through every kind of add (in
// order, late, too late, after a gap) and a round trip through its
// record, and a count read from it equals the bucket-by-bucket sum at
// every time, before, inside and after the buckets.
func TestWindowCountSummary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, agg := range []aggregation{aggCount, aggSum, aggDistinct} {
		w := window{agg: agg, width: bucketWidth(10 * time.Minute)}
		now := int64(0)
		check := func(w *window, step int) {
			t.Helper()
			var sum uint64
			for _, bk := range w.buckets {
				sum += uint64(bk.n)
			}
			n := len(w.buckets)
			if sum != w.total || (n > 0 && (w.lo != w.buckets[0].idx || w.hi != w.buckets[n-1].idx)) {
				t.Fatalf("agg %d step %d: summary lo %d hi %d total %d, buckets %+v", agg, step, w.lo, w.hi, w.total, w.buckets)
			}
			for q := -20; q <= 20; q++ {
				at := now + int64(q)*w.width
				var got, want windowValue
				w.value(at, &got)
				w.scan(floorDiv(at, w.width), &want)
				if got.count != want.count || got.sum != want.sum || got.nkmv != want.nkmv {
					t.Fatalf("agg %d step %d: value at %d is %v, the buckets say %v", agg, step, q, got.count, want.count)
				}
			}
		}
		for step := range 3000 {
			switch r := rng.IntN(100); {
			case r < 70: // in order
				now += rng.Int64N(w.width / 2)
			case r < 75: // a gap that empties the window
				now += int64(windowBuckets+2+rng.IntN(5)) * w.width
			}
			at := now
			if rng.IntN(10) == 0 { // late, sometimes too late
				at -= rng.Int64N(int64(windowBuckets+4) * w.width)
			}
			w.add(at, float64(rng.IntN(100)), rng.Uint64(), true)
			check(&w, step)
			if step%100 == 0 {
				back := windowRoundTrip(t, &w)
				check(&back, step)
			}
		}
	}
}

// windowRoundTrip returns w decoded from its own record.
func windowRoundTrip(t *testing.T, w *window) window {
	t.Helper()
	var e encoder
	w.marshal(&e)
	var back window
	d := decoder{b: e.b}
	back.unmarshal(&d)
	if err := d.done(); err != nil {
		t.Fatal(err)
	}
	return back
}
