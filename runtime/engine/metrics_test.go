package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestBatchCountsAddUp: what batchCounts flushes must be what was counted,
// per vector and label pair, whether the series are found by the scan or,
// past maxScannedSeries, by the index, over several batches; label strings
// equal in value but not in pointer count as one series.
func TestBatchCountsAddUp(t *testing.T) {
	reg := prometheus.NewRegistry()
	vecs := []*prometheus.CounterVec{
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "a_total", Help: "a"}, []string{"x", "y"}),
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "b_total", Help: "b"}, []string{"x", "y"}),
	}
	for _, v := range vecs {
		reg.MustRegister(v)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]float64{}
	var c batchCounts
	for batch, labels := range []int{3, 40, 2, 25} {
		for range 2000 {
			v := rng.IntN(len(vecs))
			x := fmt.Sprint("x", rng.IntN(labels)) // a new string every time
			y := []string{"p", "q"}[rng.IntN(2)]
			c.add(vecs[v], x, y)
			want[fmt.Sprintf("%c_total{x=%s,y=%s}", 'a'+v, x, y)]++
		}
		c.flush()
		got := map[string]float64{}
		for _, name := range []string{"a_total", "b_total"} {
			for k, v := range series(t, reg, name) {
				got[name+"{"+k+"}"] = v
			}
		}
		if len(got) != len(want) {
			t.Fatalf("batch %d: %d series, want %d", batch, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("batch %d: %s = %v, want %v", batch, k, got[k], w)
			}
		}
	}
}

// TestEventClockTimesEachEvent: consecutive timed events share a reading,
// but an event after one that was not timed must not be charged for the
// time in between.
func TestEventClockTimesEachEvent(t *testing.T) {
	c := newEventClock()
	c.begin(0)
	time.Sleep(2 * time.Millisecond)
	if d := c.end(0); d < 2*time.Millisecond {
		t.Fatalf("event 0 took %v, slept 2ms", d)
	}
	c.begin(1)
	time.Sleep(time.Millisecond)
	d1 := c.end(1)
	if d1 < time.Millisecond || d1 > 500*time.Millisecond {
		t.Fatalf("event 1 took %v, slept 1ms", d1)
	}
	// Event 2 is skipped (e.g. a duplicate): nothing times it.
	c.begin(2)
	time.Sleep(30 * time.Millisecond)
	c.begin(3)
	if d := c.end(3); d >= 30*time.Millisecond {
		t.Fatalf("event 3 took %v: charged for the skipped event before it", d)
	}
}

// TestBatchHistogramMatchesPrometheus: batchHistogram must export what a
// prometheus.Histogram with the same buckets exports for the same
// observations (bucket bounds inclusive, +Inf, count, sum up to rounding),
// over several batches, and export the empty histogram before any.
func TestBatchHistogramMatchesPrometheus(t *testing.T) {
	upper := prometheus.ExponentialBuckets(1e-6, 2.5, 14)
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h", Buckets: upper})
	got := newBatchHistogram("h_seconds", "h", upper)
	regRef, regGot := prometheus.NewRegistry(), prometheus.NewRegistry()
	regRef.MustRegister(ref)
	regGot.MustRegister(got)
	compare := func(when string) {
		t.Helper()
		gather := func(reg *prometheus.Registry) (buckets []uint64, count uint64, sum float64) {
			fams, err := reg.Gather()
			if err != nil || len(fams) != 1 || len(fams[0].GetMetric()) != 1 {
				t.Fatalf("%s: gathered %v, %v", when, fams, err)
			}
			h := fams[0].GetMetric()[0].GetHistogram()
			for _, b := range h.GetBucket() {
				buckets = append(buckets, b.GetCumulativeCount())
			}
			return buckets, h.GetSampleCount(), h.GetSampleSum()
		}
		wb, wc, ws := gather(regRef)
		gb, gc, gs := gather(regGot)
		if fmt.Sprint(gb) != fmt.Sprint(wb) || gc != wc || math.Abs(gs-ws) > 1e-12*math.Max(1, ws) {
			t.Fatalf("%s: buckets %v count %d sum %v, prometheus %v %d %v", when, gb, gc, gs, wb, wc, ws)
		}
	}
	compare("before any observation")
	rng := rand.New(rand.NewPCG(3, 4))
	var b histogramBatch
	for batch := range 5 {
		for range 1000 {
			var v float64
			switch rng.IntN(4) {
			case 0:
				v = upper[rng.IntN(len(upper))] // on a bound: that bucket
			case 1:
				v = rng.Float64() * 0.2 // up to beyond the last bound
			default:
				v = rng.ExpFloat64() * 2e-5
			}
			ref.Observe(v)
			got.observe(&b, v)
		}
		got.flush(&b)
		compare(fmt.Sprint("batch ", batch))
	}
}
