package engine

import (
	"slices"

	"github.com/ecap-dev/ecap/runtime/state"
)

// A Segmentation with spec.calibrationEnd is fitted on each customer's
// summary frozen at that day (state.Customer.AsOf). The stores keep those
// summaries for the days the segmenter publishes here; each partition
// picks the current days up before every transactions batch, so a new
// Segmentation's end day is tracked from the first batch after it is
// installed.

// setCalibrationDays publishes the calibration end days of the current
// jobs: distinct, sorted, at most state.MaxCalibrationDays (the earliest).
// sg.mu is held.
func (sg *segmenter) setCalibrationDays() {
	var days []int32
	for _, j := range sg.jobs {
		if j.spec.CalibrationEnd != nil {
			days = append(days, state.DayOf(j.spec.CalibrationEnd.Time))
		}
	}
	slices.Sort(days)
	days = slices.Compact(days)
	if len(days) > state.MaxCalibrationDays {
		days = days[:state.MaxCalibrationDays]
	}
	sg.calDays.Store(&days)
}

// calibrationDays returns the days of setCalibrationDays.
func (sg *segmenter) calibrationDays() []int32 {
	if d := sg.calDays.Load(); d != nil {
		return *d
	}
	return nil
}

// trackCalibrationDays hands the current calibration end days to a
// partition's store; the partition's lock is held.
func (e *Engine) trackCalibrationDays(p *partition) {
	p.store.SetCalibrationDays(e.seg.calibrationDays())
}
