package retentionpolicy

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// EventReasonTopicConfigsSet is the reason of the Event that carries the
// audit record of a topic config change.
const EventReasonTopicConfigsSet = "TopicConfigsSet"

// AuditRecord is the audit record of one enforcement that changed a
// target. The controller writes it, as JSON, into a Kubernetes Event on the
// RetentionPolicy (reason TopicConfigsSet) and into its log; the `ecap retention` job will write the
// same records to the audit topic (issue #7, item 3).
type AuditRecord struct {
	// Time is when the change was made (the controller's clock).
	Time time.Time `json:"time"`
	// Policy is the RetentionPolicy that made it.
	Policy AuditPolicy `json:"policy"`
	// Target is what changed.
	Target AuditTarget `json:"target"`
	// Action names the operation, e.g. SetTopicConfigs.
	Action string `json:"action"`
	// Changes lists each config with its old and new value.
	Changes []ConfigChange `json:"changes"`
	// DryRun is true for a run that only reported.
	DryRun bool `json:"dryRun"`
}

// AuditPolicy names a RetentionPolicy.
type AuditPolicy struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// AuditTarget names a retention target.
type AuditTarget struct {
	Kind v1alpha1.TargetKind `json:"kind"`
	Name string              `json:"name"`
}

// audit completes rec with the policy, time and mode and writes it as a log
// line and as an Event on rp. The Event is created directly, not through
// the Recorder: the recorder folds events with the same reason and action
// on one object into a series that keeps only the first note, and every
// audit record must stay readable. A failed Event write is logged; the
// log line still carries the record.
func (r *Reconciler) audit(ctx context.Context, rp *v1alpha1.RetentionPolicy, now time.Time, rec AuditRecord) {
	rec.Time = now.UTC()
	rec.Policy = AuditPolicy{Namespace: rp.Namespace, Name: rp.Name}
	rec.DryRun = rp.Spec.DryRun
	b, err := json.Marshal(rec)
	if err != nil {
		// Plain structs of strings: cannot fail.
		panic(err)
	}
	log := ctrl.LoggerFrom(ctx)
	log.Info("retention audit", "audit", string(b))
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{GenerateName: rp.Name + ".audit-", Namespace: rp.Namespace},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: auditReporter,
		ReportingInstance:   auditReporter,
		Action:              rec.Action,
		Reason:              EventReasonTopicConfigsSet,
		Type:                corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "RetentionPolicy",
			Namespace: rp.Namespace, Name: rp.Name, UID: rp.UID,
		},
		Note: string(b),
	}
	if err := r.Create(ctx, ev); err != nil {
		log.Error(err, "failed to write the audit Event", "audit", string(b))
	}
}

// auditReporter is the reportingController of audit Events.
const auditReporter = "analytics.ecap.dev/retentionpolicy-controller"
