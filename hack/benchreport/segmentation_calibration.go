package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ecap-dev/ecap/runtime/state"
)

func init() {
	measurements = append(measurements, measurement{"segmentation frozen summary size", segmentationFrozenBytes})
}

// segmentationFrozenBytes measures what a summary frozen at a calibration
// end costs a customer who purchased on both sides of it: 200,000
// customers with two purchases before the end and two after are applied
// to a Store without and to one with the end tracked; the differences in
// retained heap and in checkpoint bytes, per customer, are the figures.
func segmentationFrozenBytes() ([]figure, error) {
	const customers = 200_000
	end := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC)
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("cust-%07d", i)
	}
	measure := func(track bool) (heap, ckpt float64, err error) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := state.NewStore("t", 0)
		if track {
			s.SetCalibrationDays([]int32{state.DayOf(end)})
		}
		offset := int64(0)
		for _, days := range []int{-90, -20, 15, 40} {
			for i, id := range ids {
				at := end.AddDate(0, 0, days+i%7).Add(12 * time.Hour)
				if _, err := s.Apply(state.Purchase{Offset: offset, CustomerID: id, EventTime: at, Amount: 25}); err != nil {
					return 0, 0, err
				}
				offset++
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / customers
		n := 0
		for _, r := range s.Checkpoint() {
			n += len(r.Key) + len(r.Value)
		}
		runtime.KeepAlive(s)
		return heap, float64(n) / customers, nil
	}
	heap0, ckpt0, err := measure(false)
	if err != nil {
		return nil, err
	}
	heap1, ckpt1, err := measure(true)
	if err != nil {
		return nil, err
	}
	return []figure{
		{"segmentation_frozen_summary_heap_bytes_per_customer", heap1 - heap0, "bytes"},
		{"segmentation_frozen_summary_checkpoint_bytes_per_customer", ckpt1 - ckpt0, "bytes"},
	}, nil
}
