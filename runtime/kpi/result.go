package kpi

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/axiomhq/hyperloglog"
)

// MergedPartition is the Partition of a result merged from several
// partitions.
const MergedPartition int32 = -1

// WindowResult is the KPIs of one closed window for one series: the overall
// total (Dimension and Value "all") or one dimension value.
type WindowResult struct {
	// ID is "<window>/<start RFC 3339>/<dimension>/<value, path-escaped>/
	// <partition>", with "*" for MergedPartition: the same on every replay.
	ID        string    `json:"id"`
	Window    string    `json:"window"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Dimension string    `json:"dimension"`
	Value     string    `json:"value"`
	Partition int32     `json:"partition"`
	// Revenue and Margin are in the reporting currency, exact to a
	// millionth of its unit.
	Revenue float64 `json:"revenue"`
	Orders  int64   `json:"orders"`
	Units   int64   `json:"units"`
	// AOV is Revenue/Orders, 0 without orders.
	AOV    float64 `json:"aov"`
	Margin float64 `json:"margin"`
	// UniqueCustomers is a HyperLogLog estimate (see the package comment).
	UniqueCustomers uint64 `json:"unique_customers"`
	// LateOrders counts the orders admitted after the watermark had passed
	// End, within the allowed lateness.
	LateOrders int64 `json:"late_orders"`
	// CustomersSketch is the serialized HyperLogLog sketch behind
	// UniqueCustomers, for merging across partitions; empty when the
	// Aggregator omits sketches.
	CustomersSketch []byte `json:"customers_sketch,omitempty"`
}

func (r *WindowResult) computeID() string {
	p := "*"
	if r.Partition != MergedPartition {
		p = strconv.FormatInt(int64(r.Partition), 10)
	}
	return r.Window + "/" + r.Start.UTC().Format(time.RFC3339Nano) + "/" + r.Dimension + "/" +
		url.PathEscape(r.Value) + "/" + p
}

// ErrMismatch is returned when merging results of different series.
var ErrMismatch = errors.New("results belong to different series")

// Merge adds o, a result of the same window, dimension and value from
// another partition, to r: sums add, sketches are united and
// UniqueCustomers re-estimated, AOV and ID are recomputed and Partition
// becomes MergedPartition when the two differ. Merging a result twice counts
// it twice: deduplicate by ID first. When either side has no sketch, the
// unique customers are added, which is exact when the partitions see
// disjoint customers (the input is keyed by customer), and the merged result
// has no sketch.
func (r *WindowResult) Merge(o *WindowResult) error {
	if r.Window != o.Window || !r.Start.Equal(o.Start) || !r.End.Equal(o.End) || r.Dimension != o.Dimension || r.Value != o.Value {
		return fmt.Errorf("failed to merge %s with %s: %w", r.ID, o.ID, ErrMismatch)
	}
	revenue := toMillionths(r.Revenue) + toMillionths(o.Revenue)
	r.Revenue = fromMillionths(revenue)
	r.Margin = fromMillionths(toMillionths(r.Margin) + toMillionths(o.Margin))
	r.Orders += o.Orders
	r.Units += o.Units
	r.LateOrders += o.LateOrders
	r.AOV = aov(revenue, r.Orders)
	if len(r.CustomersSketch) > 0 && len(o.CustomersSketch) > 0 {
		merged, n, err := MergeSketches(r.CustomersSketch, o.CustomersSketch)
		if err != nil {
			return fmt.Errorf("failed to merge the customer sketches of %s: %w", r.ID, err)
		}
		r.CustomersSketch, r.UniqueCustomers = merged, n
	} else {
		r.CustomersSketch = nil
		r.UniqueCustomers += o.UniqueCustomers
	}
	if r.Partition != o.Partition {
		r.Partition = MergedPartition
	}
	r.ID = r.computeID()
	return nil
}

// MergeSketches unites two serialized customer sketches and returns the
// union, serialized, with its estimate. Neither input is modified.
func MergeSketches(a, b []byte) (merged []byte, estimate uint64, err error) {
	var x, y hyperloglog.Sketch
	if err := x.UnmarshalBinary(a); err != nil {
		return nil, 0, fmt.Errorf("failed to decode sketch: %w", err)
	}
	if err := y.UnmarshalBinary(b); err != nil {
		return nil, 0, fmt.Errorf("failed to decode sketch: %w", err)
	}
	if err := x.Merge(&y); err != nil {
		return nil, 0, fmt.Errorf("failed to merge sketches: %w", err)
	}
	estimate = x.Estimate()
	merged, err = x.MarshalBinary()
	if err != nil {
		return nil, 0, fmt.Errorf("failed to encode sketch: %w", err)
	}
	return merged, estimate, nil
}

// SketchEstimate returns the cardinality estimate of a serialized sketch.
func SketchEstimate(b []byte) (uint64, error) {
	var x hyperloglog.Sketch
	if err := x.UnmarshalBinary(b); err != nil {
		return 0, fmt.Errorf("failed to decode sketch: %w", err)
	}
	return x.Estimate(), nil
}
