package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/kpi"
)

// TestAppendKPIResult: the KPI record must be json.Marshal's bytes, for
// results of a real Aggregator (exact and dense customer sets, with and
// without sketches, dimension values that need escaping) and for edge
// values, and it must fail where json.Marshal fails.
func TestAppendKPIResult(t *testing.T) {
	var results []kpi.WindowResult
	rng := rand.New(rand.NewPCG(5, 6))
	values := []string{"books", "<toys & games>", "a\"b\\c", "\u2028x\u2029", "bad\xffutf8", "tab\there", "", "é"}
	for _, omit := range []bool{false, true} {
		a, err := kpi.NewAggregator(kpi.Config{Partition: 2, OmitSketches: omit,
			Windows:    []kpi.Window{kpi.Tumbling("1m", time.Minute), kpi.Hopping("5m", 5*time.Minute, time.Minute)},
			Dimensions: []v1alpha1.KPIDimension{v1alpha1.DimensionCategory, v1alpha1.DimensionCountry}})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i := range 6000 {
			o := kpi.Observation{EventTime: at.Add(time.Duration(i) * 50 * time.Millisecond),
				CustomerID: fmt.Sprint("c", rng.IntN(3000)), Revenue: float64(rng.IntN(100000)) / 100,
				Margin: float64(rng.IntN(20000)-5000) / 100, Units: 1 + rng.Int64N(3)}
			o.Dims[kpi.DimCategory] = values[rng.IntN(len(values))]
			o.Dims[kpi.DimCountry] = values[rng.IntN(len(values))]
			a.AddTransaction(o, nil)
		}
		results = a.Emit(results)
	}
	dense := 0
	for _, r := range results {
		if r.UniqueCustomers > 768 && len(r.CustomersSketch) > 0 {
			dense++
		}
	}
	if dense == 0 {
		t.Fatal("no result with a dense sketch")
	}
	zone := time.FixedZone("x", -(3*3600 + 30*60))
	results = append(results,
		kpi.WindowResult{},
		kpi.WindowResult{ID: "w/<&>/\x01", Window: "w\n", Start: time.Date(2026, 3, 4, 5, 6, 7, 890, zone),
			End: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Dimension: "d", Value: "\u2028",
			Partition: kpi.MergedPartition, Revenue: 1e21, Orders: math.MaxInt64, Units: math.MinInt64, AOV: 1e-7,
			Margin: math.Copysign(0, -1), UniqueCustomers: math.MaxUint64, LateOrders: -1, CustomersSketch: []byte{0, 1, 2, 0xff}},
		kpi.WindowResult{Revenue: 123456.789, AOV: 0.1 + 0.2, Margin: -5e-324, CustomersSketch: []byte{}},
	)
	for i := range results {
		r := &results[i]
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("result %d: json.Marshal: %v", i, err)
		}
		got, err := appendKPIResult([]byte("prefix"), r)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("result %d:\n got %s\nwant %s", i, got[len("prefix"):], want)
		}
		if room := kpiResultRoom(r); len(want) > room {
			t.Fatalf("result %d: %d bytes, room %d", i, len(want), room)
		}
	}
	for _, r := range []kpi.WindowResult{
		{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{End: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Revenue: math.NaN()},
		{AOV: math.Inf(1)},
		{Margin: math.Inf(-1)},
	} {
		if _, err := json.Marshal(&r); err == nil {
			t.Fatalf("json.Marshal accepts %+v", r)
		}
		if _, err := appendKPIResult(nil, &r); err == nil {
			t.Fatalf("appendKPIResult accepts %+v", r)
		}
	}
}
