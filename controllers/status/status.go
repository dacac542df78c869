// Package status keeps the kstatus summary conditions (Ready, Reconciling,
// Stalled) of every ECAP kind consistent, so that each reconciler only states
// the outcome of its phases.
//
// The rules, shared by all controllers:
//   - Ready is always present; Reconciling and Stalled are present only while
//     True (abnormal-true conditions, as kstatus reads them).
//   - status.observedGeneration moves to metadata.generation only when the
//     generation is fully reconciled or stalled, never while in progress.
//   - Every condition carries the generation it was computed for;
//     lastTransitionTime moves only when a condition's status flips.
package status

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Object is an ECAP kind with conditions.
type Object interface {
	client.Object
	v1alpha1.ConditionedObject
}

// Set sets one condition with the object's generation and the given time for
// a transition.
func Set(obj Object, now time.Time, condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(obj.GetConditions(), metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
	})
}

// MarkReady records that the current generation is fully reconciled.
func MarkReady(obj Object, now time.Time, reason, message string) {
	meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionStalled)
	Set(obj, now, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	obj.SetObservedGeneration(obj.GetGeneration())
}

// MarkReconciling records that the controller is still working towards the
// current generation; observedGeneration is left alone.
func MarkReconciling(obj Object, now time.Time, reason, message string) {
	meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionStalled)
	Set(obj, now, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	Set(obj, now, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
}

// MarkStalled records that the current generation cannot progress without a
// change; the generation counts as handled.
func MarkStalled(obj Object, now time.Time, reason, message string) {
	meta.RemoveStatusCondition(obj.GetConditions(), v1alpha1.ConditionReconciling)
	Set(obj, now, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	Set(obj, now, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	obj.SetObservedGeneration(obj.GetGeneration())
}

// MarkError records a transient failure that will be retried: the object is
// reconciling, not stalled.
func MarkError(obj Object, now time.Time, err error) {
	MarkReconciling(obj, now, v1alpha1.ReasonReconcileError, err.Error())
}

// PatchOptimistic is Patch with the object's resourceVersion in the patch:
// it fails with a conflict (and the reconcile is retried on a fresh read)
// when someone else changed the object since original was read. For
// statuses written by more than one party.
func PatchOptimistic(ctx context.Context, c client.Client, original, obj client.Object, statusOf func(client.Object) any) error {
	if equality.Semantic.DeepEqual(statusOf(original), statusOf(obj)) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to patch %s status: %w", obj.GetName(), err)
	}
	return nil
}

// Patch writes obj's status once, and only if it differs from
// original's. statusOf extracts the status struct for comparison.
func Patch(ctx context.Context, c client.Client, original, obj client.Object, statusOf func(client.Object) any) error {
	if equality.Semantic.DeepEqual(statusOf(original), statusOf(obj)) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFrom(original)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to patch %s status: %w", obj.GetName(), err)
	}
	return nil
}
