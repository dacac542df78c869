package retentionpolicy

import (
	"regexp"

	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/admission"
	"github.com/ecap-dev/ecap/controllers/schedule"
)

// +kubebuilder:webhook:path=/validate-analytics-ecap-dev-v1alpha1-retentionpolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=analytics.ecap.dev,resources=retentionpolicies,verbs=create;update,versions=v1alpha1,name=vretentionpolicy.analytics.ecap.dev,admissionReviewVersions=v1

// SetupWebhookWithManager serves the RetentionPolicy validating webhook.
func SetupWebhookWithManager(mgr ctrl.Manager) error {
	return admission.Register(mgr, &v1alpha1.RetentionPolicy{}, "RetentionPolicy", Validate)
}

// Validate checks the schedule (a CronJob schedule: no @every), the
// selector patterns and the durations.
func Validate(rp *v1alpha1.RetentionPolicy) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if rp.Spec.Schedule != "" {
		if _, err := schedule.Parse(rp.Spec.Schedule, false); err != nil {
			errs = append(errs, field.Invalid(spec.Child("schedule"), rp.Spec.Schedule, err.Error()))
		}
	}
	checkSelector := func(p *field.Path, s v1alpha1.TargetSelector) {
		if s.Pattern == "" {
			return
		}
		if _, err := regexp.Compile("^(?:" + s.Pattern + ")$"); err != nil {
			errs = append(errs, field.Invalid(p.Child("pattern"), s.Pattern, err.Error()))
		}
	}
	positive := func(p *field.Path, d v1alpha1.Duration) {
		v, err := d.Parse()
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(p, d, err.Error()))
		case v <= 0:
			errs = append(errs, field.Invalid(p, d, "must be greater than zero"))
		}
	}
	for i, t := range rp.Spec.Topics {
		tp := spec.Child("topics").Index(i)
		checkSelector(tp.Child("selector"), t.Selector)
		if t.Retention != "" {
			positive(tp.Child("retention"), t.Retention)
		}
		if t.RetentionBytes != nil && t.RetentionBytes.Sign() <= 0 {
			errs = append(errs, field.Invalid(tp.Child("retentionBytes"), t.RetentionBytes.String(), "must be greater than zero"))
		}
	}
	for i, l := range rp.Spec.Lake {
		lp := spec.Child("lake").Index(i)
		checkSelector(lp.Child("selector"), l.Selector)
		positive(lp.Child("expireAfter"), l.ExpireAfter)
	}
	if cs := rp.Spec.CustomerState; cs != nil {
		positive(spec.Child("customerState", "inactiveAfter"), cs.InactiveAfter)
	}
	if e := rp.Spec.Erasure; e != nil {
		for i, id := range e.CustomerIDs {
			if id == "" {
				errs = append(errs, field.Invalid(spec.Child("erasure", "customerIDs").Index(i), id, "must not be empty"))
			}
		}
	}
	return errs
}
