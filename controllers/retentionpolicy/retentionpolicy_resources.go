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
	"github.com/ecap-dev/ecap/controllers/pipeline"
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

// lakeAccess is what the job's pod needs to reach the Pipeline's lake, the
// same as the runtime's pods get: the S3 key pair from the credentials
// Secret as ECAP_S3_ACCESS_KEY/ECAP_S3_SECRET_KEY, the Vault CA where the
// lake's Vault credentials are verified, and a local lake's claim mounted
// at its path. A local lake on a ReadWriteOnce claim is reachable only
// from the node that mounts it; see docs/operations.md.
func lakeAccess(p *v1alpha1.Pipeline) (env []corev1.EnvVar, volumes []corev1.Volume, mounts []corev1.VolumeMount) {
	if p == nil || p.Spec.Sinks.Lake == nil {
		return nil, nil, nil
	}
	l := p.Spec.Sinks.Lake
	if l.Local != nil && l.Local.ClaimName != "" {
		volumes = append(volumes, corev1.Volume{Name: "lake", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: l.Local.ClaimName}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "lake", MountPath: l.Local.Path})
	}
	if l.S3 == nil {
		return env, volumes, mounts
	}
	if ref := l.S3.Credentials.SecretRef; ref != nil {
		secretEnv := func(name, key, def string) corev1.EnvVar {
			if key == "" {
				key = def
			}
			return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: key}}}
		}
		env = append(env, secretEnv(pipeline.EnvS3AccessKey, ref.UsernameKey, "username"), secretEnv(pipeline.EnvS3SecretKey, ref.PasswordKey, "password"))
	}
	if v := l.S3.Credentials.Vault; v != nil && v.CASecretRef != nil {
		vol := "vault-ca-" + v1alpha1.CredentialsLakeS3
		volumes = append(volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: v.CASecretRef.Name, Items: []corev1.KeyToPath{{Key: v.CASecretRef.Key, Path: v1alpha1.VaultCAFile}}}}})
		mounts = append(mounts, corev1.VolumeMount{Name: vol, MountPath: v1alpha1.VaultCAMountDir + "/" + v1alpha1.CredentialsLakeS3, ReadOnly: true})
	}
	return env, volumes, mounts
}

func desiredCronJob(rp *v1alpha1.RetentionPolicy, p *v1alpha1.Pipeline, image string) *batchv1.CronJob {
	sched := string(rp.Spec.Schedule)
	if sched == "" {
		sched = "0 3 * * *"
	}
	args := []string{"retention", "--namespace=" + rp.Namespace, "--policy=" + rp.Name}
	if rp.Spec.DryRun {
		args = append(args, "--dry-run")
	}
	env, volumes, mounts := lakeAccess(p)
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
								Name:         "retention",
								Image:        image,
								Command:      []string{"/ecap"},
								Args:         args,
								Env:          env,
								VolumeMounts: mounts,
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
							Volumes: volumes,
						},
					},
				},
			},
		},
	}
}
