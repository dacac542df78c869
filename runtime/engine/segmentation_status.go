package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/segmentation"
)

// SegmentationStatus is one Segmentation in /v1/status.
type SegmentationStatus struct {
	Name string `json:"name"`
	// AppliedGeneration is the generation the runtime runs; 0 when the
	// configuration is invalid (see LastError).
	AppliedGeneration int64 `json:"appliedGeneration"`
	// NextRunTime is the next scheduled slot.
	NextRunTime *time.Time `json:"nextRunTime,omitempty"`
	// LastRun is the last completed run; nil before the first.
	LastRun *SegmentationRun `json:"lastRun,omitempty"`
	// LastError is why the configuration or the latest run failed; cleared
	// by a successful run.
	LastError string `json:"lastError,omitempty"`
}

// SegmentationRun is the outcome of one run on this replica. The model is
// the same on every replica; the customer counts are this replica's own.
type SegmentationRun struct {
	// RunID is "slot-<unix seconds>" for a scheduled run, "now-<value>" for
	// one asked through the run-now annotation.
	RunID      string `json:"runID"`
	Generation int64  `json:"generation"`
	// RunTime is the scheduled slot (or, on demand, when the run started);
	// profiles carry it as model_run_time.
	RunTime time.Time `json:"runTime"`
	// FinishedAt is when the run finished.
	FinishedAt      time.Time `json:"finishedAt"`
	Duration        string    `json:"duration"`
	DurationSeconds float64   `json:"durationSeconds"`
	// CalibrationEnd is the last day of the observation period.
	CalibrationEnd string `json:"calibrationEnd"`
	// RunNow is the run-now annotation value this run answered.
	RunNow string `json:"runNow,omitempty"`
	// Partitions are the partitions whose customers this replica scored.
	Partitions []int32 `json:"partitions"`
	// CustomersScored counts this replica's scored customers.
	CustomersScored int `json:"customersScored"`
	// CustomersFitted counts the customers of all replicas in the fit.
	CustomersFitted int `json:"customersFitted"`
	// NotYetAcquired counts this replica's customers whose first purchase
	// is after the calibration end (left out of the fit, not scored).
	NotYetAcquired int `json:"notYetAcquired,omitempty"`
	// CalibrationUnknown counts this replica's customers with purchases
	// on both sides of the calibration end whose summary at the end the
	// state does not have: they crossed the end before it was configured
	// (see runtime/segmentation/doc.go, "Calibration end in the past").
	// They are left out of the fit and not scored.
	CalibrationUnknown int `json:"calibrationUnknown,omitempty"`
	// TransactionsAfterCalibration counts the purchases after the
	// calibration end of this replica's scored customers (the holdout
	// period).
	TransactionsAfterCalibration int `json:"transactionsAfterCalibration,omitempty"`
	// Cohorts is the retention matrix of all replicas' customers by
	// acquisition month, over spec.cohorts.months months ending with the
	// calibration end's month; absent when cohorts are disabled.
	Cohorts []segmentation.CohortRow `json:"cohorts,omitempty"`
	// Segments counts this replica's customers per segment.
	Segments map[string]int `json:"segments"`
	// BGNBD and GammaGamma are the fitted models; nil when left out (Notes).
	BGNBD      *segmentation.BGNBD      `json:"bgnbd,omitempty"`
	GammaGamma *segmentation.GammaGamma `json:"gammaGamma,omitempty"`
	Notes      segmentation.FitNotes    `json:"notes,omitzero"`
	// ProfilesWritten counts the profile records published to ProfileTopic;
	// ProfilesUnchanged those not written because the profile is the one
	// this replica wrote in its previous run (see publishProfiles).
	ProfilesWritten   int    `json:"profilesWritten"`
	ProfilesUnchanged int    `json:"profilesUnchanged"`
	ProfileTopic      string `json:"profileTopic,omitempty"`
	// SnapshotPause is the longest time one partition's event processing
	// waited while its summaries were copied.
	SnapshotPause        string  `json:"snapshotPause"`
	SnapshotPauseSeconds float64 `json:"snapshotPauseSeconds"`
}

// Profile is the customer-profile record (value of the profile topic, keyed
// by customer ID) and the document of GET /v1/segmentations/{name}/customers/{id}.
// It depends only on the customer's summary and the model, so a run over
// the same state writes the same records.
type Profile struct {
	CustomerID   string    `json:"customer_id"`
	Segmentation string    `json:"segmentation"`
	Generation   int64     `json:"generation"`
	ModelRunTime time.Time `json:"model_run_time"`
	Segment      string    `json:"segment"`
	RScore       int       `json:"r_score"`
	FScore       int       `json:"f_score"`
	MScore       int       `json:"m_score"`
	// Unit is the time unit of Recency, T and the horizon.
	Unit      string  `json:"unit"`
	Frequency int     `json:"frequency"`
	Recency   float64 `json:"recency"`
	T         float64 `json:"T"`
	Monetary  float64 `json:"monetary"`
	Spend     float64 `json:"spend"`
	// PAlive, ChurnRisk (1 - PAlive) and ExpectedPurchases (over
	// Horizon) are absent when the model has no BG/NBD part; CLV when it
	// has no gamma-gamma part.
	PAlive            *float64 `json:"p_alive,omitempty"`
	ChurnRisk         *float64 `json:"churn_risk,omitempty"`
	ExpectedPurchases *float64 `json:"expected_purchases,omitempty"`
	Horizon           float64  `json:"horizon"`
	CLV               *float64 `json:"clv,omitempty"`
}

func (sg *segmenter) profile(j *segJob, res *segResult, i int) Profile {
	run, r := &res.run, &res.rows[i]
	modelRunTime := run.RunTime
	if i < len(res.modelRunTime) {
		modelRunTime = time.Unix(0, res.modelRunTime[i]).UTC()
	}
	p := Profile{CustomerID: r.CustomerID, Segmentation: j.name, Generation: run.Generation, ModelRunTime: modelRunTime,
		Segment: r.Segment, RScore: r.RScore, FScore: r.FScore, MScore: r.MScore, Unit: string(j.unit),
		Frequency: r.Frequency, Recency: r.Recency, T: r.T, Monetary: r.Monetary, Spend: r.Spend, Horizon: j.config.Horizon}
	if run.BGNBD != nil {
		alive, risk, exp := r.PAlive, 1-r.PAlive, r.ExpectedPurchases
		p.PAlive, p.ChurnRisk, p.ExpectedPurchases = &alive, &risk, &exp
		if run.GammaGamma != nil {
			clv := r.CLV
			p.CLV = &clv
		}
	}
	return p
}

// profileBatch is how many profiles go into one write.
const profileBatch = 5000

// publishProfiles writes the profiles of the scored customers to j.topic,
// keyed by customer ID, in customer order, and returns how many it wrote
// and how many it skipped. A profile equal to the one this replica wrote
// for the customer in its previous successful run of the same generation
// (same row, same model parts) is not written again: the compacted topic
// already holds it, with the model_run_time of the run that changed it.
// The choice depends only on the two runs' rows, so it is deterministic.
// It uses a writer of its own so that a large run does not queue behind,
// or ahead of, the hot path's outputs.
func (sg *segmenter) publishProfiles(ctx context.Context, j *segJob, res *segResult) (written, unchanged int, err error) {
	unchangedRows := sg.unchangedRows(j.published, res)
	w := sg.profileWriter()
	msgs := make([]kafka.Message, 0, min(profileBatch, len(res.rows)))
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		if err := w.WriteBatch(ctx, msgs); err != nil {
			return fmt.Errorf("failed to publish profiles to %s: %w", j.topic, err)
		}
		written += len(msgs)
		msgs = msgs[:0]
		return nil
	}
	for i := range res.rows {
		if sg.e.erasing.skip(res.rows[i].CustomerID) {
			continue // erased during this run (control_segmentation.go)
		}
		if unchangedRows[i] {
			unchanged++
			continue
		}
		b, err := json.Marshal(sg.profile(j, res, i))
		if err != nil {
			return written, unchanged, err
		}
		msgs = append(msgs, kafka.Message{Topic: j.topic, Key: []byte(res.rows[i].CustomerID), Value: b})
		if len(msgs) == profileBatch {
			if err := flush(); err != nil {
				return written, unchanged, err
			}
		}
	}
	return written, unchanged, flush()
}

// unchangedRows marks the rows of res equal to the previous result's row
// of the same customer, and sets res.modelRunTime: the previous one for
// those rows, res's own run time for the others. A previous result with
// other model parts (BG/NBD or gamma-gamma present or not) marks nothing.
func (sg *segmenter) unchangedRows(prev, res *segResult) []bool {
	same := make([]bool, len(res.rows))
	res.modelRunTime = make([]int64, len(res.rows))
	now := res.run.RunTime.UnixNano()
	for i := range res.modelRunTime {
		res.modelRunTime[i] = now
	}
	if prev == nil || (prev.run.BGNBD == nil) != (res.run.BGNBD == nil) || (prev.run.GammaGamma == nil) != (res.run.GammaGamma == nil) {
		return same
	}
	k := 0
	for i := range res.rows {
		id := res.rows[i].CustomerID
		for k < len(prev.rows) && prev.rows[k].CustomerID < id {
			k++
		}
		if k < len(prev.rows) && prev.rows[k] == res.rows[i] {
			same[i] = true
			if k < len(prev.modelRunTime) {
				res.modelRunTime[i] = prev.modelRunTime[k]
			}
		}
	}
	return same
}

func (sg *segmenter) profileWriter() *kafkaio.Writer {
	if sg.writer == nil {
		sg.writer = sg.e.client.NewWriter()
	}
	return sg.writer
}

// status returns the Segmentations for /v1/status, sorted by name.
func (sg *segmenter) status() []SegmentationStatus {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	out := make([]SegmentationStatus, 0, len(sg.jobs)+len(sg.errs))
	for name, j := range sg.jobs {
		st := SegmentationStatus{Name: name, AppliedGeneration: j.generation, LastError: j.lastError}
		next := j.next
		st.NextRunTime = &next
		if j.last != nil {
			run := j.last.run
			run.Segments = copyCounts(run.Segments)
			st.LastRun = &run
		}
		out = append(out, st)
	}
	for name, msg := range sg.errs {
		out = append(out, SegmentationStatus{Name: name, LastError: msg})
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SegmentationProfile returns a customer's profile from the last run of a
// Segmentation on this replica. found is false when the Segmentation is
// unknown, has not run yet, or did not score the customer here; msg says
// which.
func (e *Engine) SegmentationProfile(name, customerID string) (p Profile, found bool, msg string) {
	sg := e.seg
	sg.mu.Lock()
	j := sg.jobs[name]
	var res *segResult
	if j != nil {
		res = j.last
	}
	sg.mu.Unlock()
	switch {
	case j == nil:
		return p, false, "no segmentation " + name + " runs here"
	case res == nil:
		return p, false, "segmentation " + name + " has not run yet"
	}
	i, ok := slices.BinarySearchFunc(res.rows, customerID, func(r segmentation.Row, id string) int { return strings.Compare(r.CustomerID, id) })
	if !ok {
		return p, false, "customer not scored by this replica in the last run"
	}
	return sg.profile(j, res, i), true, ""
}

// publishSegmentCounts is the single place where a finished run's segment
// counts (this replica's customers per segment) are handed to metrics: the
// ecap_segment_customers{segmentation,segment} gauge of metrics_kpi.go is
// set here, one call per segment of counts.
func (e *Engine) publishSegmentCounts(segmentation string, counts map[string]int) {
	e.SetSegmentCounts(segmentation, counts)
}
