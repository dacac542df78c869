package fraudruleset

import (
	"context"
	"fmt"
	"strings"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/runtime/fraud"
)

// RuntimeSource reads what the replicas of a Pipeline's runtime report about
// their fraud rule sets.
type RuntimeSource interface {
	// Reports returns one report per replica that answered; replicas that
	// do not run or do not answer are left out.
	Reports(ctx context.Context, p *v1alpha1.Pipeline) ([]RuntimeReport, error)
}

// RuntimeReport is the part of a runtime replica's /v1/status
// (runtime/engine.Status) about rule sets.
type RuntimeReport struct {
	RuleSets []RuntimeRuleSet `json:"ruleSets"`
}

// RuntimeRuleSet is one rule set in one replica.
type RuntimeRuleSet struct {
	Name              string            `json:"name"`
	AppliedGeneration int64             `json:"appliedGeneration"`
	LastError         string            `json:"lastError,omitempty"`
	Rules             []fraud.RuleStats `json:"rules,omitempty"`
}

// PodSource reads the reports from the runtime pods' admin endpoints.
type PodSource struct {
	Pods pipeline.RuntimePods
}

// Reports implements RuntimeSource.
func (s PodSource) Reports(ctx context.Context, p *v1alpha1.Pipeline) ([]RuntimeReport, error) {
	pods, err := s.Pods.List(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []RuntimeReport
	for i := range pods {
		var r RuntimeReport
		if err := s.Pods.Get(ctx, &pods[i], &r); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// runtimeView is what the replicas' reports say about one rule set.
type runtimeView struct {
	replicas int
	// applied is the lowest generation any replica scores with (0 when a
	// replica does not have the rule set yet).
	applied   int64
	lastError string
	rules     map[string]fraud.RuleStats
}

func viewOf(name string, reports []RuntimeReport) runtimeView {
	v := runtimeView{replicas: len(reports), applied: -1}
	var parts [][]fraud.RuleStats
	for _, r := range reports {
		gen := int64(0)
		for _, rs := range r.RuleSets {
			if rs.Name != name {
				continue
			}
			gen = rs.AppliedGeneration
			parts = append(parts, rs.Rules)
			if rs.LastError != "" && v.lastError == "" {
				v.lastError = rs.LastError
			}
		}
		if v.applied < 0 || gen < v.applied {
			v.applied = gen
		}
	}
	v.rules = map[string]fraud.RuleStats{}
	for _, r := range fraud.MergeRuleStats(parts...) {
		v.rules[r.Rule] = r
	}
	return v
}

// applyRuntime writes the runtime's view into f's status: the applied
// generation, per-rule counters and ConfigApplied.
func applyRuntime(f *v1alpha1.FraudRuleSet, v runtimeView, pipelineName string, set func(status, reason, msg string)) {
	if v.replicas == 0 {
		set("Unknown", v1alpha1.ReasonRuntimeNotRunning,
			fmt.Sprintf("no runtime replica of pipeline %q answered; counters are from the last report", pipelineName))
		return
	}
	f.Status.AppliedGeneration = v.applied
	f.Status.TotalHits = 0
	for i := range f.Status.Rules {
		rs := &f.Status.Rules[i]
		if r, ok := v.rules[rs.Name]; ok {
			*rs = r.Status()
		} else {
			*rs = v1alpha1.RuleStatus{Name: rs.Name}
		}
		f.Status.TotalHits += rs.Hits
	}
	switch {
	case v.applied == f.Generation:
		set("True", v1alpha1.ReasonApplied, fmt.Sprintf("all %d runtime replicas score with generation %d", v.replicas, f.Generation))
	case v.lastError != "":
		set("False", v1alpha1.ReasonReloadFailed, "the runtime keeps scoring with generation "+fmt.Sprint(v.applied)+": "+strings.TrimSpace(v.lastError))
	default:
		set("False", v1alpha1.ReasonProgressing, fmt.Sprintf("a runtime replica scores with generation %d, waiting for %d", v.applied, f.Generation))
	}
}
