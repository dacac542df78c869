package pipeline

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/admission"
)

// +kubebuilder:webhook:path=/validate-analytics-ecap-dev-v1alpha1-pipeline,mutating=false,failurePolicy=fail,sideEffects=None,groups=analytics.ecap.dev,resources=pipelines,verbs=create;update,versions=v1alpha1,name=vpipeline.analytics.ecap.dev,admissionReviewVersions=v1

// SetupWebhookWithManager serves the Pipeline validating webhook.
func SetupWebhookWithManager(mgr ctrl.Manager) error {
	return admission.Register(mgr, &v1alpha1.Pipeline{}, "Pipeline", func(p *v1alpha1.Pipeline) field.ErrorList {
		return ValidateSpec(&p.Spec)
	})
}
