package engine

import (
	"fmt"
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
// jobs: distinct, sorted, at most state.MaxCalibrationDays. Days already
// tracked keep their place; a job that would need a day beyond the limit
// is refused like an invalid configuration (its frozen summaries could not
// be kept), in name order. sg.mu is held.
func (sg *segmenter) setCalibrationDays() []error {
	used := map[int32]bool{}
	for _, j := range sg.jobs {
		if j.spec.CalibrationEnd != nil {
			used[state.DayOf(j.spec.CalibrationEnd.Time)] = true
		}
	}
	var days []int32
	for _, d := range sg.calibrationDays() {
		if used[d] {
			days = append(days, d)
		}
	}
	names := make([]string, 0, len(sg.jobs))
	for n := range sg.jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		j := sg.jobs[n]
		if j.spec.CalibrationEnd == nil {
			continue
		}
		d := state.DayOf(j.spec.CalibrationEnd.Time)
		switch {
		case slices.Contains(days, d):
		case len(days) < state.MaxCalibrationDays:
			days = append(days, d)
		default:
			err := fmt.Errorf("spec.calibrationEnd: the Pipeline's Segmentations already use %d distinct calibration ends, the most the runtime keeps summaries for", state.MaxCalibrationDays)
			sg.errs[n] = fmt.Sprintf("generation %d: %v", j.generation, err)
			errs = append(errs, fmt.Errorf("segmentations[%s]: %w", n, err))
			delete(sg.jobs, n)
		}
	}
	slices.Sort(days)
	sg.calDays.Store(&days)
	return errs
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
