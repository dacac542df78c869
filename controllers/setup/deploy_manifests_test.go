package setup_test

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ecap-dev/ecap/controllers/testenv"
)

// These tests check the deployment manifests (config/ for kustomize,
// charts/ecap for Helm) against the files controller-gen generates, without
// a cluster: they only render.

// helmBinary is what `make helm-lint` builds (Makefile HELM).
const helmBinary = "bin/helm-v3.22.0"

func TestDeployChartCRDsMatchConfig(t *testing.T) {
	g := NewWithT(t)
	root := testenv.RepoRoot()
	want, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(want).NotTo(BeEmpty())
	got, err := filepath.Glob(filepath.Join(root, "charts", "ecap", "crds", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(baseNames(got)).To(Equal(baseNames(want)),
		"charts/ecap/crds must hold exactly config/crd/bases: cp config/crd/bases/*.yaml charts/ecap/crds/")
	for _, w := range want {
		wb, err := os.ReadFile(w)
		g.Expect(err).NotTo(HaveOccurred())
		gb, err := os.ReadFile(filepath.Join(root, "charts", "ecap", "crds", filepath.Base(w)))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(bytes.Equal(gb, wb)).To(BeTrue(),
			"charts/ecap/crds/%s differs from config/crd/bases: cp config/crd/bases/*.yaml charts/ecap/crds/", filepath.Base(w))
	}
}

func TestDeployKustomizeDefaultRenders(t *testing.T) {
	g := NewWithT(t)
	root := testenv.RepoRoot()
	kubectl, err := exec.LookPath("kubectl")
	g.Expect(err).NotTo(HaveOccurred(), "kubectl (with its built-in kustomize) is needed to render config/default")
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(root, "config", "default")).CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "kubectl kustomize config/default: %s", out)
	objs := decodeManifests(t, out)
	const ns = "ecap-system"

	// Every namespaced object lands in ecap-system; the Namespace is created.
	g.Expect(find(t, objs, "Namespace", ns)).NotTo(BeNil())
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration":
			g.Expect(o.GetNamespace()).To(BeEmpty(), "%s/%s is cluster-scoped", o.GetKind(), o.GetName())
		default:
			g.Expect(o.GetNamespace()).To(Equal(ns), "namespace of %s/%s", o.GetKind(), o.GetName())
		}
	}

	// Every generated CRD, unprefixed.
	var rendered, generated []string
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			rendered = append(rendered, o.GetName())
		}
	}
	bases, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	for _, b := range bases {
		var crd apiextensionsv1.CustomResourceDefinition
		readYAML(t, b, &crd)
		generated = append(generated, crd.Name)
	}
	g.Expect(generated).NotTo(BeEmpty())
	g.Expect(rendered).To(ConsistOf(generated), "config/crd/kustomization.yaml lists every file of config/crd/bases")

	// The manager: `ecap manager`, hardened, runtime image = its own image.
	var dep appsv1.Deployment
	convert(t, find(t, objs, "Deployment", "ecap-controller-manager"), &dep)
	pod := dep.Spec.Template.Spec
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Command).To(Equal([]string{"/ecap"}))
	g.Expect(c.Args).To(HaveExactElements("manager", "--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080"))
	g.Expect(envValue(c.Env, "ECAP_IMAGE")).To(Equal(c.Image), "ECAP_IMAGE follows the container image")
	g.Expect(pod.SecurityContext).NotTo(BeNil())
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(pod.SecurityContext.SeccompProfile).NotTo(BeNil())
	g.Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(c.SecurityContext).NotTo(BeNil())
	g.Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(c.SecurityContext.Capabilities).NotTo(BeNil())
	g.Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
	g.Expect(c.LivenessProbe).NotTo(BeNil())
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.ReadinessProbe).NotTo(BeNil())
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(find(t, objs, "ServiceAccount", pod.ServiceAccountName)).NotTo(BeNil(), "the pod's ServiceAccount is rendered")

	// The webhook: Service -> the pod's 9443, certificate for that Service,
	// CA injected from that certificate.
	var svc corev1.Service
	convert(t, find(t, objs, "Service", "ecap-webhook-service"), &svc)
	g.Expect(svc.Spec.Ports).To(HaveLen(1))
	g.Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(443))
	g.Expect(svc.Spec.Ports[0].TargetPort.String()).To(Equal("webhook-server"))
	g.Expect(containerPort(c, "webhook-server")).To(BeEquivalentTo(9443))
	for k, v := range svc.Spec.Selector {
		g.Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the webhook Service selects the manager pod")
	}

	cert := find(t, objs, "Certificate", "ecap-serving-cert")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	g.Expect(dnsNames).To(ConsistOf(
		"ecap-webhook-service.ecap-system.svc", "ecap-webhook-service.ecap-system.svc.cluster.local"))
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	g.Expect(mountedSecret(pod, c, "/tmp/k8s-webhook-server/serving-certs")).To(Equal(secretName),
		"the manager mounts the certificate's Secret at its --webhook-cert-dir")
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	g.Expect(find(t, objs, "Issuer", issuer)).NotTo(BeNil())

	var vwc admissionv1.ValidatingWebhookConfiguration
	convert(t, find(t, objs, "ValidatingWebhookConfiguration", "ecap-validating-webhook-configuration"), &vwc)
	g.Expect(vwc.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", "ecap-system/ecap-serving-cert"))
	g.Expect(cmp.Diff(generatedWebhooks(t, svc.Name, ns), sortedWebhooks(vwc.Webhooks))).To(BeEmpty(),
		"rendered webhooks differ from config/webhook/manifests.yaml (-want +got)")

	// RBAC: the generated rules under the generated name, bound to the pod's
	// ServiceAccount; leader election in the namespace.
	var role rbacv1.ClusterRole
	convert(t, find(t, objs, "ClusterRole", "ecap-manager-role"), &role)
	g.Expect(cmp.Diff(generatedRules(t), role.Rules)).To(BeEmpty(), "ClusterRole rules differ from config/rbac/role.yaml (-want +got)")
	var binding rbacv1.ClusterRoleBinding
	convert(t, find(t, objs, "ClusterRoleBinding", "ecap-manager-rolebinding"), &binding)
	g.Expect(binding.RoleRef.Name).To(Equal(role.Name))
	g.Expect(binding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: pod.ServiceAccountName, Namespace: ns}))
	var leRole rbacv1.Role
	convert(t, find(t, objs, "Role", "ecap-leader-election-role"), &leRole)
	g.Expect(leRole.Rules).To(ContainElement(HaveField("Resources", ContainElement("leases"))))
	var leBinding rbacv1.RoleBinding
	convert(t, find(t, objs, "RoleBinding", "ecap-leader-election-rolebinding"), &leBinding)
	g.Expect(leBinding.RoleRef.Name).To(Equal(leRole.Name))
	g.Expect(leBinding.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Name: pod.ServiceAccountName, Namespace: ns}))
	for name, label := range map[string]string{"ecap-viewer": "aggregate-to-view", "ecap-editor": "aggregate-to-edit"} {
		g.Expect(find(t, objs, "ClusterRole", name).GetLabels()).To(HaveKeyWithValue("rbac.authorization.k8s.io/"+label, "true"))
	}
}

// The Helm tests need the helm binary that `make helm-lint` builds; `make
// test` builds it first. They fail, rather than skip, without it.

func TestDeployHelmLint(t *testing.T) {
	g := NewWithT(t)
	out, err := exec.Command(helm(t), "lint", "--strict", filepath.Join(testenv.RepoRoot(), "charts", "ecap")).CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "helm lint --strict charts/ecap: %s", out)
}

func TestDeployHelmRBACMatchesConfig(t *testing.T) {
	g := NewWithT(t)
	objs := helmTemplate(t)
	var role rbacv1.ClusterRole
	convert(t, find(t, objs, "ClusterRole", "ecap-manager-role"), &role)
	g.Expect(cmp.Diff(generatedRules(t), role.Rules)).To(BeEmpty(),
		"charts/ecap/templates/clusterrole.yaml rules differ from config/rbac/role.yaml (-want +got): copy them over")
}

func TestDeployHelmWebhooksMatchConfig(t *testing.T) {
	g := NewWithT(t)
	objs := helmTemplate(t)
	var vwc admissionv1.ValidatingWebhookConfiguration
	convert(t, find(t, objs, "ValidatingWebhookConfiguration", "ecap-validating-webhook-configuration"), &vwc)
	g.Expect(vwc.Annotations).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", "ecap-system/ecap-serving-cert"))
	g.Expect(find(t, objs, "Certificate", "ecap-serving-cert")).NotTo(BeNil())
	g.Expect(cmp.Diff(generatedWebhooks(t, "ecap-webhook-service", "ecap-system"), sortedWebhooks(vwc.Webhooks))).To(BeEmpty(),
		"charts/ecap webhooks differ from config/webhook/manifests.yaml (-want +got)")
}

// Without cert-manager the chart generates a CA and a serving certificate;
// the webhook configuration must trust the one the manager serves.
func TestDeployHelmSelfSignedWebhookCert(t *testing.T) {
	g := NewWithT(t)
	objs := helmTemplate(t, "--set", "webhook.certManager.enabled=false")
	for _, o := range objs {
		g.Expect(o.GetAPIVersion()).NotTo(HavePrefix("cert-manager.io/"), "%s/%s rendered with cert-manager off", o.GetKind(), o.GetName())
	}
	var secret corev1.Secret
	convert(t, find(t, objs, "Secret", "ecap-webhook-server-cert"), &secret)
	g.Expect(secret.Type).To(Equal(corev1.SecretTypeTLS))
	var dep appsv1.Deployment
	convert(t, find(t, objs, "Deployment", "ecap-controller-manager"), &dep)
	g.Expect(mountedSecret(dep.Spec.Template.Spec, dep.Spec.Template.Spec.Containers[0], "/tmp/k8s-webhook-server/serving-certs")).To(Equal(secret.Name))

	var vwc admissionv1.ValidatingWebhookConfiguration
	convert(t, find(t, objs, "ValidatingWebhookConfiguration", "ecap-validating-webhook-configuration"), &vwc)
	g.Expect(vwc.Annotations).NotTo(HaveKey("cert-manager.io/inject-ca-from"))
	g.Expect(vwc.Webhooks).NotTo(BeEmpty())
	roots := x509.NewCertPool()
	g.Expect(roots.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle)).To(BeTrue(), "caBundle holds a PEM certificate")
	for _, w := range vwc.Webhooks {
		g.Expect(w.ClientConfig.CABundle).To(Equal(vwc.Webhooks[0].ClientConfig.CABundle))
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	g.Expect(block).NotTo(BeNil(), "tls.crt is PEM")
	leaf, err := x509.ParseCertificate(block.Bytes)
	g.Expect(err).NotTo(HaveOccurred())
	for _, host := range []string{"ecap-webhook-service.ecap-system.svc", "ecap-webhook-service.ecap-system.svc.cluster.local"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots})
		g.Expect(err).NotTo(HaveOccurred(), "the serving certificate is valid for %s under the caBundle", host)
	}
	g.Expect(cmp.Diff(generatedWebhooks(t, "ecap-webhook-service", "ecap-system"), sortedWebhooks(withoutCABundle(vwc.Webhooks)))).To(BeEmpty())
}

// helm returns the pinned helm binary, failing the test if it is missing.
func helm(t *testing.T) string {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), helmBinary)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `make helm-lint` first (it builds helm from the Go module proxy): %v", helmBinary, err)
	}
	return path
}

// helmTemplate renders charts/ecap as release "ecap" in ecap-system, the
// names config/default renders. A helm built with `go install` assumes
// Kubernetes v1.20 offline, below the chart's kubeVersion, hence
// --kube-version.
func helmTemplate(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	return helmTemplateIn(t, "ecap-system", args...)
}

// helmTemplateIn renders charts/ecap as release "ecap" in namespace ns.
func helmTemplateIn(t *testing.T, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, stderr, err := runHelmTemplate(t, ns, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v: %s", args, err, stderr)
	}
	return decodeManifests(t, out)
}

// runHelmTemplate runs `helm template` and returns its output, its stderr
// and its error, for tests that expect it to fail.
func runHelmTemplate(t *testing.T, ns string, args ...string) ([]byte, string, error) {
	t.Helper()
	base := []string{"template", "ecap", filepath.Join(testenv.RepoRoot(), "charts", "ecap"), "--namespace", ns, "--kube-version", "1.32.0"}
	cmd := exec.Command(helm(t), append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return out, stderr.String(), err
}

// decodeManifests splits a multi-document YAML stream into objects.
func decodeManifests(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("failed to read YAML document: %v", err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("failed to decode YAML document: %v\n%s", err, doc)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatal("no objects rendered")
	}
	return objs
}

// find returns the object of that kind and name, failing if there is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q rendered", kind, name)
	return nil
}

func convert(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("failed to convert %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// generatedRules reads the rules controller-gen wrote to config/rbac/role.yaml.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	readYAML(t, filepath.Join("config", "rbac", "role.yaml"), &role)
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// generatedWebhooks reads config/webhook/manifests.yaml, pointed at the given
// Service, sorted by name.
func generatedWebhooks(t *testing.T, service, namespace string) []admissionv1.ValidatingWebhook {
	t.Helper()
	var vwc admissionv1.ValidatingWebhookConfiguration
	readYAML(t, filepath.Join("config", "webhook", "manifests.yaml"), &vwc)
	if len(vwc.Webhooks) == 0 {
		t.Fatal("config/webhook/manifests.yaml has no webhooks")
	}
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig.Service.Name = service
		vwc.Webhooks[i].ClientConfig.Service.Namespace = namespace
	}
	return sortedWebhooks(vwc.Webhooks)
}

// readYAML decodes one YAML file, by path relative to the repository root or
// absolute.
func readYAML(t *testing.T, rel string, into any) {
	t.Helper()
	path := rel
	if !filepath.IsAbs(path) {
		path = filepath.Join(testenv.RepoRoot(), rel)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("failed to decode %s: %v", rel, err)
	}
}

func sortedWebhooks(ws []admissionv1.ValidatingWebhook) []admissionv1.ValidatingWebhook {
	ws = slices.Clone(ws)
	sort.Slice(ws, func(i, j int) bool { return ws[i].Name < ws[j].Name })
	return ws
}

func withoutCABundle(ws []admissionv1.ValidatingWebhook) []admissionv1.ValidatingWebhook {
	ws = slices.Clone(ws)
	for i := range ws {
		ws[i].ClientConfig.CABundle = nil
	}
	return ws
}

func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// mountedSecret names the Secret whose volume the container mounts at path.
func mountedSecret(pod corev1.PodSpec, c corev1.Container, path string) string {
	for _, m := range c.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
	}
	return ""
}

func baseNames(paths []string) []string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	sort.Strings(names)
	return names
}
