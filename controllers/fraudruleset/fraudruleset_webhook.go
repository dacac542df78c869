package fraudruleset

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/admission"
	"github.com/ecap-dev/ecap/runtime/fraud"
)

// +kubebuilder:webhook:path=/validate-analytics-ecap-dev-v1alpha1-fraudruleset,mutating=false,failurePolicy=fail,sideEffects=None,groups=analytics.ecap.dev,resources=fraudrulesets,verbs=create;update,versions=v1alpha1,name=vfraudruleset.analytics.ecap.dev,admissionReviewVersions=v1

// SetupWebhookWithManager serves the FraudRuleSet validating webhook.
func SetupWebhookWithManager(mgr ctrl.Manager) error {
	return admission.Register(mgr, &v1alpha1.FraudRuleSet{}, "FraudRuleSet", Validate)
}

// Validate compiles every rule and checks features, thresholds and limits.
// Compile errors name the rule and carry the CEL compiler's message.
func Validate(f *v1alpha1.FraudRuleSet) field.ErrorList {
	var out field.ErrorList
	for _, err := range fraud.ValidateSpec(f.Spec) {
		var ce *fraud.CompileError
		var fe *fraud.FieldError
		switch {
		case errors.As(err, &ce):
			out = append(out, field.Invalid(field.NewPath("spec", "rules").Index(ce.Index).Child("expression"), f.Spec.Rules[ce.Index].Expression, ce.Error()))
		case errors.As(err, &fe):
			out = append(out, &field.Error{Type: field.ErrorTypeInvalid, Field: fe.Field, BadValue: field.OmitValueType{}, Detail: fe.Message})
		default:
			out = append(out, field.InternalError(field.NewPath("spec"), err))
		}
	}
	return out
}
