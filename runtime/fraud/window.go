package fraud

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Velocity windows.
//
// A window of length W is kept as time buckets of width W/windowBuckets.
// The value at time t sums the bucket holding t and the windowBuckets
// buckets before it, so it counts every transaction of (t-W, t] and, at the
// old edge, those of the partly covered oldest bucket: up to W/16 (6.25%)
// more than W. The window never undercounts; rules that compare a count
// with a threshold therefore fire no later than an exact window would.
//
// Buckets are stored sparsely, oldest first: a key seen once holds one
// bucket, a busy key at most windowBuckets+1. Memory per key and feature is
// therefore bounded whatever the traffic; a distinct-count bucket adds at
// most sketchK hashes (8 bytes each).
const (
	windowBuckets = 16
	// MaxWindow is the longest velocity window a rule set may declare.
	MaxWindow = 7 * 24 * time.Hour
	// MinWindow is the shortest: bucket widths below ~60ms buy nothing
	// with event times that are rarely finer than a second.
	MinWindow = time.Second
)

// Distinct counts use a K-minimum-values sketch (Bar-Yossef et al. 2002;
// Beyer et al. 2007). Each bucket keeps the sketchK smallest 64-bit hashes
// of the values it saw; the window merges its buckets' hashes and keeps the
// sketchK smallest of the union. With fewer than sketchK distinct values in
// the window the count is exact (no bucket can have been truncated, since a
// truncated bucket alone contributes sketchK hashes). Above that the
// estimate (K-1)/h_K, with h_K the K-th smallest hash scaled to (0, 1], is
// unbiased with a relative standard error of about 1/sqrt(K-2) = 18%.
const sketchK = 32

type aggregation uint8

const (
	aggCount aggregation = iota + 1
	aggSum
	aggDistinct
)

func parseAggregation(a v1alpha1.FeatureAggregation) (aggregation, bool) {
	switch a {
	case v1alpha1.AggregationCount:
		return aggCount, true
	case v1alpha1.AggregationSum:
		return aggSum, true
	case v1alpha1.AggregationDistinctCount:
		return aggDistinct, true
	}
	return 0, false
}

// bucket aggregates the transactions of one time slot of a window.
type bucket struct {
	idx int64   // start time / width
	n   uint32  // transactions
	sum float64 // sum of amounts (aggSum)
}

// window is one velocity feature of one entity.
type window struct {
	agg     aggregation
	width   int64    // bucket width in nanoseconds
	buckets []bucket // ascending idx, all within windowBuckets of the newest
	// lo and hi are the idx of the oldest and newest bucket, and total
	// the sum of the buckets' n, when there are buckets: a count scored
	// at a time all buckets count for (the usual case) reads them alone,
	// not the buckets (and their cache lines).
	lo, hi int64
	total  uint64
	// kmv holds, for aggDistinct only, the sketch of each bucket: kmv[i]
	// is buckets[i]'s hashes, ascending, distinct, at most sketchK. Kept
	// apart so that the buckets of a count or a sum, which a transaction
	// scans, take 24 bytes each rather than 48.
	kmv [][]uint64
}

// bucketWidth is the bucket width for a window length, rounded up so that
// windowBuckets buckets always cover the window.
func bucketWidth(w time.Duration) int64 {
	return max(1, (int64(w)+windowBuckets-1)/windowBuckets)
}

// windowSignature identifies a window definition independently of the
// feature's name, so that state survives a rename or a reorder of features
// across rule-set generations, and two features with one definition share
// it. A changed definition starts empty.
func windowSignature(agg aggregation, key v1alpha1.FeatureKey, field v1alpha1.FeatureField, width int64) string {
	return strconv.Itoa(int(agg)) + "/" + string(key) + "/" + string(field) + "/" + strconv.FormatInt(width, 10)
}

// floorDiv divides rounding towards minus infinity, so that times before
// 1970 fall into the right bucket.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// add records a transaction at time t with the given amount (aggSum) or
// value hash (aggDistinct, if hasH). It reports false if the transaction is
// older than every bucket still kept, i.e. too late to count.
func (w *window) add(t int64, amount float64, h uint64, hasH bool) bool {
	b := floorDiv(t, w.width)
	n := len(w.buckets)
	distinct := w.agg == aggDistinct
	var i int
	switch {
	case n == 0 || b > w.hi:
		if n > 0 && w.hi < b-windowBuckets {
			// Every bucket has left the window (an entity idle for longer
			// than it): start over without reading them. Buckets hold no
			// pointers; the sketches, which do, are cleared.
			w.buckets, w.total, n = w.buckets[:0], 0, 0
			if distinct {
				clear(w.kmv)
				w.kmv = w.kmv[:0]
			}
		}
		w.buckets = append(w.buckets, bucket{idx: b})
		if distinct {
			w.kmv = append(w.kmv, nil)
		}
		if n == 0 {
			w.lo = b
		}
		w.hi = b
		w.prune(b)
		i = len(w.buckets) - 1
	case b == w.hi:
		i = n - 1
	case b < w.hi-windowBuckets:
		return false
	default:
		var found bool
		i, found = slices.BinarySearchFunc(w.buckets, b, func(x bucket, b int64) int {
			switch {
			case x.idx < b:
				return -1
			case x.idx > b:
				return 1
			}
			return 0
		})
		if !found {
			w.buckets = slices.Insert(w.buckets, i, bucket{idx: b})
			if distinct {
				w.kmv = slices.Insert(w.kmv, i, nil)
			}
			if i == 0 {
				w.lo = b
			}
		}
	}
	target := &w.buckets[i]
	if target.n < math.MaxUint32 {
		target.n++
		w.total++
	}
	switch w.agg {
	case aggSum:
		target.sum += amount
	case aggDistinct:
		if hasH {
			w.kmv[i] = kmvInsert(w.kmv[i], h)
		}
	}
	return true
}

// prune drops buckets that no longer fall in the window ending in bucket b.
func (w *window) prune(b int64) {
	if len(w.buckets) > 1 && w.lo >= b-windowBuckets {
		return // the oldest still counts (the newest, just appended, is b)
	}
	k := 0
	for k < len(w.buckets) && w.buckets[k].idx < b-windowBuckets {
		w.total -= uint64(w.buckets[k].n)
		k++
	}
	if k == 0 {
		return
	}
	m := copy(w.buckets, w.buckets[k:])
	clear(w.buckets[m:])
	w.buckets = w.buckets[:m]
	w.lo = w.buckets[0].idx // the newest is never dropped
	if w.kmv != nil {
		copy(w.kmv, w.kmv[k:])
		clear(w.kmv[m:])
		w.kmv = w.kmv[:m]
	}
}

// expired reports whether no bucket can count for a transaction at or
// after now.
func (w *window) expired(now int64) bool {
	return len(w.buckets) == 0 || w.hi < floorDiv(now, w.width)-windowBuckets
}

// windowValue is a window's aggregate as seen from time t, with or without
// the transaction being scored.
type windowValue struct {
	count float64
	sum   float64
	kmv   [sketchK]uint64
	nkmv  int
}

// value aggregates the buckets covering time t. Buckets later than t (seen
// when t belongs to a late transaction) are left out: a transaction is
// scored against what preceded it.
func (w *window) value(t int64, v *windowValue) {
	b := floorDiv(t, w.width)
	if len(w.buckets) == 0 || w.hi < b-windowBuckets || w.lo > b {
		return // no bucket counts: an idle entity's window, mostly
	}
	if w.agg == aggCount && w.hi <= b {
		// The buckets that count are all but the oldest few, which left
		// the window (none, mostly): total less those, read from the
		// front. Summed as float64 one bucket at a time the counts are
		// whole numbers far below 2^53, so the result is the same.
		n := w.total
		if w.lo < b-windowBuckets {
			// Stops at the newest bucket at the latest: it counts.
			for i := 0; w.buckets[i].idx < b-windowBuckets; i++ {
				n -= uint64(w.buckets[i].n)
			}
		}
		v.count += float64(n)
		return
	}
	w.scan(b, v)
}

// scan is value for the buckets covering bucket b, bucket by bucket.
func (w *window) scan(b int64, v *windowValue) {
	for i := range w.buckets {
		bk := &w.buckets[i]
		if bk.idx < b-windowBuckets || bk.idx > b {
			continue
		}
		v.count += float64(bk.n)
		v.sum += bk.sum
		if w.kmv != nil {
			for _, h := range w.kmv[i] {
				v.insert(h)
			}
		}
	}
}

func (v *windowValue) insert(h uint64) {
	s := v.kmv[:v.nkmv]
	i, found := slices.BinarySearch(s, h)
	if found || (v.nkmv == sketchK && i == sketchK) {
		return
	}
	if v.nkmv < sketchK {
		v.nkmv++
	}
	copy(v.kmv[i+1:v.nkmv], v.kmv[i:v.nkmv-1])
	v.kmv[i] = h
}

// distinct is the exact count below sketchK values, the KMV estimate above.
func (v *windowValue) distinct() float64 {
	if v.nkmv < sketchK {
		return float64(v.nkmv)
	}
	hk := (float64(v.kmv[sketchK-1]) + 1) / (1 << 64)
	return math.Round((sketchK - 1) / hk)
}

func kmvInsert(s []uint64, h uint64) []uint64 {
	i, found := slices.BinarySearch(s, h)
	if found || (len(s) == sketchK && i == sketchK) {
		return s
	}
	if len(s) == sketchK {
		s = s[:sketchK-1]
	}
	return slices.Insert(s, i, h)
}

func (w *window) marshal(e *encoder) {
	e.byte1(byte(w.agg))
	e.varint(w.width)
	e.uvarint(uint64(len(w.buckets)))
	var prev int64
	for i, bk := range w.buckets {
		if i == 0 {
			e.varint(bk.idx)
		} else {
			e.uvarint(uint64(bk.idx - prev))
		}
		prev = bk.idx
		e.uvarint(uint64(bk.n))
		switch w.agg {
		case aggSum:
			e.float(bk.sum)
		case aggDistinct:
			var kmv []uint64
			if i < len(w.kmv) {
				kmv = w.kmv[i]
			}
			e.uvarint(uint64(len(kmv)))
			for _, h := range kmv {
				e.u64(h)
			}
		}
	}
}

func (w *window) unmarshal(d *decoder) {
	w.agg = aggregation(d.byte1())
	if d.err == nil && (w.agg < aggCount || w.agg > aggDistinct) {
		d.fail(fmt.Errorf("unknown aggregation %d", w.agg))
	}
	w.width = d.varint()
	if d.err == nil && w.width <= 0 {
		d.fail(fmt.Errorf("invalid bucket width %d", w.width))
	}
	n := d.count(windowBuckets + 1)
	w.buckets = make([]bucket, 0, n)
	if w.agg == aggDistinct {
		w.kmv = make([][]uint64, 0, n)
	}
	var prev int64
	for i := 0; i < n && d.err == nil; i++ {
		var bk bucket
		if i == 0 {
			bk.idx = d.varint()
		} else {
			delta := d.uvarint()
			if delta == 0 || delta > windowBuckets {
				d.fail(fmt.Errorf("invalid bucket order"))
			}
			bk.idx = prev + int64(delta)
		}
		prev = bk.idx
		bk.n = uint32(min(d.uvarint(), math.MaxUint32))
		switch w.agg {
		case aggSum:
			bk.sum = d.finite()
		case aggDistinct:
			m := d.count(sketchK)
			kmv := make([]uint64, 0, m)
			for j := 0; j < m; j++ {
				kmv = kmvInsert(kmv, d.u64())
			}
			w.kmv = append(w.kmv, kmv)
		}
		w.buckets = append(w.buckets, bk)
		w.total += uint64(bk.n)
	}
	if n := len(w.buckets); n > 0 {
		w.lo, w.hi = w.buckets[0].idx, w.buckets[n-1].idx
	}
}
