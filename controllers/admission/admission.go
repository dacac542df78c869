// Package admission turns a kind's field validation into a validating
// webhook, so that the webhook and the reconciler run the very same checks.
package admission

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Validator rejects objects whose Validate reports field errors. The
// rejection is an Invalid status naming every offending field, as kubectl
// prints it.
type Validator[T client.Object] struct {
	Kind     string
	Validate func(T) field.ErrorList
}

var _ admission.Validator[*v1alpha1.Pipeline] = Validator[*v1alpha1.Pipeline]{}

// ValidateCreate validates a new object.
func (v Validator[T]) ValidateCreate(_ context.Context, obj T) (admission.Warnings, error) {
	return nil, v.check(obj)
}

// ValidateUpdate validates the new version of an object.
func (v Validator[T]) ValidateUpdate(_ context.Context, _, obj T) (admission.Warnings, error) {
	return nil, v.check(obj)
}

// ValidateDelete allows every deletion.
func (v Validator[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) {
	return nil, nil
}

func (v Validator[T]) check(obj T) error {
	// Objects being deleted only lose finalizers; never block that.
	if !obj.GetDeletionTimestamp().IsZero() {
		return nil
	}
	if errs := v.Validate(obj); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: v1alpha1.GroupVersion.Group, Kind: v.Kind}, obj.GetName(), errs)
	}
	return nil
}

// Register serves the validator for obj's kind on the manager's webhook
// server.
func Register[T client.Object](mgr ctrl.Manager, obj T, kind string, validate func(T) field.ErrorList) error {
	return ctrl.NewWebhookManagedBy(mgr, obj).WithValidator(Validator[T]{Kind: kind, Validate: validate}).Complete()
}
