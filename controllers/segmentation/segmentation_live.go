package segmentation

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
)

// RuntimeSource reports what the runtime replicas of a Pipeline say about
// one of its Segmentations. The runtime has read-only RBAC, so the
// controller copies its results into the Segmentation's status.
type RuntimeSource interface {
	// Segmentation gathers the report of the Segmentation name from the
	// runtime of p. Replicas that do not answer are left out; a report with
	// Replicas == 0 means none answered.
	Segmentation(ctx context.Context, p *v1alpha1.Pipeline, name string) (*RuntimeReport, error)
}

// RuntimeReport is a Segmentation as the runtime replicas that answered
// report it.
type RuntimeReport struct {
	// Replicas is the number of runtime replicas that answered.
	Replicas int
	// Running is the number of those that run the Segmentation.
	Running int
	// AppliedGeneration is the lowest generation the running replicas run;
	// 0 when a replica refused the configuration (LastError).
	AppliedGeneration int64
	// LastError is a replica's report of a refused configuration or a
	// failed run.
	LastError string
	// NextRunTime is the earliest next scheduled slot the replicas report.
	NextRunTime *time.Time
	// Run is the latest run, summed over the replicas that did it; nil
	// before the first.
	Run *RunReport
}

// RunReport is one run summed over replicas: each replica scores its own
// customers with the same model.
type RunReport struct {
	RunID           string
	Generation      int64
	FinishedAt      time.Time
	DurationSeconds float64
	RunNow          string
	CustomersScored int64
	Segments        map[string]int64
	Model           *v1alpha1.ModelStatus
	// Cohorts is the retention matrix; every replica reports the same.
	Cohorts []v1alpha1.CohortStatus
	// CalibrationUnknown counts customers whose summary at the calibration
	// end the replicas did not have.
	CalibrationUnknown int64
}

// PodSource is the RuntimeSource that reads /v1/status from the running
// runtime pods of the Pipeline, like the Pipeline controller's LiveSource.
type PodSource struct {
	// Client lists the runtime pods.
	Client client.Client
	// HTTP fetches /v1/status; nil is http.DefaultClient.
	HTTP *http.Client
	// Port is the runtime's admin port; 0 is pipeline.AdminPort.
	Port int
}

var _ RuntimeSource = (*PodSource)(nil)

// runtimeStatus is the part of the runtime's /v1/status
// (runtime/engine.Status) the controller reads.
type runtimeStatus struct {
	Segmentations []struct {
		Name              string     `json:"name"`
		AppliedGeneration int64      `json:"appliedGeneration"`
		LastError         string     `json:"lastError"`
		NextRunTime       *time.Time `json:"nextRunTime"`
		LastRun           *struct {
			RunID              string         `json:"runID"`
			Generation         int64          `json:"generation"`
			FinishedAt         time.Time      `json:"finishedAt"`
			DurationSeconds    float64        `json:"durationSeconds"`
			RunNow             string         `json:"runNow"`
			CustomersScored    int64          `json:"customersScored"`
			CalibrationUnknown int64          `json:"calibrationUnknown"`
			Segments           map[string]int `json:"segments"`
			Cohorts            []struct {
				Month  string  `json:"month"`
				Size   int64   `json:"size"`
				Active []int64 `json:"active"`
			} `json:"cohorts"`
			BGNBD *struct {
				R             float64 `json:"r"`
				Alpha         float64 `json:"alpha"`
				A             float64 `json:"a"`
				B             float64 `json:"b"`
				LogLikelihood float64 `json:"logLikelihood"`
			} `json:"bgnbd"`
			GammaGamma *struct {
				P             float64 `json:"p"`
				Q             float64 `json:"q"`
				V             float64 `json:"v"`
				LogLikelihood float64 `json:"logLikelihood"`
			} `json:"gammaGamma"`
		} `json:"lastRun"`
	} `json:"segmentations"`
}

// Segmentation implements RuntimeSource.
func (s *PodSource) Segmentation(ctx context.Context, p *v1alpha1.Pipeline, name string) (*RuntimeReport, error) {
	pods, err := pipeline.RuntimePods{Client: s.Client}.List(ctx, p)
	if err != nil {
		return nil, err
	}
	rep := &RuntimeReport{}
	runs := map[string]*RunReport{}
	for i := range pods {
		st, err := s.podStatus(ctx, &pods[i])
		if err != nil {
			continue
		}
		rep.Replicas++
		for _, seg := range st.Segmentations {
			if seg.Name != name {
				continue
			}
			rep.Running++
			if rep.Running == 1 || seg.AppliedGeneration < rep.AppliedGeneration {
				rep.AppliedGeneration = seg.AppliedGeneration
			}
			if seg.LastError != "" {
				rep.LastError = seg.LastError
			}
			if n := seg.NextRunTime; n != nil && (rep.NextRunTime == nil || n.Before(*rep.NextRunTime)) {
				rep.NextRunTime = n
			}
			lr := seg.LastRun
			if lr == nil {
				continue
			}
			r := runs[lr.RunID]
			if r == nil {
				r = &RunReport{RunID: lr.RunID, Generation: lr.Generation, RunNow: lr.RunNow, Segments: map[string]int64{}}
				runs[lr.RunID] = r
			}
			r.FinishedAt = latest(r.FinishedAt, lr.FinishedAt)
			r.DurationSeconds = max(r.DurationSeconds, lr.DurationSeconds)
			r.CustomersScored += lr.CustomersScored
			r.CalibrationUnknown += lr.CalibrationUnknown
			if r.Cohorts == nil && len(lr.Cohorts) > 0 {
				// Merged over all replicas: any one will do.
				r.Cohorts = make([]v1alpha1.CohortStatus, len(lr.Cohorts))
				for i, c := range lr.Cohorts {
					r.Cohorts[i] = v1alpha1.CohortStatus{Month: c.Month, Size: c.Size, Active: c.Active}
				}
			}
			for k, v := range lr.Segments {
				r.Segments[k] += int64(v)
			}
			if r.Model == nil && (lr.BGNBD != nil || lr.GammaGamma != nil) {
				// Every replica fits the same model; any one will do.
				m := &v1alpha1.ModelStatus{}
				if b := lr.BGNBD; b != nil {
					m.BGNBD = &v1alpha1.BGNBDParameters{R: decimal(b.R), Alpha: decimal(b.Alpha), A: decimal(b.A), B: decimal(b.B), LogLikelihood: decimal(b.LogLikelihood)}
				}
				if g := lr.GammaGamma; g != nil {
					m.GammaGamma = &v1alpha1.GammaGammaParameters{P: decimal(g.P), Q: decimal(g.Q), V: decimal(g.V), LogLikelihood: decimal(g.LogLikelihood)}
				}
				r.Model = m
			}
		}
	}
	for _, r := range runs {
		if rep.Run == nil || r.FinishedAt.After(rep.Run.FinishedAt) {
			rep.Run = r
		}
	}
	return rep, nil
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// decimal formats a model parameter for status: seven significant digits,
// enough for the three decimals the published estimates carry.
func decimal(v float64) string { return strconv.FormatFloat(v, 'g', 7, 64) }

func (s *PodSource) podStatus(ctx context.Context, pod *corev1.Pod) (*runtimeStatus, error) {
	st := &runtimeStatus{}
	return st, pipeline.RuntimePods{HTTP: s.HTTP, Port: s.Port}.Get(ctx, pod, st)
}

// segmentCounts orders a run's counts for status: by count, then name.
func segmentCounts(m map[string]int64) []v1alpha1.SegmentCount {
	out := make([]v1alpha1.SegmentCount, 0, len(m))
	for k, v := range m {
		out = append(out, v1alpha1.SegmentCount{Name: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}
