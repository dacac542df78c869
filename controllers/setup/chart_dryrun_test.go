package setup_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ecap-dev/ecap/controllers/testenv"
)

// The chart's rendered manifests must be accepted by a real kube-apiserver:
// each object is sent to the envtest API server as a server-side apply with
// dryRun=All, so it goes through decoding, defaulting, OpenAPI and CEL
// validation and admission (Pod Security included) without being stored.
// The third-party kinds the chart renders (cert-manager Certificate and
// Issuer, Prometheus Operator ServiceMonitor) are validated against CRDs that
// controller-gen generates from their upstream Go types
// (hack/gen-test-crds.sh -> testdata/crds), i.e. the real schemas.

// thirdPartyCRDs installs testdata/crds once per suite.
var thirdPartyCRDs = sync.OnceValue(func() error {
	_, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		Paths:              []string{filepath.Join(testenv.RepoRoot(), "controllers", "setup", "testdata", "crds")},
		ErrorIfPathMissing: true,
	})
	return err
})

// warningCollector records the warnings the API server returns (Pod
// Security "warn" mode answers with warnings, not errors, for workloads).
type warningCollector struct {
	mu       sync.Mutex
	messages []string
}

func (w *warningCollector) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, message string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, message)
}

// take returns the warnings so far and forgets them.
func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.messages
	w.messages = nil
	return m
}

// dryRunner applies objects with dryRun=All and reports warnings per object.
type dryRunner struct {
	client   client.Client
	warnings *warningCollector
}

func newDryRunner(t *testing.T) *dryRunner {
	t.Helper()
	if err := thirdPartyCRDs(); err != nil {
		t.Fatalf("failed to install testdata/crds: %v", err)
	}
	cfg := rest.CopyConfig(env.Config)
	w := &warningCollector{}
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return &dryRunner{client: c, warnings: w}
}

// apply sends obj as a server-side apply with dryRun=All and returns the
// warnings the API server answered with, and its error.
func (d *dryRunner) apply(ctx context.Context, obj *unstructured.Unstructured) ([]string, error) {
	d.warnings.take()
	err := d.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()),
		client.FieldOwner("helm-dry-run-test"), client.ForceOwnership, client.DryRunAll)
	return d.warnings.take(), err
}

// restrictedNamespace creates (for real) a namespace that warns on and
// enforces the restricted Pod Security Standard.
func restrictedNamespace(ctx context.Context, g Gomega) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "ecap-chart-",
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}}
	g.Expect(env.Client.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func TestChartServerSideDryRun(t *testing.T) {
	cases := []struct {
		name string
		args []string
		// check looks at the rendered objects, so that a case proves its
		// values took effect.
		check func(g Gomega, ns string, objs []*unstructured.Unstructured)
	}{{
		name: "defaults",
		check: func(g Gomega, ns string, objs []*unstructured.Unstructured) {
			g.Expect(kinds(objs)).To(ContainElements("Certificate", "Issuer", "ValidatingWebhookConfiguration", "Deployment", "CustomResourceDefinition"))
			g.Expect(kinds(objs)).NotTo(ContainElements("NetworkPolicy", "ServiceMonitor", "Secret"))
		},
	}, {
		name: "self-signed, network policy, service monitor, two replicas, custom image and scheduling, no aggregated roles",
		args: []string{
			"--set", "webhook.certManager.enabled=false",
			"--set", "networkPolicy.enabled=true",
			"--set-json", `networkPolicy.metrics.namespaceSelector={"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}`,
			"--set-json", `networkPolicy.metrics.podSelector={"matchExpressions":[{"key":"app.kubernetes.io/name","operator":"In","values":["prometheus"]}]}`,
			"--set", "metrics.serviceMonitor.enabled=true",
			"--set", "metrics.serviceMonitor.interval=30s",
			"--set", "metrics.serviceMonitor.scrapeTimeout=10s",
			"--set", "metrics.serviceMonitor.labels.release=prometheus",
			"--set", "metrics.runtimePodMonitor.enabled=true",
			"--set", "metrics.runtimePodMonitor.namespaces={shop,team-b}",
			"--set", "replicaCount=2",
			"--set", "image.repository=registry.example.com/platform/ecap",
			"--set", "image.tag=1.2.3",
			"--set", "image.pullPolicy=Always",
			"--set", "runtimeImage=registry.example.com/platform/ecap-runtime:1.2.3",
			"--set-json", `imagePullSecrets=[{"name":"regcred"}]`,
			"--set", "nodeSelector.kubernetes\\.io/os=linux",
			"--set-json", `tolerations=[{"key":"dedicated","operator":"Equal","value":"platform","effect":"NoSchedule"}]`,
			"--set", "rbac.aggregateToDefaultRoles=false",
			"--set", "priorityClassName=system-cluster-critical",
			"--set", "logLevel=debug",
			"--set", "retention.topicResync=90s",
		},
		check: func(g Gomega, ns string, objs []*unstructured.Unstructured) {
			dep := find(t, objs, "Deployment", "ecap-controller-manager")
			args, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
			g.Expect(args).NotTo(BeEmpty())
			g.Expect(args[0].(map[string]any)["args"]).To(ContainElement("--retention-topic-resync=90s"))
			g.Expect(kinds(objs)).To(ContainElements("NetworkPolicy", "ServiceMonitor", "PodMonitor", "Secret"))
			g.Expect(kinds(objs)).NotTo(ContainElements("Certificate", "Issuer"))
			// The chart's runtime PodMonitor selects what the kustomize one does.
			pm := find(t, objs, "PodMonitor", "ecap-runtime-monitor")
			var want struct {
				Spec struct {
					Selector map[string]any `json:"selector"`
				} `json:"spec"`
			}
			readYAML(t, "config/prometheus/runtime-podmonitor.yaml", &want)
			sel, _, _ := unstructured.NestedMap(pm.Object, "spec", "selector")
			g.Expect(sel).To(Equal(want.Spec.Selector))
			names, _, _ := unstructured.NestedStringSlice(pm.Object, "spec", "namespaceSelector", "matchNames")
			g.Expect(names).To(Equal([]string{"shop", "team-b"}))
			for _, o := range objs {
				g.Expect(o.GetName()).NotTo(BeElementOf("ecap-viewer", "ecap-editor"), "aggregated roles are off")
			}
		},
	}, {
		name: "webhook disabled",
		args: []string{"--set", "webhook.enabled=false", "--set", "networkPolicy.enabled=true"},
		check: func(g Gomega, ns string, objs []*unstructured.Unstructured) {
			g.Expect(kinds(objs)).NotTo(ContainElements("ValidatingWebhookConfiguration", "Certificate", "Issuer", "Secret"))
		},
	}, {
		name: "cert-manager ClusterIssuer",
		args: []string{"--set", "webhook.certManager.issuerRef.kind=ClusterIssuer", "--set", "webhook.certManager.issuerRef.name=corp-ca"},
		check: func(g Gomega, ns string, objs []*unstructured.Unstructured) {
			g.Expect(kinds(objs)).To(ContainElement("Certificate"))
			g.Expect(kinds(objs)).NotTo(ContainElement("Issuer"))
		},
	}}

	d := newDryRunner(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			ns := restrictedNamespace(ctx, g)
			objs := helmTemplateIn(t, ns, append([]string{"--include-crds"}, tc.args...)...)
			tc.check(g, ns, objs)
			for _, o := range objs {
				warnings, err := d.apply(ctx, o)
				g.Expect(err).NotTo(HaveOccurred(), "the API server refused %s %s", o.GetKind(), o.GetName())
				g.Expect(warnings).To(BeEmpty(), "the API server warned about %s %s", o.GetKind(), o.GetName())
			}
		})
	}
}

// The same path must refuse what is wrong, or the test above proves nothing.
func TestChartServerSideDryRunRejectsBrokenManifests(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	d := newDryRunner(t)
	ns := restrictedNamespace(ctx, g)
	objs := helmTemplateIn(t, ns, "--set", "metrics.serviceMonitor.enabled=true")

	broken := []struct {
		name  string
		kind  string
		obj   string
		field []string
		value any
		want  string
	}{
		{"replicas of the wrong type", "Deployment", "ecap-controller-manager", []string{"spec", "replicas"}, "two", ".spec.replicas"},
		{"ServiceMonitor endpoint scheme outside its enum", "ServiceMonitor", "ecap-controller-manager-metrics-monitor",
			[]string{"spec", "endpoints"}, []any{map[string]any{"port": "metrics", "scheme": "gopher"}}, "scheme"},
		{"Certificate key algorithm outside its enum", "Certificate", "ecap-serving-cert",
			[]string{"spec", "privateKey", "algorithm"}, "DSA", "algorithm"},
		{"Issuer with a field its schema lacks", "Issuer", "ecap-selfsigned-issuer",
			[]string{"spec", "selfSigned", "validityDays"}, int64(30), "validityDays"},
	}
	for _, b := range broken {
		o := find(t, objs, b.kind, b.obj).DeepCopy()
		g.Expect(unstructured.SetNestedField(o.Object, b.value, b.field...)).To(Succeed())
		_, err := d.apply(ctx, o)
		g.Expect(err).To(HaveOccurred(), "%s: accepted", b.name)
		t.Logf("%s: %v", b.name, err)
		g.Expect(err.Error()).To(ContainSubstring(b.want), "%s", b.name)
	}

	// Pod Security: a privileged-escalation-capable manager is warned about
	// in a restricted namespace, so the empty-warnings check above can fail.
	objs = helmTemplateIn(t, ns, "--set", "securityContext.allowPrivilegeEscalation=true")
	warnings, err := d.apply(ctx, find(t, objs, "Deployment", "ecap-controller-manager"))
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("warnings: %q", warnings)
	g.Expect(strings.Join(warnings, "\n")).To(ContainSubstring("allowPrivilegeEscalation"))
}

func kinds(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.GetKind())
	}
	return ks
}
