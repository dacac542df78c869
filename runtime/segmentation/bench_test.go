package segmentation

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkFit100k fits BG/NBD and gamma-gamma (and the RFM thresholds) to
// 100,000 synthetic customers. TestFitRecoversSimulatedParameters checks the
// estimates on the same data.
func BenchmarkFit100k(b *testing.B) {
	in := NewFitInput(Week, simulated100k())
	c := in.Clone()
	c.Canonicalize()
	b.ReportMetric(float64(len(c.Triples)), "distinct_triples")
	for b.Loop() {
		if _, err := Fit(in, Config{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScore1M scores 1,000,000 customers: RFM thresholds over all of
// them, then P(alive), expected purchases over a year, 12-period CLV, RFM
// scores and segments per customer.
func BenchmarkScore1M(b *testing.B) {
	customers := simulateCustomers(1_000_000, 2)
	m, err := Fit(NewFitInput(Week, simulated100k()), Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		in := NewFitInput(Week, customers)
		in.Canonicalize()
		m.RFM = newRFMModel(in, m.Config.RFM.Bins)
		rows := m.Score(customers)
		if len(rows) != len(customers) {
			b.Fatal("missing rows")
		}
	}
	b.ReportMetric(float64(len(customers))*float64(b.N)/b.Elapsed().Seconds(), "customers/s")
}

// BenchmarkAccumulator summarises 3,000,000 observations of 1,000,000
// customers and reports the retained state per customer: Summary, map
// entry and the customer ID (12 bytes here).
func BenchmarkAccumulator(b *testing.B) {
	const customers = 1_000_000
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("cust-%07d", i)
	}
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	var perCustomer float64
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		acc := NewAccumulator(end)
		for round := range 3 {
			for i, id := range ids {
				at := end.AddDate(0, 0, -((i*7 + round*31) % 365))
				if err := acc.Add(id, at, 10); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		perCustomer = float64(after.HeapAlloc-before.HeapAlloc) / customers
		runtime.KeepAlive(acc)
		b.StartTimer()
	}
	b.ReportMetric(perCustomer, "summary_bytes_per_customer")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(3*customers), "ns/observation")
}
