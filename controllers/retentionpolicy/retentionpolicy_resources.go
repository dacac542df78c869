package retentionpolicy

import (
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// ChildName is the name of the CronJob and its RBAC objects.
func ChildName(rp *v1alpha1.RetentionPolicy) string { return "ecap-retention-" + rp.Name }

func labels(rp *v1alpha1.RetentionPolicy) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "ecap",
		"app.kubernetes.io/instance":   rp.Name,
		"app.kubernetes.io/managed-by": "ecap-operator",
		v1alpha1.LabelComponent:        "retention",
		v1alpha1.LabelPipeline:         rp.Spec.PipelineRef.Name,
	}
}

func desiredServiceAccount(rp *v1alpha1.RetentionPolicy) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ChildName(rp), Namespace: rp.Namespace, Labels: labels(rp)}}
}

// desiredRole lets the job read its policy and Pipeline, report status, and
// read the erasure list, the Pipeline's runtime config and the Secrets of
// its Kafka credentials and TLS material.
func desiredRole(rp *v1alpha1.RetentionPolicy, p *v1alpha1.Pipeline) *rbacv1.Role {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"retentionpolicies"}, ResourceNames: []string{rp.Name}, Verbs: []string{"get"}},
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"retentionpolicies/status"}, ResourceNames: []string{rp.Name}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"pipelines"}, ResourceNames: []string{rp.Spec.PipelineRef.Name}, Verbs: []string{"get"}},
	}
	cms := []string{"ecap-" + rp.Spec.PipelineRef.Name}
	var secrets []string
	if k := p.Spec.Kafka; k.SASL != nil && k.SASL.Credentials.SecretRef != nil {
		secrets = append(secrets, k.SASL.Credentials.SecretRef.Name)
	}
	if t := p.Spec.Kafka.TLS; t != nil {
		for _, ref := range []*v1alpha1.SecretKeyReference{t.CASecretRef, t.CertSecretRef, t.KeySecretRef} {
			if ref != nil && !slices.Contains(secrets, ref.Name) {
				secrets = append(secrets, ref.Name)
			}
		}
	}
	if e := rp.Spec.Erasure; e != nil {
		if e.ConfigMapRef != nil {
			cms = append(cms, e.ConfigMapRef.Name)
		}
		if e.SecretRef != nil && !slices.Contains(secrets, e.SecretRef.Name) {
			secrets = append(secrets, e.SecretRef.Name)
		}
	}
	rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: cms, Verbs: []string{"get"}})
	if len(secrets) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: secrets, Verbs: []string{"get"}})
	}
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: ChildName(rp), Namespace: rp.Namespace, Labels: labels(rp)}, Rules: rules}
}

func desiredRoleBinding(rp *v1alpha1.RetentionPolicy) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(rp), Namespace: rp.Namespace, Labels: labels(rp)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ChildName(rp)},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ChildName(rp), Namespace: rp.Namespace}},
	}
}

func desiredCronJob(rp *v1alpha1.RetentionPolicy, image string) *batchv1.CronJob {
	sched := string(rp.Spec.Schedule)
	if sched == "" {
		sched = "0 3 * * *"
	}
	args := []string{"retention", "--namespace=" + rp.Namespace, "--policy=" + rp.Name}
	if rp.Spec.DryRun {
		args = append(args, "--dry-run")
	}
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(rp), Namespace: rp.Namespace, Labels: labels(rp)},
		Spec: batchv1.CronJobSpec{
			Schedule:                   sched,
			TimeZone:                   ptr.To("Etc/UTC"),
			Suspend:                    ptr.To(rp.Spec.Suspend),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(rp)},
				Spec: batchv1.JobSpec{
					BackoffLimit: ptr.To[int32](2),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels(rp)},
						Spec: corev1.PodSpec{
							ServiceAccountName: ChildName(rp),
							RestartPolicy:      corev1.RestartPolicyNever,
							SecurityContext: &corev1.PodSecurityContext{
								RunAsNonRoot:   ptr.To(true),
								SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
							},
							Containers: []corev1.Container{{
								Name:    "retention",
								Image:   image,
								Command: []string{"/ecap"},
								Args:    args,
								Resources: corev1.ResourceRequirements{
									Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
									Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
								},
								SecurityContext: &corev1.SecurityContext{
									AllowPrivilegeEscalation: ptr.To(false),
									ReadOnlyRootFilesystem:   ptr.To(true),
									Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
								},
							}},
						},
					},
				},
			},
		},
	}
}
