package status_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/status"
)

// Every kind, marked by the shared helpers, reads as kstatus (kubectl wait,
// Flux, Argo CD's generic health) expects: InProgress while reconciling or
// before the generation is observed, Current when ready, Failed when
// stalled.
func TestKStatusOfEveryKind(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	kinds := map[string]func() status.Object{
		"Pipeline":        func() status.Object { return &v1alpha1.Pipeline{} },
		"FraudRuleSet":    func() status.Object { return &v1alpha1.FraudRuleSet{} },
		"Segmentation":    func() status.Object { return &v1alpha1.Segmentation{} },
		"RetentionPolicy": func() status.Object { return &v1alpha1.RetentionPolicy{} },
	}
	marks := []struct {
		name string
		mark func(status.Object)
		want kstatus.Status
	}{
		// An object no controller has seen has no status; kstatus reads that
		// as Current (its documented behaviour for resources without
		// conditions); every controller writes status on its first reconcile.
		{"reconciled an older generation", func(o status.Object) {
			status.MarkReady(o, now, v1alpha1.ReasonSucceeded, "done")
			o.SetObservedGeneration(o.GetGeneration() - 1)
		}, kstatus.InProgressStatus},
		{"reconciling", func(o status.Object) { status.MarkReconciling(o, now, v1alpha1.ReasonProgressing, "rolling out") }, kstatus.InProgressStatus},
		{"ready", func(o status.Object) { status.MarkReady(o, now, v1alpha1.ReasonSucceeded, "done") }, kstatus.CurrentStatus},
		{"stalled", func(o status.Object) { status.MarkStalled(o, now, v1alpha1.ReasonInvalidSpec, "spec.x: bad") }, kstatus.FailedStatus},
		{"ready then spec changed", func(o status.Object) {
			status.MarkReady(o, now, v1alpha1.ReasonSucceeded, "done")
			o.SetGeneration(o.GetGeneration() + 1)
		}, kstatus.InProgressStatus},
		{"stalled then recovered", func(o status.Object) {
			status.MarkStalled(o, now, v1alpha1.ReasonInvalidSpec, "bad")
			o.SetGeneration(o.GetGeneration() + 1)
			status.MarkReady(o, now, v1alpha1.ReasonSucceeded, "done")
		}, kstatus.CurrentStatus},
	}
	for kind, newObj := range kinds {
		for _, m := range marks {
			t.Run(kind+"/"+m.name, func(t *testing.T) {
				obj := newObj()
				obj.SetName("x")
				obj.SetNamespace("ns")
				obj.SetGeneration(3)
				m.mark(obj)
				raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
				if err != nil {
					t.Fatal(err)
				}
				u := &unstructured.Unstructured{Object: raw}
				u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
				res, err := kstatus.Compute(u)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != m.want {
					t.Fatalf("kstatus = %s (%s), want %s; conditions %+v", res.Status, res.Message, m.want, *obj.GetConditions())
				}
			})
		}
	}
}

// lastTransitionTime moves only when a condition's status flips.
func TestTransitionTimeMovesOnlyOnFlip(t *testing.T) {
	p := &v1alpha1.Pipeline{}
	p.SetGeneration(1)
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	status.MarkReady(p, t0, v1alpha1.ReasonSucceeded, "a")
	status.MarkReady(p, t0.Add(time.Hour), v1alpha1.ReasonSucceeded, "b")
	ready := (*p.GetConditions())[0]
	if !ready.LastTransitionTime.Time.Equal(t0) || ready.Message != "b" {
		t.Fatalf("ready = %+v, want transition at %s and message b", ready, t0)
	}
	status.MarkStalled(p, t0.Add(2*time.Hour), v1alpha1.ReasonInvalidSpec, "c")
	for _, c := range *p.GetConditions() {
		if c.Type == v1alpha1.ConditionReady && (c.Status != metav1.ConditionFalse || !c.LastTransitionTime.Time.Equal(t0.Add(2*time.Hour))) {
			t.Fatalf("ready after stall = %+v", c)
		}
	}
}
