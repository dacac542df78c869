package engine

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/segmentation"
	"github.com/ecap-dev/ecap/runtime/state"
)

// SnapshotMeasure is what MeasureSegmentationRun observed.
type SnapshotMeasure struct {
	// Pause is the longest time one partition's lock was held while its
	// summaries were copied: how long event processing on it waited.
	Pause time.Duration
	// Offline is the rest of the run without Kafka: calibration
	// summaries, fit inputs, the fit and the scoring of every customer.
	Offline time.Duration
	// Customers is the number of customers scored.
	Customers int
}

// MeasureSegmentationRun fills partitions in-memory partitions with
// customersPerPartition customers each (simulated with the CDNOW estimates)
// and runs the non-Kafka part of a Segmentation run on them with the
// default configuration, as the runtime does on a schedule slot.
func MeasureSegmentationRun(s Settings, partitions, customersPerPartition int) (SnapshotMeasure, error) {
	e := &Engine{s: s, parts: map[int32]*owned{}}
	e.seg = newSegmenter(e)
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	var offset int64
	for n := range partitions {
		p, err := newPartition(&e.s, int32(n))
		if err != nil {
			return SnapshotMeasure{}, err
		}
		// Customers drawn from the BG/NBD with the CDNOW estimates, their
		// purchase days laid out from (x, t_x, T) and values from the spend.
		for i, c := range segmentation.Simulate(segmentation.CDNOWSimParams, customersPerPartition, uint64(n+1)) {
			id := "cus-" + strconv.Itoa(n) + "-" + strconv.Itoa(i)
			first := end.AddDate(0, 0, -int(c.T*7))
			span := int(c.Recency * 7)
			firstValue := max(c.Spend-c.Monetary*float64(c.Frequency), 0)
			apply := func(at time.Time, amount float64) error {
				_, err := p.store.Apply(state.Purchase{Offset: offset, CustomerID: id, EventTime: at, Amount: amount})
				offset++
				return err
			}
			if err := apply(first, firstValue); err != nil {
				return SnapshotMeasure{}, err
			}
			for k := 1; k <= c.Frequency; k++ {
				if err := apply(first.AddDate(0, 0, max(1, span*k/c.Frequency)), c.Monetary); err != nil {
					return SnapshotMeasure{}, err
				}
			}
		}
		e.parts[int32(n)] = &owned{p: p}
	}
	job, err := newSegJob(v1alpha1.SegmentationConfig{Name: "measure", Generation: 1}, "", end)
	if err != nil {
		return SnapshotMeasure{}, err
	}
	snaps, pause := e.seg.snapshot(state.DayOf(end), func() *segmentation.CohortCounter { return segmentation.NewCohortCounter(end, job.cohortMonths) })
	t0 := time.Now()
	all := &segmentation.FitInput{Unit: job.unit}
	var customers []segmentation.Customer
	for _, sn := range snaps {
		in := &segmentation.FitInput{Unit: job.unit, Cohorts: sn.cohorts.Counts()}
		for i := range sn.ids {
			c, st := segmentation.CustomerOf(sn.ids[i], &sn.sums[i], end, job.unit)
			if st != segmentation.Calibrated {
				continue
			}
			in.Add(&c)
			customers = append(customers, c)
		}
		in.Canonicalize()
		if err := all.Merge(in); err != nil {
			return SnapshotMeasure{}, err
		}
	}
	model, notes, err := segmentation.FitAvailable(all, job.config, job.parts)
	if err != nil {
		return SnapshotMeasure{}, err
	}
	if model.NoChurn {
		return SnapshotMeasure{}, fmt.Errorf("the measurement's customers did not fit: %+v", notes)
	}
	rows := model.Score(customers)
	return SnapshotMeasure{Pause: pause, Offline: time.Since(t0), Customers: len(rows)}, nil
}
