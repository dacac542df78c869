package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ecap-dev/ecap/runtime/segmentation"
)

func init() {
	measurements = append(measurements,
		measurement{"segmentation fit and score", segmentationFitScore},
		measurement{"segmentation summary size", segmentationSummaryBytes},
	)
}

// segmentationFitScore times Fit (BG/NBD, gamma-gamma and the RFM
// thresholds) on 100,000 customers simulated with the CDNOW parameters,
// then Model.Score of 1,000,000 other simulated customers with that model.
// Each figure is the best of a few runs: on a shared machine the fastest
// run is the closest to the work itself. Simulating the customers is not
// timed.
func segmentationFitScore() ([]figure, error) {
	fitCustomers := segmentation.Simulate(segmentation.CDNOWSimParams, 100_000, 1)
	in := segmentation.NewFitInput(segmentation.Week, fitCustomers)
	var (
		model *segmentation.Model
		fit   = time.Duration(1<<63 - 1)
	)
	for range 3 {
		start := time.Now()
		m, err := segmentation.Fit(in, segmentation.Config{})
		d := time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("fit 100k: %w", err)
		}
		model, fit = m, min(fit, d)
	}

	scoreCustomers := segmentation.Simulate(segmentation.CDNOWSimParams, 1_000_000, 2)
	score := time.Duration(1<<63 - 1)
	for range 2 {
		runtime.GC()
		start := time.Now()
		rows := model.Score(scoreCustomers)
		d := time.Since(start)
		if len(rows) != len(scoreCustomers) {
			return nil, fmt.Errorf("score 1M: %d rows for %d customers", len(rows), len(scoreCustomers))
		}
		score = min(score, d)
	}
	return []figure{
		{"segmentation_fit_100k_seconds", fit.Seconds(), "s"},
		{"segmentation_score_1m_seconds", score.Seconds(), "s"},
	}, nil
}

// segmentationSummaryBytes adds 3,000,000 purchases of 1,000,000 customers
// (IDs of 12 bytes) to an Accumulator and reports the heap it retains per
// customer: the Summary, its map entry and the ID.
func segmentationSummaryBytes() ([]figure, error) {
	const customers = 1_000_000
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = "cust-" + fmt.Sprintf("%07d", i)
	}
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	acc := segmentation.NewAccumulator(end)
	for round := range 3 {
		for i, id := range ids {
			at := end.AddDate(0, 0, -((i*7 + round*31) % 365))
			if err := acc.Add(id, at, 10); err != nil {
				return nil, fmt.Errorf("accumulate %s: %w", id, err)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perCustomer := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / customers
	runtime.KeepAlive(acc)
	return []figure{{"segmentation_summary_bytes_per_customer", perCustomer, "bytes"}}, nil
}
