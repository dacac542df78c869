// Package children creates and updates the objects a controller owns so that
// a steady state makes no API writes: each child carries the hash of its
// desired spec in an annotation and is written only when that hash changes
// or the child is missing.
package children

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// Action says what Ensure did.
type Action string

// Actions.
const (
	Unchanged Action = "unchanged"
	Created   Action = "created"
	Updated   Action = "updated"
	Deleted   Action = "deleted"
)

// Hash is the spec hash of an object: its JSON without metadata status, so
// labels and annotations set by the controller count, and the hash
// annotation itself does not.
func Hash(obj client.Object) string {
	c := obj.DeepCopyObject().(client.Object)
	ann := c.GetAnnotations()
	delete(ann, v1alpha1.AnnotationSpecHash)
	c.SetAnnotations(ann)
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("hash of %T: %v", obj, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:10])
}

// Ensure makes the child exist as desired, owned by owner. preserve, when
// not nil, copies into desired the fields another actor manages on the live
// object (an autoscaler's replicas, an allocated clusterIP) before an update.
// On return desired holds the object as the API server has it (including
// its status), so callers need not read it back through a cache that may
// lag behind a create.
func Ensure(ctx context.Context, c client.Client, owner client.Object, desired client.Object, preserve func(live, desired client.Object)) (Action, error) {
	if err := controllerutil.SetControllerReference(owner, desired, c.Scheme()); err != nil {
		return Unchanged, fmt.Errorf("failed to set owner of %T %s: %w", desired, desired.GetName(), err)
	}
	hash := Hash(desired)
	ann := desired.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[v1alpha1.AnnotationSpecHash] = hash
	desired.SetAnnotations(ann)

	live := desired.DeepCopyObject().(client.Object)
	err := c.Get(ctx, client.ObjectKeyFromObject(desired), live)
	if apierrors.IsNotFound(err) {
		if err := c.Create(ctx, desired); err != nil {
			return Unchanged, fmt.Errorf("failed to create %T %s: %w", desired, desired.GetName(), err)
		}
		return Created, nil
	}
	if err != nil {
		return Unchanged, fmt.Errorf("failed to get %T %s: %w", desired, desired.GetName(), err)
	}
	if !metav1.IsControlledBy(live, owner) {
		return Unchanged, fmt.Errorf("%T %s exists and is not owned by %s; delete or rename it", desired, desired.GetName(), owner.GetName())
	}
	if live.GetAnnotations()[v1alpha1.AnnotationSpecHash] == hash {
		copyInto(desired, live)
		return Unchanged, nil
	}
	if preserve != nil {
		preserve(live, desired)
	}
	desired.SetResourceVersion(live.GetResourceVersion())
	if err := c.Update(ctx, desired); err != nil {
		return Unchanged, fmt.Errorf("failed to update %T %s: %w", desired, desired.GetName(), err)
	}
	return Updated, nil
}

// Delete removes the child if it exists.
func Delete(ctx context.Context, c client.Client, obj client.Object) (Action, error) {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return Unchanged, nil
		}
		return Unchanged, fmt.Errorf("failed to get %T %s: %w", obj, obj.GetName(), err)
	}
	if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return Unchanged, fmt.Errorf("failed to delete %T %s: %w", obj, obj.GetName(), err)
	}
	return Deleted, nil
}

// copyInto overwrites dst with src; both are pointers to the same type.
func copyInto(dst, src client.Object) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}
