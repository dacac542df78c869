package pipeline_test

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
)

// TestVaultCredentialsDeployment checks what the runtime needs for Vault:
// the ServiceAccount token mounted, each caSecretRef mounted where the
// runtime looks for it (v1alpha1.VaultCAMountDir/<credentials>/ca.pem), no
// credential env vars, and a Role that may read only the CA Secrets.
func TestVaultCredentialsDeployment(t *testing.T) {
	ctx, g, ns := setup(t)
	p := newPipeline(ns, "vaulted")
	p.Spec.Kafka.SASL = &v1alpha1.KafkaSASL{Mechanism: v1alpha1.SASLScramSHA512, Credentials: v1alpha1.CredentialsSource{
		Vault: &v1alpha1.VaultCredentials{Address: "https://vault.vault.svc:8200", Role: "ecap", Path: "ecap/kafka",
			CASecretRef: &v1alpha1.SecretKeyReference{Name: "vault-ca", Key: "ca.crt"}},
	}}
	p.Spec.Sinks.Lake = &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{v1alpha1.DatasetTransactions}, S3: &v1alpha1.S3Lake{
		Endpoint: "minio:9000", Bucket: "lake", Credentials: v1alpha1.CredentialsSource{
			Vault: &v1alpha1.VaultCredentials{Address: "https://vault.vault.svc:8200", Role: "ecap", Path: "ecap/s3",
				CASecretRef: &v1alpha1.SecretKeyReference{Name: "vault-ca-s3", Key: "bundle.pem"}},
		},
	}}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	dep := &appsv1.Deployment{}
	g.Eventually(func() error { return env.Client.Get(ctx, key(ns, pipeline.ChildName(p)), dep) }).Should(Succeed())
	spec := dep.Spec.Template.Spec
	g.Expect(spec.AutomountServiceAccountToken).NotTo(BeNil())
	g.Expect(*spec.AutomountServiceAccountToken).To(BeTrue(), "the Vault login needs the ServiceAccount token")
	g.Expect(spec.ServiceAccountName).To(Equal(pipeline.ChildName(p)))

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m
	}
	for _, want := range []struct{ name, secret, key string }{
		{v1alpha1.CredentialsKafkaSASL, "vault-ca", "ca.crt"},
		{v1alpha1.CredentialsLakeS3, "vault-ca-s3", "bundle.pem"},
	} {
		vol, ok := volumes["vault-ca-"+want.name]
		g.Expect(ok).To(BeTrue(), "no CA volume for %s", want.name)
		g.Expect(vol.Secret).NotTo(BeNil())
		g.Expect(vol.Secret.SecretName).To(Equal(want.secret))
		g.Expect(vol.Secret.Items).To(Equal([]corev1.KeyToPath{{Key: want.key, Path: v1alpha1.VaultCAFile}}))
		m := mounts["vault-ca-"+want.name]
		g.Expect(m.MountPath).To(Equal(v1alpha1.VaultCAMountDir + "/" + want.name))
		g.Expect(m.ReadOnly).To(BeTrue())
	}
	for _, e := range spec.Containers[0].Env {
		g.Expect(e.Name).NotTo(HavePrefix("ECAP_KAFKA_"), "Vault credentials are not passed as env vars")
		g.Expect(e.Name).NotTo(HavePrefix("ECAP_S3_"), "Vault credentials are not passed as env vars")
	}

	role := &rbacv1.Role{}
	g.Expect(env.Client.Get(ctx, key(ns, pipeline.ChildName(p)), role)).To(Succeed())
	g.Expect(role.Rules).To(ContainElement(rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"vault-ca", "vault-ca-s3"}, Verbs: []string{"get"},
	}))
}

// TestCredentialsStayOutOfConfigMapStatusAndEvents puts a real Secret in
// the namespace, references it from a Pipeline, and checks that its value
// appears in none of what the operator writes: the runtime ConfigMap, the
// Deployment (env vars reference the Secret), the Pipeline status, events.
func TestCredentialsStayOutOfConfigMapStatusAndEvents(t *testing.T) {
	ctx, g, ns := setup(t)
	const password = "kafka-password-that-must-not-leak"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kafka-creds"},
		StringData: map[string]string{"username": "ecap", "password": password}}
	g.Expect(env.Client.Create(ctx, secret)).To(Succeed())
	p := newPipeline(ns, "secretive")
	p.Spec.Kafka.SASL = &v1alpha1.KafkaSASL{Mechanism: v1alpha1.SASLPlain, Credentials: v1alpha1.CredentialsSource{
		SecretRef: &v1alpha1.SecretCredentials{Name: "kafka-creds"},
	}}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	markDeploymentAvailable(ctx, g, ns, pipeline.ChildName(p))
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key(ns, p.Name), p)).To(Succeed())
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
	}).Should(Succeed())

	cm := &corev1.ConfigMap{}
	g.Expect(env.Client.Get(ctx, key(ns, pipeline.ChildName(p)), cm)).To(Succeed())
	g.Expect(cm.Data[v1alpha1.RuntimeConfigKey]).To(ContainSubstring(`"kafka-creds"`), "the config references the Secret")
	dep := &appsv1.Deployment{}
	g.Expect(env.Client.Get(ctx, key(ns, pipeline.ChildName(p)), dep)).To(Succeed())
	var refs int
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if strings.HasPrefix(e.Name, "ECAP_KAFKA_") {
			g.Expect(e.Value).To(BeEmpty())
			g.Expect(e.ValueFrom.SecretKeyRef.Name).To(Equal("kafka-creds"))
			refs++
		}
	}
	g.Expect(refs).To(Equal(2))

	evs := &eventsv1.EventList{}
	g.Expect(env.Client.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
	for _, obj := range []any{cm, dep, p.Status, evs} {
		b, err := json.Marshal(obj)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(b)).NotTo(ContainSubstring(password), "%T holds the password", obj)
	}
}
