// Package index registers the field indexes the ECAP controllers share, so
// that finding the objects that reference a Pipeline is a cache lookup.
package index

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// PipelineRef is the index of FraudRuleSets, Segmentations and
// RetentionPolicies by spec.pipelineRef.name.
const PipelineRef = "spec.pipelineRef.name"

// Setup registers the indexes with the manager's cache. Call it once per
// manager, before the controllers start.
func Setup(ctx context.Context, mgr manager.Manager) error {
	indexer := mgr.GetFieldIndexer()
	for _, obj := range []client.Object{&v1alpha1.FraudRuleSet{}, &v1alpha1.Segmentation{}, &v1alpha1.RetentionPolicy{}} {
		if err := indexer.IndexField(ctx, obj, PipelineRef, pipelineRefOf); err != nil {
			return fmt.Errorf("failed to index %T by %s: %w", obj, PipelineRef, err)
		}
	}
	return nil
}

func pipelineRefOf(obj client.Object) []string {
	var name string
	switch o := obj.(type) {
	case *v1alpha1.FraudRuleSet:
		name = o.Spec.PipelineRef.Name
	case *v1alpha1.Segmentation:
		name = o.Spec.PipelineRef.Name
	case *v1alpha1.RetentionPolicy:
		name = o.Spec.PipelineRef.Name
	}
	if name == "" {
		return nil
	}
	return []string{name}
}
