package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/segmentation"
	"github.com/ecap-dev/ecap/runtime/state"
)

// scheduleParser is the dialect of Segmentation schedules: five-field cron
// expressions and descriptors including "@every <duration>", the same
// parser controllers/schedule uses (the runtime may not import it).
var scheduleParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// defaultSchedule is the schema default of spec.schedule.
const defaultSchedule = "@every 15m"

// segJob is one Segmentation as the runtime runs it: the resolved
// configuration, the next scheduled slot and the last run's results.
type segJob struct {
	name       string
	generation int64
	spec       v1alpha1.SegmentationSpec
	runNow     string

	sched  cron.Schedule
	unit   segmentation.Unit
	config segmentation.Config
	parts  segmentation.Parts
	topic  string // profile topic; empty: not published
	// cohortMonths is how many acquisition months the cohort matrix
	// shows; 0 when cohorts are disabled.
	cohortMonths int

	next time.Time // next scheduled slot

	// guarded by segmenter.mu
	answeredRunNow string
	last           *segResult
	lastError      string

	// published is the result whose profiles this replica wrote last, nil
	// after a failed run; only the run goroutine uses it.
	published *segResult
}

// segResult is the outcome of one completed run.
type segResult struct {
	run  SegmentationRun
	rows []segmentation.Row // sorted by CustomerID
	// modelRunTime[i] is the run time (unix ns) of the run that last
	// changed rows[i]'s profile: its model_run_time.
	modelRunTime []int64
}

// segmenter runs the Segmentations of the engine's RuntimeConfig off the hot
// path: on each schedule slot and on demand it snapshots the customer
// summaries of the owned partitions, exchanges fit inputs with the other
// replicas, fits, scores the owned customers and publishes their profiles.
type segmenter struct {
	e *Engine

	mu   sync.Mutex
	jobs map[string]*segJob
	errs map[string]string // segmentations whose config is invalid
	wake chan struct{}

	// exchange is the fit-input exchange between replicas; nil until the
	// first job exists.
	exchange *partExchange
	writer   *kafkaio.Writer
	topics   map[string]bool // output topics ensured

	// partsTimeout bounds how long a run waits for other replicas' parts.
	partsTimeout time.Duration
	// now is the clock of schedules.
	now func() time.Time
	// followCtx ends the exchange reader with the engine.
	followCtx context.Context
	// calDays is the calibration end days the partitions' stores keep
	// frozen summaries for (see segmentation_calibration.go).
	calDays atomic.Pointer[[]int32]
}

func newSegmenter(e *Engine) *segmenter {
	return &segmenter{e: e, jobs: map[string]*segJob{}, errs: map[string]string{}, wake: make(chan struct{}, 1),
		topics: map[string]bool{}, partsTimeout: 2 * time.Minute, now: time.Now}
}

// SetSegmentations installs the Segmentations to run. A Segmentation whose
// generation is unchanged keeps its schedule and last results; a new
// generation starts afresh; one whose configuration is invalid is reported
// (in /v1/status and the returned errors) and not run. A changed run-now
// value triggers a run.
func (e *Engine) SetSegmentations(segs []v1alpha1.SegmentationConfig) []error {
	sg := e.seg
	sg.mu.Lock()
	defer sg.mu.Unlock()
	var errs []error
	seen := map[string]bool{}
	now := sg.now()
	for _, c := range segs {
		seen[c.Name] = true
		if old := sg.jobs[c.Name]; old != nil && old.generation == c.Generation {
			old.runNow = c.RunNow
			continue
		}
		j, err := newSegJob(c, e.s.ProfilesTopic, now)
		if err != nil {
			sg.errs[c.Name] = fmt.Sprintf("generation %d: %v", c.Generation, err)
			errs = append(errs, fmt.Errorf("segmentations[%s]: %w", c.Name, err))
			delete(sg.jobs, c.Name)
			continue
		}
		if old := sg.jobs[c.Name]; old != nil {
			// The run-now value already answered stays answered. A value
			// present when the runtime starts triggers one run.
			j.answeredRunNow = old.answeredRunNow
		}
		delete(sg.errs, c.Name)
		sg.jobs[c.Name] = j
	}
	for name := range sg.jobs {
		if !seen[name] {
			delete(sg.jobs, name)
		}
	}
	for name := range sg.errs {
		if !seen[name] {
			delete(sg.errs, name)
		}
	}
	errs = append(errs, sg.setCalibrationDays()...)
	select {
	case sg.wake <- struct{}{}:
	default:
	}
	return errs
}

// newSegJob resolves a Segmentation's spec; errors name the field.
func newSegJob(c v1alpha1.SegmentationConfig, defaultTopic string, now time.Time) (*segJob, error) {
	if c.Name == "" {
		return nil, fmt.Errorf("name: required")
	}
	spec := c.Spec
	j := &segJob{name: c.Name, generation: c.Generation, spec: spec, runNow: c.RunNow}
	sched := string(spec.Schedule)
	if sched == "" {
		sched = defaultSchedule
	}
	var err error
	if j.sched, err = scheduleParser.Parse(strings.TrimSpace(sched)); err != nil {
		return nil, fmt.Errorf("spec.schedule: invalid schedule %q: %v", sched, err)
	}
	j.unit = segmentation.Unit(spec.TimeUnit)
	if j.unit == "" {
		j.unit = segmentation.Week
	}
	if err := j.unit.Validate(); err != nil {
		return nil, fmt.Errorf("spec.timeUnit: %w", err)
	}
	unitDays := 7.0
	if j.unit == segmentation.Day {
		unitDays = 1
	}
	horizon := orDefault(spec.Churn.Horizon, 52)
	clvHorizon := orDefault(spec.CLV.Horizon, 52)
	discount := float64(orDefault(spec.CLV.AnnualDiscountPercent, 10)) / 100
	if spec.CLV.AnnualDiscountPercent == 0 && spec.CLV.Horizon != 0 {
		// An explicit 0% is indistinguishable from unset in the int field;
		// the schema defaults it to 10, so 0 here means "no discount".
		discount = 0
	}
	// CLV is summed over months (30 days): the discount rate per month is
	// the annual one compounded down.
	const periodDays = 30.0
	periods := max(1, int(math.Round(float64(clvHorizon)*unitDays/periodDays)))
	rate := math.Pow(1+discount, periodDays/365) - 1
	j.config = segmentation.Config{
		Horizon: float64(horizon),
		CLV:     segmentation.CLVConfig{Periods: periods, PeriodLength: periodDays / unitDays, DiscountRate: &rate},
		RFM:     segmentation.RFMConfig{Bins: int(orDefault(spec.RFM.Bins, 5)), Fallback: spec.RFM.DefaultSegment},
	}
	for i, r := range spec.RFM.Segments {
		rule := segmentation.SegmentRule{Name: r.Name}
		for _, d := range []struct {
			from *v1alpha1.ScoreRange
			to   *segmentation.ScoreRange
		}{{r.Recency, &rule.R}, {r.Frequency, &rule.F}, {r.Monetary, &rule.M}} {
			if d.from != nil {
				*d.to = segmentation.ScoreRange{Min: int(d.from.Min), Max: int(d.from.Max)}
			}
		}
		if r.Name == "" {
			return nil, fmt.Errorf("spec.rfm.segments[%d].name: required", i)
		}
		j.config.RFM.Rules = append(j.config.RFM.Rules, rule)
	}
	// Check the scoring configuration once here, so that a run fails only
	// on data.
	probe := &segmentation.FitInput{Unit: j.unit, Triples: []segmentation.TripleCount{{Count: 1}}, Spends: []segmentation.SpendCount{{Count: 1}}}
	if _, _, err := segmentation.FitAvailable(probe, j.config, segmentation.Parts{}); err != nil {
		return nil, fmt.Errorf("spec.rfm: %w", err)
	}
	j.parts = segmentation.Parts{Churn: !spec.Churn.Disabled, Value: !spec.CLV.Disabled && !spec.Churn.Disabled,
		MinCustomers: int(orDefault(spec.Churn.MinCustomers, 100))}
	if !spec.Cohorts.Disabled {
		j.cohortMonths = int(orDefault(spec.Cohorts.Months, 12))
	}
	j.topic = string(spec.OutputTopic)
	if j.topic == "" {
		j.topic = defaultTopic
	}
	j.next = firstSlot(j.sched, now)
	return j, nil
}

func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// firstSlot returns the first scheduled slot after now. Slots of "@every d"
// are aligned to multiples of d since the Unix epoch, so that every replica
// computes the same slots whenever it started; cron slots are aligned by
// their definition.
func firstSlot(s cron.Schedule, now time.Time) time.Time {
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		d := every.Delay
		if d <= 0 {
			d = time.Second
		}
		return now.Truncate(d).Add(d).UTC()
	}
	return s.Next(now.UTC())
}

// nextSlot returns the slot after slot.
func nextSlot(s cron.Schedule, slot time.Time) time.Time {
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		return slot.Add(max(every.Delay, time.Second)).UTC()
	}
	return s.Next(slot)
}

// run triggers due runs until ctx ends. Runs are sequential: one replica
// never fits two Segmentations at once.
func (sg *segmenter) run(ctx context.Context) {
	sg.followCtx = ctx
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	defer func() {
		if sg.writer != nil {
			_ = sg.writer.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-sg.wake:
		}
		for _, d := range sg.due() {
			if ctx.Err() != nil {
				return
			}
			sg.runJob(ctx, d)
		}
	}
}

// dueRun is a run to do now.
type dueRun struct {
	job     *segJob
	runID   string
	runTime time.Time
	runNow  string // the run-now value answered, if on demand
}

// due returns the runs due now, on-demand ones first. Nothing is due while
// the engine is not ready (partitions restoring): the slot waits.
func (sg *segmenter) due() []dueRun {
	if !sg.e.Ready() {
		return nil
	}
	now := sg.now()
	sg.mu.Lock()
	defer sg.mu.Unlock()
	var out []dueRun
	names := make([]string, 0, len(sg.jobs))
	for n := range sg.jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		j := sg.jobs[n]
		if j.runNow != "" && j.runNow != j.answeredRunNow {
			// Replicas agree on the run ID; the run time (which sets the
			// calibration end when spec.calibrationEnd is unset) matters
			// only through its UTC day.
			out = append(out, dueRun{job: j, runID: "now-" + j.runNow, runTime: now.UTC().Truncate(time.Second), runNow: j.runNow})
			continue
		}
		if !now.Before(j.next) {
			slot := j.next
			// Skip slots missed while not ready; run the latest one.
			for n := nextSlot(j.sched, slot); !now.Before(n); n = nextSlot(j.sched, n) {
				slot = n
			}
			j.next = nextSlot(j.sched, slot)
			out = append(out, dueRun{job: j, runID: "slot-" + strconv.FormatInt(slot.Unix(), 10), runTime: slot})
		}
	}
	return out
}

// runJob runs one Segmentation and records the outcome.
func (sg *segmenter) runJob(ctx context.Context, d dueRun) {
	sg.e.erasing.begin()
	defer sg.e.erasing.end()
	res, err := sg.score(ctx, d)
	sg.mu.Lock()
	defer sg.mu.Unlock()
	j := d.job
	if d.runNow != "" {
		j.answeredRunNow = d.runNow
	}
	if err != nil {
		// What reached the profile topic is uncertain: the next run writes
		// every profile.
		j.published = nil
		j.lastError = fmt.Sprintf("run %s: %v", d.runID, err)
		sg.e.log.Warn("segmentation run failed", "segmentation", j.name, "run", d.runID, "err", err)
		return
	}
	j.lastError = ""
	res.rows = sg.e.erasing.filter(res.rows)
	j.last = res
	j.published = res
	sg.e.log.Info("segmentation run finished", "segmentation", j.name, "generation", j.generation, "run", d.runID,
		"customers", res.run.CustomersScored, "duration", res.run.Duration)
	sg.e.publishSegmentCounts(j.name, res.run.Segments)
}

// ownedSnapshot is the customer summaries of one owned partition at a
// calibration end, copied under the partition's lock.
type ownedSnapshot struct {
	partition  int32
	nextOffset int64
	ids        []string
	sums       []segmentation.Summary
	// notYet counts customers first seen after the end; unknown those
	// whose summary at the end the state cannot tell (see
	// state.Customer.AsOf); after counts the purchases of the copied
	// customers after the end (the holdout period).
	notYet, unknown, after int
	// cohorts tallies the activity months of the copied customers; nil
	// when the job has no cohorts.
	cohorts *segmentation.CohortCounter
}

// snapshot copies the summaries at the calibration end day endDay of every
// owned partition. Each partition is locked only while its summaries are
// copied (80 bytes and a string header per customer); that copy is the
// only pause event processing sees. Mapping them to segmentation
// summaries and counting cohorts happen after the lock is released. It
// returns the longest pause.
func (sg *segmenter) snapshot(endDay int32, newCohorts func() *segmentation.CohortCounter) ([]ownedSnapshot, time.Duration) {
	var longest time.Duration
	var out []ownedSnapshot
	for _, o := range sg.e.owned() {
		o.mu.Lock()
		t0 := time.Now()
		p := o.p
		snap := ownedSnapshot{partition: p.id, nextOffset: p.store.Meta().NextOffset, ids: make([]string, 0, p.store.Len())}
		period := make([]state.PeriodSummary, 0, p.store.Len())
		after := make([]int32, 0, p.store.Len())
		p.store.Range(func(id string, c *state.Customer) bool {
			ps, known := c.AsOf(endDay)
			switch {
			case !known:
				snap.unknown++
			case ps.PurchaseDays == 0:
				snap.notYet++
			default:
				snap.ids = append(snap.ids, id)
				period = append(period, ps)
				after = append(after, int32(c.Transactions()-ps.Transactions))
			}
			return true
		})
		pause := time.Since(t0)
		o.mu.Unlock()
		longest = max(longest, pause)

		snap.sums = make([]segmentation.Summary, len(period))
		snap.cohorts = newCohorts()
		for i := range period {
			snap.sums[i] = summaryOf(&period[i])
			snap.after += int(after[i])
			if snap.cohorts != nil {
				snap.cohorts.Add(period[i].FirstMonth(), period[i].ActiveMonth)
			}
		}
		out = append(out, snap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].partition < out[j].partition })
	return out, longest
}

// summaryOf maps a customer's summary at a calibration end onto the
// segmentation summary: the state keeps the same per-day purchase summary
// (first and last purchase day, the 64-day bitmap, distinct purchase days,
// first-day and repeat value).
func summaryOf(s *state.PeriodSummary) segmentation.Summary {
	return segmentation.Summary{RecentDays: s.RecentDays, FirstDayValue: s.FirstDayValue, RepeatValue: s.RepeatValue,
		FirstDay: s.FirstDay, LastDay: s.LastDay, PurchaseDays: uint32(s.PurchaseDays)}
}

// score does one run: snapshot, fit inputs, exchange, fit, score, publish.
func (sg *segmenter) score(ctx context.Context, d dueRun) (*segResult, error) {
	j := d.job
	t0 := time.Now()
	end := d.runTime
	if j.spec.CalibrationEnd != nil {
		end = j.spec.CalibrationEnd.Time
	}
	newCohorts := func() *segmentation.CohortCounter { return nil }
	if j.cohortMonths > 0 {
		newCohorts = func() *segmentation.CohortCounter { return segmentation.NewCohortCounter(end, j.cohortMonths) }
	}
	snaps, pause := sg.snapshot(state.DayOf(end), newCohorts)

	run := SegmentationRun{RunID: d.runID, Generation: j.generation, RunTime: d.runTime.UTC(), CalibrationEnd: end.UTC().Format(time.DateOnly),
		RunNow: d.runNow, Segments: map[string]int{}, SnapshotPause: pause.String(), SnapshotPauseSeconds: pause.Seconds()}
	var customers []segmentation.Customer
	own := map[int32]*segmentation.FitInput{}
	for _, s := range snaps {
		in := &segmentation.FitInput{Unit: j.unit}
		run.NotYetAcquired += s.notYet
		run.CalibrationUnknown += s.unknown
		run.TransactionsAfterCalibration += s.after
		for i := range s.ids {
			c, standing := segmentation.CustomerOf(s.ids[i], &s.sums[i], end, j.unit)
			if standing != segmentation.Calibrated {
				// Not possible for a summary at the end; counted all the same.
				run.CalibrationUnknown++
				continue
			}
			in.Add(&c)
			customers = append(customers, c)
		}
		if s.cohorts != nil {
			in.Cohorts = s.cohorts.Counts()
		}
		in.Canonicalize()
		own[s.partition] = in
		run.Partitions = append(run.Partitions, s.partition)
	}

	all, err := sg.gather(ctx, j, d.runID, snaps, own)
	if err != nil {
		return nil, err
	}
	if all.Customers() == 0 {
		return nil, fmt.Errorf("no customers with a purchase on or before the calibration end %s", run.CalibrationEnd)
	}
	model, notes, err := segmentation.FitAvailable(all, j.config, j.parts)
	if err != nil {
		return nil, fmt.Errorf("failed to fit: %w", err)
	}
	run.CustomersFitted = model.Customers
	if j.cohortMonths > 0 {
		all.Canonicalize()
		m := segmentation.CohortMatrixOf(all.Cohorts, end, j.cohortMonths)
		run.Cohorts = m.Cohorts
	}
	run.Notes = notes
	if !model.NoChurn {
		b := model.BGNBD
		run.BGNBD = &b
	}
	if !model.NoValue {
		g := model.GammaGamma
		run.GammaGamma = &g
	}
	rows := model.Score(customers)
	slices.SortFunc(rows, func(a, b segmentation.Row) int { return strings.Compare(a.CustomerID, b.CustomerID) })
	for i := range rows {
		run.Segments[rows[i].Segment]++
	}
	run.CustomersScored = len(rows)
	res := &segResult{run: run, rows: rows}
	if j.topic != "" {
		n, same, err := sg.publishProfiles(ctx, j, res)
		if err != nil {
			return nil, err
		}
		res.run.ProfilesWritten, res.run.ProfilesUnchanged = n, same
		res.run.ProfileTopic = j.topic
	}
	took := time.Since(t0)
	res.run.FinishedAt = time.Now().UTC().Truncate(time.Millisecond)
	res.run.Duration = took.Round(time.Millisecond).String()
	res.run.DurationSeconds = took.Seconds()
	return res, nil
}
