package segmentation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/admission"
	"github.com/ecap-dev/ecap/controllers/schedule"
)

// +kubebuilder:webhook:path=/validate-analytics-ecap-dev-v1alpha1-segmentation,mutating=false,failurePolicy=fail,sideEffects=None,groups=analytics.ecap.dev,resources=segmentations,verbs=create;update,versions=v1alpha1,name=vsegmentation.analytics.ecap.dev,admissionReviewVersions=v1

// SetupWebhookWithManager serves the Segmentation validating webhook.
func SetupWebhookWithManager(mgr ctrl.Manager) error {
	return admission.Register(mgr, &v1alpha1.Segmentation{}, "Segmentation", Validate)
}

// Validate checks the schedule and that segment score ranges fit the bins.
func Validate(s *v1alpha1.Segmentation) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if s.Spec.Schedule != "" {
		if _, err := schedule.Parse(s.Spec.Schedule, true); err != nil {
			errs = append(errs, field.Invalid(spec.Child("schedule"), s.Spec.Schedule, err.Error()))
		}
	}
	bins := s.Spec.RFM.Bins
	if bins == 0 {
		bins = 5
	}
	for i, rule := range s.Spec.RFM.Segments {
		rp := spec.Child("rfm", "segments").Index(i)
		for _, r := range []struct {
			name string
			rng  *v1alpha1.ScoreRange
		}{{"recency", rule.Recency}, {"frequency", rule.Frequency}, {"monetary", rule.Monetary}} {
			if r.rng == nil {
				continue
			}
			if r.rng.Max > bins {
				errs = append(errs, field.Invalid(rp.Child(r.name, "max"), r.rng.Max, fmt.Sprintf("scores run from 1 to spec.rfm.bins (%d)", bins)))
			}
			if r.rng.Min > r.rng.Max {
				errs = append(errs, field.Invalid(rp.Child(r.name, "min"), r.rng.Min, "must not exceed max"))
			}
		}
	}
	return errs
}
