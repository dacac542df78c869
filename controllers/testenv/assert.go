package testenv

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// KStatus computes the kstatus of obj as kubectl, Argo CD and Flux read it.
func KStatus(obj client.Object) (status.Status, error) {
	m, err := kruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", err
	}
	u := &unstructured.Unstructured{Object: m}
	gvk, err := gvkOf(obj)
	if err != nil {
		return "", err
	}
	u.SetGroupVersionKind(gvk)
	res, err := status.Compute(u)
	if err != nil {
		return "", err
	}
	return res.Status, nil
}

func gvkOf(obj client.Object) (schema.GroupVersionKind, error) {
	switch obj.(type) {
	case *v1alpha1.Pipeline:
		return v1alpha1.GroupVersion.WithKind("Pipeline"), nil
	case *v1alpha1.FraudRuleSet:
		return v1alpha1.GroupVersion.WithKind("FraudRuleSet"), nil
	case *v1alpha1.Segmentation:
		return v1alpha1.GroupVersion.WithKind("Segmentation"), nil
	case *v1alpha1.RetentionPolicy:
		return v1alpha1.GroupVersion.WithKind("RetentionPolicy"), nil
	}
	return schema.GroupVersionKind{}, fmt.Errorf("no kind known for %T", obj)
}

// Condition returns the condition of type t, or nil.
func Condition(obj v1alpha1.ConditionedObject, t string) *metav1.Condition {
	return meta.FindStatusCondition(*obj.GetConditions(), t)
}

// ConditionStatus returns the status of obj's condition of type t, or ""
// while obj has none: inside Eventually, an absent condition is a failed
// try, not a nil dereference that ends the test.
func ConditionStatus(obj v1alpha1.ConditionedObject, t string) metav1.ConditionStatus {
	if c := Condition(obj, t); c != nil {
		return c.Status
	}
	return ""
}

// ReconcileTotal returns how many reconciles the named controller finished,
// from controller-runtime's metrics registry.
func ReconcileTotal(controller string) (float64, error) {
	families, err := crmetrics.Registry.(prometheus.Gatherer).Gather()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "controller") == controller {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Get re-reads obj from the API server.
func (e *Env) Get(ctx context.Context, obj client.Object) error {
	return e.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
}

// Timeout and Poll are the Eventually defaults for the suites.
const (
	Timeout = 45 * time.Second
	Poll    = 100 * time.Millisecond
)
