package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// AdminPort is the runtime's admin HTTP port: /metrics, /healthz, /readyz,
// /v1/status and pprof.
const AdminPort = 9090

// Env var names the runtime reads Kafka SASL credentials from when they come
// from a Secret.
const (
	EnvKafkaUsername = "ECAP_KAFKA_USERNAME"
	EnvKafkaPassword = "ECAP_KAFKA_PASSWORD"
	EnvS3AccessKey   = "ECAP_S3_ACCESS_KEY"
	EnvS3SecretKey   = "ECAP_S3_SECRET_KEY"
)

// tlsMountPath is where Kafka TLS material is mounted.
const tlsMountPath = v1alpha1.KafkaTLSMountDir

// ChildName is the name of every child object of a Pipeline.
func ChildName(p *v1alpha1.Pipeline) string { return "ecap-" + p.Name }

// Labels are set on every child object and select the runtime pods.
func Labels(p *v1alpha1.Pipeline) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "ecap",
		"app.kubernetes.io/instance":   p.Name,
		"app.kubernetes.io/managed-by": "ecap-operator",
		v1alpha1.LabelComponent:        "runtime",
		v1alpha1.LabelPipeline:         p.Name,
	}
}

func selectorLabels(p *v1alpha1.Pipeline) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "ecap",
		"app.kubernetes.io/instance": p.Name,
		v1alpha1.LabelComponent:      "runtime",
	}
}

// BuildRuntimeConfig folds the Pipeline and its attached objects into one
// RuntimeConfig. Attached objects are sorted by name so the output is stable.
func BuildRuntimeConfig(p *v1alpha1.Pipeline, rules []v1alpha1.FraudRuleSet, segs []v1alpha1.Segmentation) *v1alpha1.RuntimeConfig {
	cfg := &v1alpha1.RuntimeConfig{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.RuntimeConfigKind},
		Pipeline: v1alpha1.PipelineConfig{Name: p.Name, Namespace: p.Namespace, Generation: p.Generation, Spec: *p.Spec.DeepCopy()},
	}
	for i := range rules {
		cfg.FraudRuleSets = append(cfg.FraudRuleSets, v1alpha1.FraudRuleSetConfig{
			Name: rules[i].Name, Generation: rules[i].Generation, Spec: *rules[i].Spec.DeepCopy(),
		})
	}
	for i := range segs {
		cfg.Segmentations = append(cfg.Segmentations, v1alpha1.SegmentationConfig{
			Name: segs[i].Name, Generation: segs[i].Generation, Spec: *segs[i].Spec.DeepCopy(),
			RunNow: segs[i].Annotations[v1alpha1.AnnotationRunNow],
		})
	}
	sort.Slice(cfg.FraudRuleSets, func(i, j int) bool { return cfg.FraudRuleSets[i].Name < cfg.FraudRuleSets[j].Name })
	sort.Slice(cfg.Segmentations, func(i, j int) bool { return cfg.Segmentations[i].Name < cfg.Segmentations[j].Name })
	return cfg
}

// hashOf returns a short stable hash of v's JSON encoding.
func hashOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only types of this package are hashed; they always marshal.
		panic(fmt.Sprintf("hash of %T: %v", v, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// restartHash covers what the running pods cannot pick up by themselves: the
// Pipeline spec (generation-independent) and the image.
func restartHash(p *v1alpha1.Pipeline, image string) string {
	return hashOf(struct {
		Spec  v1alpha1.PipelineSpec
		Image string
	}{p.Spec, image})
}

func desiredConfigMap(p *v1alpha1.Pipeline, cfg *v1alpha1.RuntimeConfig) (*corev1.ConfigMap, error) {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to encode runtime config: %w", err)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace, Labels: Labels(p)},
		Data:       map[string]string{v1alpha1.RuntimeConfigKey: string(b)},
	}, nil
}

func desiredServiceAccount(p *v1alpha1.Pipeline) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace, Labels: Labels(p)},
	}
}

// desiredRole lets the runtime read its own config and the objects it
// hot-reloads, and nothing else. Secrets are read only by name, and only
// those the Pipeline references.
func desiredRole(p *v1alpha1.Pipeline) *rbacv1.Role {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"pipelines", "fraudrulesets", "segmentations"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{ChildName(p)}, Verbs: []string{"get", "watch"}},
	}
	if secrets := referencedSecrets(p); len(secrets) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: secrets, Verbs: []string{"get"}})
	}
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace, Labels: Labels(p)},
		Rules:      rules,
	}
}

func referencedSecrets(p *v1alpha1.Pipeline) []string {
	set := map[string]bool{}
	add := func(name string) {
		if name != "" {
			set[name] = true
		}
	}
	addCreds := func(c v1alpha1.CredentialsSource) {
		if c.SecretRef != nil {
			add(c.SecretRef.Name)
		}
		if c.Vault != nil && c.Vault.CASecretRef != nil {
			add(c.Vault.CASecretRef.Name)
		}
	}
	if t := p.Spec.Kafka.TLS; t != nil {
		for _, r := range []*v1alpha1.SecretKeyReference{t.CASecretRef, t.CertSecretRef, t.KeySecretRef} {
			if r != nil {
				add(r.Name)
			}
		}
	}
	if s := p.Spec.Kafka.SASL; s != nil {
		addCreds(s.Credentials)
	}
	if l := p.Spec.Sinks.Lake; l != nil && l.S3 != nil {
		addCreds(l.S3.Credentials)
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func desiredRoleBinding(p *v1alpha1.Pipeline) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace, Labels: Labels(p)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: ChildName(p)},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ChildName(p), Namespace: p.Namespace}},
	}
}

func desiredService(p *v1alpha1.Pipeline) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace, Labels: Labels(p)},
		Spec: corev1.ServiceSpec{
			Selector: selectorLabels(p),
			Ports: []corev1.ServicePort{{
				Name: "admin", Port: AdminPort, TargetPort: intstr.FromString("admin"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// DesiredReplicas is the replica count the Deployment should have when no
// autoscaler manages it.
func DesiredReplicas(p *v1alpha1.Pipeline) int32 {
	if p.Spec.Suspend {
		return 0
	}
	if p.Spec.Replicas == nil {
		return 1
	}
	return *p.Spec.Replicas
}

func defaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
}

func desiredDeployment(p *v1alpha1.Pipeline, image, configHash string) *appsv1.Deployment {
	resources := defaultResources()
	if p.Spec.Resources != nil {
		resources = *p.Spec.Resources.DeepCopy()
	}
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")}}},
	}
	secretEnv := func(name string, ref *v1alpha1.SecretCredentials, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: key,
		}}}
	}
	if s := p.Spec.Kafka.SASL; s != nil && s.Credentials.SecretRef != nil {
		ref := s.Credentials.SecretRef
		env = append(env, secretEnv(EnvKafkaUsername, ref, defaulted(ref.UsernameKey, "username")), secretEnv(EnvKafkaPassword, ref, defaulted(ref.PasswordKey, "password")))
	}
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: ChildName(p)}}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: v1alpha1.RuntimeConfigMountPath, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if t := p.Spec.Kafka.TLS; t != nil {
		for _, m := range []struct {
			name string
			ref  *v1alpha1.SecretKeyReference
		}{{"tls-ca", t.CASecretRef}, {"tls-cert", t.CertSecretRef}, {"tls-key", t.KeySecretRef}} {
			if m.ref == nil {
				continue
			}
			volumes = append(volumes, corev1.Volume{Name: m.name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: m.ref.Name, Items: []corev1.KeyToPath{{Key: m.ref.Key, Path: m.name + ".pem"}},
			}}})
			mounts = append(mounts, corev1.VolumeMount{Name: m.name, MountPath: tlsMountPath + "/" + m.name, ReadOnly: true})
		}
	}
	if l := p.Spec.Sinks.Lake; l != nil {
		if l.Local != nil && l.Local.ClaimName != "" {
			volumes = append(volumes, corev1.Volume{Name: "lake", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: l.Local.ClaimName}}})
			mounts = append(mounts, corev1.VolumeMount{Name: "lake", MountPath: l.Local.Path})
		}
		if l.S3 != nil && l.S3.Credentials.SecretRef != nil {
			ref := l.S3.Credentials.SecretRef
			env = append(env, secretEnv(EnvS3AccessKey, ref, defaulted(ref.UsernameKey, "username")), secretEnv(EnvS3SecretKey, ref, defaulted(ref.PasswordKey, "password")))
		}
	}

	// Vault: the runtime logs in with the pod's ServiceAccount token, and
	// verifies Vault's certificate with the CA of caSecretRef, mounted per
	// credential where the runtime looks for it.
	usesVault := false
	for _, c := range vaultCredentials(p) {
		usesVault = true
		if ref := c.vault.CASecretRef; ref != nil {
			vol := "vault-ca-" + c.name
			volumes = append(volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: ref.Name, Items: []corev1.KeyToPath{{Key: ref.Key, Path: v1alpha1.VaultCAFile}},
			}}})
			mounts = append(mounts, corev1.VolumeMount{Name: vol, MountPath: v1alpha1.VaultCAMountDir + "/" + c.name, ReadOnly: true})
		}
	}

	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("admin")}},
			PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: 3,
		}
	}
	podLabels := Labels(p)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace, Labels: Labels(p)},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(p)},
			Strategy: appsv1.DeploymentStrategy{
				// A partition must not be owned by an old and a new pod at
				// once longer than a rebalance; roll one pod at a time.
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: podLabels,
					Annotations: map[string]string{
						v1alpha1.AnnotationConfigHash: configHash,
						"prometheus.io/scrape":        "true",
						"prometheus.io/port":          fmt.Sprint(AdminPort),
					},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:            ChildName(p),
					TerminationGracePeriodSeconds: ptr.To[int64](60),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    "runtime",
						Image:   image,
						Command: []string{"/ecap"},
						Args: []string{
							"runtime",
							"--config=" + v1alpha1.RuntimeConfigMountPath + "/" + v1alpha1.RuntimeConfigKey,
							fmt.Sprintf("--admin-addr=:%d", AdminPort),
						},
						Env:            env,
						Ports:          []corev1.ContainerPort{{Name: "admin", ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP}},
						Resources:      resources,
						VolumeMounts:   mounts,
						LivenessProbe:  probe("/healthz", 10),
						ReadinessProbe: probe("/readyz", 5),
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
	}
	if usesVault {
		// Explicit, so that a ServiceAccount or admission default that
		// disables automounting does not break the Vault login.
		dep.Spec.Template.Spec.AutomountServiceAccountToken = ptr.To(true)
	}
	if p.Spec.Autoscaling == nil || p.Spec.Suspend {
		dep.Spec.Replicas = ptr.To(DesiredReplicas(p))
	}
	return dep
}

// namedVaultCredentials is a Vault credential of the Pipeline with the name
// the runtime knows it by (v1alpha1.CredentialsKafkaSASL, ...).
type namedVaultCredentials struct {
	name  string
	vault *v1alpha1.VaultCredentials
}

// vaultCredentials lists the Pipeline's credentials that come from Vault.
func vaultCredentials(p *v1alpha1.Pipeline) []namedVaultCredentials {
	var out []namedVaultCredentials
	if s := p.Spec.Kafka.SASL; s != nil && s.Credentials.Vault != nil {
		out = append(out, namedVaultCredentials{v1alpha1.CredentialsKafkaSASL, s.Credentials.Vault})
	}
	if l := p.Spec.Sinks.Lake; l != nil && l.S3 != nil && l.S3.Credentials.Vault != nil {
		out = append(out, namedVaultCredentials{v1alpha1.CredentialsLakeS3, l.S3.Credentials.Vault})
	}
	return out
}

func desiredHPA(p *v1alpha1.Pipeline) *autoscalingv2.HorizontalPodAutoscaler {
	a := p.Spec.Autoscaling
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: ChildName(p), Namespace: p.Namespace, Labels: Labels(p)},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: ChildName(p)},
			MinReplicas:    ptr.To(max(a.MinReplicas, 1)),
			MaxReplicas:    a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(defaultedInt(a.TargetCPUUtilization, 70))},
				},
			}},
		},
	}
}

func defaulted(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func defaultedInt(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}
