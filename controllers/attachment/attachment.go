// Package attachment holds the reconcile phases shared by the kinds that
// attach to a Pipeline through spec.pipelineRef (FraudRuleSet, Segmentation,
// RetentionPolicy): resolving the reference, reporting it, and writing the
// status once.
package attachment

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/index"
	"github.com/ecap-dev/ecap/controllers/status"
)

// Object is a kind that references a Pipeline.
type Object interface {
	status.Object
	PipelineName() string
}

// ResolvePipeline looks up the referenced Pipeline and sets the
// PipelineResolved condition. A missing Pipeline returns (nil, nil) and
// marks the object Stalled; it recovers when the Pipeline appears because
// the controller watches Pipelines (see EnqueueReferencing).
func ResolvePipeline(ctx context.Context, c client.Client, obj Object, now time.Time) (*v1alpha1.Pipeline, error) {
	p := &v1alpha1.Pipeline{}
	err := c.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.PipelineName()}, p)
	if apierrors.IsNotFound(err) {
		msg := fmt.Sprintf("pipeline %q not found in namespace %q (spec.pipelineRef.name)", obj.PipelineName(), obj.GetNamespace())
		status.Set(obj, now, v1alpha1.ConditionPipelineResolved, metav1.ConditionFalse, v1alpha1.ReasonPipelineNotFound, msg)
		status.MarkStalled(obj, now, v1alpha1.ReasonPipelineNotFound, msg)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to get pipeline %s: %w", obj.PipelineName(), err)
	}
	status.Set(obj, now, v1alpha1.ConditionPipelineResolved, metav1.ConditionTrue, v1alpha1.ReasonPipelineFound,
		fmt.Sprintf("attached to pipeline %q", p.Name))
	return p, nil
}

// EnqueueReferencing maps a Pipeline event to every object of list's kind
// that references it, so that a missing reference recovers when the
// Pipeline is created.
func EnqueueReferencing(c client.Client, newList func() client.ObjectList) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := newList()
		if err := c.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.PipelineRef: obj.GetName()}); err != nil {
			return nil
		}
		var reqs []reconcile.Request
		_ = meta.EachListItem(list, func(o runtime.Object) error {
			if co, ok := o.(client.Object); ok {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(co)})
			}
			return nil
		})
		return reqs
	})
}
