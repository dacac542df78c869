package metrics_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/engine"
)

const (
	rulesFile     = "charts/ecap/alerts/ecap-rules.yaml"
	rulesCopy     = "config/prometheus/rules.yaml"
	operationsDoc = "docs/operations.md"
)

func dashboardFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "charts", "ecap", "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// registeredMetrics returns every series name the runtime and the manager
// export: the runtime's from a real engine registry (gathered, plus
// described vectors without a child), the manager's from controller-runtime's
// registry in this process, where testenv runs every ECAP controller against
// a real API server, once an object of each reconciled kind has conditions.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ctx, g, ns := env.Setup(t)
	p := testenv.Pipeline(ns, "shop")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	f := &v1alpha1.FraudRuleSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rules"},
		Spec: v1alpha1.FraudRuleSetSpec{PipelineRef: v1alpha1.LocalObjectReference{Name: "shop"},
			Rules: []v1alpha1.FraudRule{{Name: "big", Expression: "txn.amount > 1000.0", Score: 60}}},
	}
	g.Expect(env.Client.Create(ctx, f)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, p)).To(Succeed())
		g.Expect(env.Get(ctx, f)).To(Succeed())
		g.Expect(p.Status.Conditions).NotTo(BeEmpty())
		g.Expect(f.Status.Conditions).NotTo(BeEmpty())
	}).Should(Succeed())

	known := map[string]bool{}
	addGathered(t, known, ctrlmetrics.Registry)

	rc := &v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: "shop", Namespace: ns, Spec: v1alpha1.PipelineSpec{
		Kafka:  v1alpha1.KafkaSpec{Brokers: []string{"unused:9092"}},
		Topics: v1alpha1.PipelineTopics{Transactions: "txns", UserEvents: "uevents", DeadLetter: "dlq"},
	}}}
	s, err := engine.Resolve(rc)
	g.Expect(err).NotTo(HaveOccurred())
	l, err := engine.NewLocal(s, nil)
	g.Expect(err).NotTo(HaveOccurred())
	addGathered(t, known, l.Metrics().Registry)
	addDescribed(t, known, l.Metrics().Descriptors())

	// The sources above are the ones meant: a metric of each.
	for _, n := range []string{"ecap_events_in_total", "ecap_revenue_total", "ecap_process_latency_seconds_bucket",
		"controller_runtime_reconcile_errors_total", "controller_runtime_reconcile_time_seconds_bucket",
		"workqueue_depth", "ecap_resource_condition"} {
		g.Expect(known).To(HaveKey(n))
	}
	g.Expect(known).NotTo(HaveKey("ecap_process_latency_seconds"), "a histogram is read through its _bucket, _sum and _count series")
	return known
}

// Every PromQL query of the dashboards and the alerts parses and reads only
// metrics the code registers; every alert is complete and has its runbook.
func TestDashboardsAndAlertsUseRegisteredMetrics(t *testing.T) {
	known := registeredMetrics(t)
	files := dashboardFiles(t)
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	if strings.Join(names, ",") != "ecap-executive.json,ecap-operations.json" {
		t.Fatalf("dashboards: %v", names)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(data, []byte(`"expr"`)); n < 10 {
			t.Errorf("%s: only %d queries", filepath.Base(f), n)
		}
		for _, p := range checkDashboard(data, known) {
			t.Errorf("%s: %s", filepath.Base(f), p)
		}
	}
	anchors := markdownAnchors(t, filepath.Join(testenv.RepoRoot(), operationsDoc))
	for _, p := range checkRules(repoFile(t, rulesFile), known, anchors) {
		t.Errorf("%s: %s", rulesFile, p)
	}
}

// The checks fail on what they are meant to catch.
func TestMetricChecksRejectBadQueries(t *testing.T) {
	g := NewWithT(t)
	names, err := metricNames(`sum by (currency) (increase(ecap_revenue_total{pod=~"ecap-($pipeline)-.+"}[$__range])) / ignoring(x) ` +
		`histogram_quantile(0.9, rate(ecap_process_latency_seconds_bucket[$__rate_interval])) and on() {__name__="up"}`)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(names).To(ConsistOf("ecap_revenue_total", "ecap_process_latency_seconds_bucket", "up"))

	known := map[string]bool{"ecap_events_in_total": true, "ecap_pipeline_generation": true}
	g.Expect(checkExpr(`sum(rate(ecap_events_in_total[5m]))`, known)).To(BeEmpty())
	g.Expect(checkExpr(`sum(rate(ecap_events_in_totl[5m]))`, known)).To(ConsistOf(ContainSubstring("metric ecap_events_in_totl is not registered")))
	g.Expect(checkExpr(`sum(rate(ecap_events_in_total[5m])`, known)).To(ConsistOf(ContainSubstring("unclosed")))
	g.Expect(checkExpr(`{__name__=~"ecap_.+"}`, known)).To(ConsistOf(ContainSubstring("no fixed metric name")))

	ds := `{"type": "prometheus", "uid": "${datasource}"}`
	vars := `"templating": {"list": [{"name": "datasource", "type": "datasource"},
	  {"name": "namespace", "type": "query", "datasource": ` + ds + `, "definition": "label_values(ecap_pipeline_generation, namespace)"},
	  {"name": "pipeline", "type": "query", "datasource": ` + ds + `, "definition": "label_values(ecap_pipline_generation, pod)"}]}`
	bad := `{"uid": "x", "title": "x", "schemaVersion": 41, ` + vars + `, "panels": [
	  {"type": "row", "title": "r", "panels": [
	    {"type": "timeseries", "title": "good", "datasource": ` + ds + `, "targets": [{"datasource": ` + ds + `, "expr": "rate(ecap_events_in_total[$__rate_interval])"}]},
	    {"type": "timeseries", "title": "typo", "datasource": ` + ds + `, "targets": [{"datasource": ` + ds + `, "expr": "rate(ecap_event_in_total[$__rate_interval])"}]},
	    {"type": "stat", "title": "fixed source", "datasource": {"type": "prometheus", "uid": "abc"}, "targets": [{"datasource": ` + ds + `, "expr": "ecap_pipeline_generation"}]}]}]}`
	g.Expect(checkDashboard([]byte(bad), known)).To(ConsistOf(
		ContainSubstring("variable pipeline: metric ecap_pipline_generation is not registered"),
		ContainSubstring(`panel "typo": metric ecap_event_in_total is not registered`),
		ContainSubstring(`panel "fixed source": datasource must be ${datasource}`),
	))

	anchors := map[string]bool{"ecapnoeventsin": true}
	rules := `groups:
- name: g
  rules:
  - alert: Good
    expr: sum(rate(ecap_events_in_total[15m])) == 0
    for: 15m
    labels: {severity: warning}
    annotations: {summary: s, description: '{{ $value | humanize }}', runbook_url: 'https://x/docs/operations.md#ecapnoeventsin'}
  - alert: Bad
    expr: rate(ecap_events_in_totl[5m]) > 0
    labels: {severity: page}
    annotations: {summary: '{{ $labels.x ', runbook_url: 'https://x/docs/operations.md#nowhere'}
`
	g.Expect(checkRules([]byte(rules), known, anchors)).To(ConsistOf(
		ContainSubstring("alert Bad: metric ecap_events_in_totl is not registered"),
		ContainSubstring("alert Bad: `for` is required"),
		ContainSubstring(`alert Bad: labels.severity "page"`),
		ContainSubstring("alert Bad: annotations.description is required"),
		ContainSubstring("alert Bad: annotations.summary: template"),
		ContainSubstring("alert Bad: runbook_url https://x/docs/operations.md#nowhere is not a heading"),
	))
}

// config/prometheus/rules.yaml carries the chart's rule groups unchanged.
func TestKustomizeRulesMatchChart(t *testing.T) {
	g := NewWithT(t)
	var chart, copied map[string]any
	g.Expect(yaml.Unmarshal(repoFile(t, rulesFile), &chart)).To(Succeed())
	g.Expect(yaml.Unmarshal(repoFile(t, rulesCopy), &copied)).To(Succeed())
	g.Expect(copied["kind"]).To(Equal("PrometheusRule"))
	g.Expect(copied["spec"]).To(Equal(chart), "%s must carry the groups of %s", rulesCopy, rulesFile)
}

// The chart ships the dashboards and rules byte for byte when enabled, and
// nothing of them by default; the API server accepts the ConfigMaps.
func TestChartShipsDashboardsAndRules(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	for _, o := range helmTemplate(t) {
		g.Expect(o.GetLabels()).NotTo(HaveKeyWithValue("app.kubernetes.io/component", BeElementOf("dashboards", "alerts")), "%s %s rendered by default", o.GetKind(), o.GetName())
	}

	objs := helmTemplate(t, "--set", "grafana.dashboards.enabled=true", "--set", "grafana.dashboards.folder=Shop analytics",
		"--set", "grafana.dashboards.labelValue=yes", "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=kps")
	var cms []*unstructured.Unstructured
	var rules *unstructured.Unstructured
	for _, o := range objs {
		switch {
		case o.GetKind() == "ConfigMap" && o.GetLabels()["app.kubernetes.io/component"] == "dashboards":
			cms = append(cms, o)
		case o.GetKind() == "PrometheusRule":
			rules = o
		}
	}
	g.Expect(cms).To(HaveLen(len(dashboardFiles(t))))
	for _, u := range cms {
		g.Expect(u.GetLabels()).To(HaveKeyWithValue("grafana_dashboard", "yes"))
		g.Expect(u.GetAnnotations()).To(HaveKeyWithValue("grafana_folder", "Shop analytics"))
		cm := &corev1.ConfigMap{}
		g.Expect(runtimeFromUnstructured(u, cm)).To(Succeed())
		g.Expect(cm.Data).To(HaveLen(1))
		for key, body := range cm.Data {
			g.Expect(body).To(Equal(strings.TrimRight(string(repoFile(t, "charts/ecap/dashboards/"+key)), "\n")))
		}
		cm.Namespace = ns
		g.Expect(env.Client.Create(ctx, cm, client.DryRunAll)).To(Succeed())
	}

	g.Expect(rules).NotTo(BeNil())
	g.Expect(rules.GetLabels()).To(HaveKeyWithValue("release", "kps"))
	var want map[string]any
	g.Expect(yaml.Unmarshal(repoFile(t, rulesFile), &want)).To(Succeed())
	g.Expect(rules.Object["spec"]).To(Equal(want))
}

// The runtime pods the Pipeline controller creates are what the PodMonitor
// selects and scrapes, and their names are what the dashboards and alerts
// derive the Pipeline from.
func TestRuntimePodsMatchMonitorAndSelectors(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	g.Expect(env.Client.Create(ctx, testenv.Pipeline(ns, "eu-shop"))).To(Succeed())
	dep := &appsv1.Deployment{}
	g.Eventually(func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ecap-eu-shop"}, dep)
	}).Should(Succeed())

	var pm struct {
		Kind string `json:"kind"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
				Path string `json:"path"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	g.Expect(yaml.Unmarshal(repoFile(t, "config/prometheus/runtime-podmonitor.yaml"), &pm)).To(Succeed())
	g.Expect(pm.Kind).To(Equal("PodMonitor"))
	g.Expect(pm.Spec.Selector.MatchLabels).NotTo(BeEmpty())
	for k, v := range pm.Spec.Selector.MatchLabels {
		g.Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue(k, v))
	}
	g.Expect(pm.Spec.Endpoints).To(HaveLen(1))
	var ports []string
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports = append(ports, p.Name)
		}
	}
	g.Expect(ports).To(ContainElement(pm.Spec.Endpoints[0].Port))
	g.Expect(pm.Spec.Endpoints[0].Path).To(Equal("/metrics"))

	// A pod of this Deployment is named <deployment>-<pod-template-hash>-<suffix>;
	// the alerts' label_replace and the dashboards' pipeline variable must
	// give back the Pipeline's name, also when it contains a hyphen.
	pod := dep.Name + "-7d4b9c6f8d-x2x7k"
	re := regexp.MustCompile(`^ecap-(.+)-[a-z0-9]+-[a-z0-9]+$`)
	g.Expect(re.FindStringSubmatch(pod)).To(Equal([]string{pod, "eu-shop"}))
	// Every pod pattern in the files is that one (with the dashboards'
	// $pipeline or Grafana's named group in place of the capture).
	patterns := regexp.MustCompile(`ecap-\([^)]*\)[^"/\\]*`)
	for _, f := range append(dashboardFiles(t), filepath.Join(testenv.RepoRoot(), rulesFile)) {
		found := patterns.FindAllString(string(repoFileAbs(t, f)), -1)
		g.Expect(found).NotTo(BeEmpty(), f)
		for _, p := range found {
			g.Expect(p).To(BeElementOf("ecap-(.+)-[a-z0-9]+-[a-z0-9]+", "ecap-($pipeline)-[a-z0-9]+-[a-z0-9]+", "ecap-(?<value>.+)-[a-z0-9]+-[a-z0-9]+$"), f)
		}
	}
}

func repoFileAbs(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runtimeFromUnstructured(u *unstructured.Unstructured, out any) error {
	b, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, out)
}

// helmTemplate renders charts/ecap with the pinned helm (Makefile HELM).
func helmTemplate(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "helm-v3.22.0")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run `make helm-lint` first: %v", bin, err)
	}
	cmd := exec.Command(bin, append([]string{"template", "ecap", filepath.Join(testenv.RepoRoot(), "charts", "ecap"),
		"--namespace", "ecap-system", "--kube-version", "1.32.0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v: %s", args, err, stderr.String())
	}
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := r.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("failed to decode the rendered chart: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}
