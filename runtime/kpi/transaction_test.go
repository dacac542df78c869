package kpi

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestAddTransactionEqualsAddPerShare: AddTransaction does the work its
// category shares have in common once; its results, counters, lateness and
// snapshot must be exactly those of Add called for every share in turn (the
// later ones as continuations), on streams with late and partially late
// transactions and with folded values.
func TestAddTransactionEqualsAddPerShare(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seed      uint64
		maxValues int
		windows   []Window
	}{
		{name: "no folding", seed: 21, maxValues: 50, windows: testConfig(50).Windows},
		{name: "folding", seed: 22, maxValues: 2, windows: testConfig(2).Windows},
		{name: "one value", seed: 23, maxValues: 1, windows: testConfig(1).Windows},
		{name: "hourly hopping", seed: 24, maxValues: 4,
			windows: []Window{Tumbling("1m", time.Minute), Hopping("1h", time.Hour, 5*time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.maxValues)
			cfg.Windows = tc.windows
			rng := rand.New(rand.NewPCG(tc.seed, 7))
			stream := randomStream(rng, 2500, 150)
			for i := range stream {
				if rng.IntN(20) == 0 {
					stream[i].customer = "" // no customer: counted nowhere in the sets
				}
			}
			perShare, _ := NewAggregator(cfg)
			batched, _ := NewAggregator(cfg)
			var want, got []WindowResult
			lates := 0
			for i, x := range stream {
				wantLate := false
				for _, o := range x.observations() {
					if perShare.Add(o) {
						wantLate = true
					}
				}
				base := Observation{EventTime: x.at, CustomerID: x.customer, Dims: x.dims}
				shares := make([]CategoryShare, len(x.shares))
				for k, s := range x.shares {
					shares[k] = CategoryShare{Category: s.category, Revenue: float64(s.cents) / 100, Units: s.units, Margin: float64(s.margin) / 100}
				}
				if gotLate := batched.AddTransaction(base, shares); gotLate != wantLate {
					t.Fatalf("transaction %d: late %v, per share %v", i, gotLate, wantLate)
				}
				if wantLate {
					lates++
				}
				if i%13 == 0 {
					want, got = perShare.Emit(want), batched.Emit(got)
					a, errA := perShare.MarshalBinary()
					b, errB := batched.MarshalBinary()
					if errA != nil || errB != nil || !bytes.Equal(a, b) {
						t.Fatalf("transaction %d: snapshots differ (errors %v, %v)", i, errA, errB)
					}
				}
			}
			want, got = perShare.Emit(want), batched.Emit(got)
			if lates == 0 || len(want) == 0 {
				t.Fatalf("the stream should have late transactions (%d) and results (%d)", lates, len(want))
			}
			if !reflect.DeepEqual(got, want) {
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("result %d: %+v, per share %+v", i, got[i], want[i])
					}
				}
				t.Fatalf("%d results, per share %d", len(got), len(want))
			}
			if !reflect.DeepEqual(batched.Stats(), perShare.Stats()) {
				t.Fatalf("stats %+v, per share %+v", batched.Stats(), perShare.Stats())
			}
		})
	}
}

// BenchmarkAggregatorAddTransaction: one op is one transaction of one to
// three category shares on the engine benchmark's KPI spec (a 1m tumbling
// and a 1h/5m hopping window, category and country), 50 transactions per
// second of event time over 20,000 customers, emitting every 1000.
func BenchmarkAggregatorAddTransaction(b *testing.B) {
	cfg := Config{
		Windows:           []Window{Tumbling("1m", time.Minute), Hopping("1h", time.Hour, 5*time.Minute)},
		Dimensions:        allDims[:2],
		MaxOutOfOrderness: 10 * time.Second,
		AllowedLateness:   time.Minute,
	}
	a, err := NewAggregator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	const pool = 1 << 12
	type txn struct {
		base   Observation
		shares []CategoryShare
	}
	txns := make([]txn, pool)
	for i := range txns {
		x := &txns[i]
		x.base = Observation{CustomerID: fmt.Sprintf("cus-%06d", rng.IntN(20_000)),
			Dims: [4]string{DimCountry: countries[rng.IntN(len(countries))]}}
		for _, c := range rng.Perm(5)[:1+rng.IntN(3)] {
			x.shares = append(x.shares, CategoryShare{Category: categories[c], Revenue: float64(rng.IntN(20000)) / 100,
				Units: 1 + rng.Int64N(3), Margin: float64(rng.IntN(5000)) / 100})
		}
	}
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var out []WindowResult
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		x := &txns[i&(pool-1)]
		x.base.EventTime = start.Add(time.Duration(i) * 20 * time.Millisecond)
		a.AddTransaction(x.base, x.shares)
		if i%1000 == 999 {
			out = a.Emit(out[:0])
		}
	}
}
