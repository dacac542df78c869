package argocd_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ecap-dev/ecap/deploy/argocd"
)

var update = flag.Bool("update", false, "rewrite argocd-cm.yaml from health/*.lua")

// fixture is a live object recorded by controllers/setup's
// TestArgoCDHealthOfLiveObjects (go test ./controllers/setup -run
// TestArgoCDHealthOfLiveObjects -update) and the health it must have.
type fixture struct {
	Description string
	Want        argocd.Health
	Object      map[string]any
}

func loadFixtures(t *testing.T) map[string]fixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	fixtures := map[string]fixture{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			Description string          `json:"description"`
			Want        argocd.Health   `json:"want"`
			Object      json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Decode the object as Kubernetes does (integers as int64), the
		// form Argo CD converts to Lua.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		fixtures[strings.TrimSuffix(filepath.Base(f), ".json")] = fixture{Description: raw.Description, Want: raw.Want, Object: u.Object}
	}
	return fixtures
}

func evaluate(t *testing.T, obj map[string]any) argocd.Health {
	t.Helper()
	kind, _ := obj["kind"].(string)
	script, err := argocd.Script(kind)
	if err != nil {
		t.Fatal(err)
	}
	h, err := argocd.Evaluate(script, obj)
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	return h
}

// Every fixture taken from the envtest suite gets the health recorded with
// it.
func TestHealthOfEnvtestFixtures(t *testing.T) {
	fixtures := loadFixtures(t)
	// The states the scripts must tell apart, per kind; a missing fixture
	// fails rather than shrinking the test.
	required := []string{
		"pipeline-healthy", "pipeline-rolling-out", "pipeline-spec-changed", "pipeline-suspended", "pipeline-rollout-stalled",
		"fraudruleset-healthy", "fraudruleset-spec-changed", "fraudruleset-pipeline-not-found", "fraudruleset-compile-failed",
		"segmentation-healthy", "segmentation-spec-changed", "segmentation-pipeline-not-found",
		"retentionpolicy-healthy", "retentionpolicy-spec-changed", "retentionpolicy-suspended",
	}
	for _, name := range required {
		if _, ok := fixtures[name]; !ok {
			t.Errorf("fixture testdata/%s.json is missing", name)
		}
	}
	for name, f := range fixtures {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			h := evaluate(t, f.Object)
			g.Expect(h.Status).To(Equal(f.Want.Status), "%s (message %q)", f.Description, h.Message)
			g.Expect(h.Message).To(ContainSubstring(f.Want.Message))
		})
	}
}

// The rules, applied to variations of the recorded objects: each case
// changes one thing about a healthy (or suspended) object.
func TestHealthRules(t *testing.T) {
	fixtures := loadFixtures(t)
	setCondition := func(obj map[string]any, c map[string]any) {
		conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
		for i, old := range conds {
			if old.(map[string]any)["type"] == c["type"] {
				conds[i] = c
				_ = unstructured.SetNestedSlice(obj, conds, "status", "conditions")
				return
			}
		}
		_ = unstructured.SetNestedSlice(obj, append(conds, c), "status", "conditions")
	}
	cond := func(typ, status, reason, message string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": message, "observedGeneration": int64(1)}
	}
	cases := []struct {
		name        string
		mutate      func(obj map[string]any)
		want        string
		wantMessage string
	}{
		{"unchanged", func(map[string]any) {}, argocd.StatusHealthy, ""},
		{"no status yet", func(obj map[string]any) { delete(obj, "status") }, argocd.StatusProgressing, "Waiting for the ECAP controller"},
		{"no conditions yet", func(obj map[string]any) { unstructured.RemoveNestedField(obj, "status", "conditions") }, argocd.StatusProgressing, "Waiting"},
		{"generation ahead of observedGeneration", func(obj map[string]any) {
			_ = unstructured.SetNestedField(obj, int64(2), "metadata", "generation")
		}, argocd.StatusProgressing, "generation 2"},
		{"observedGeneration missing", func(obj map[string]any) {
			unstructured.RemoveNestedField(obj, "status", "observedGeneration")
		}, argocd.StatusProgressing, "generation 1"},
		{"Ready of an older generation", func(obj map[string]any) {
			_ = unstructured.SetNestedField(obj, int64(2), "metadata", "generation")
			_ = unstructured.SetNestedField(obj, int64(2), "status", "observedGeneration")
		}, argocd.StatusProgressing, "generation 2"},
		{"Reconciling", func(obj map[string]any) {
			setCondition(obj, cond("Reconciling", "True", "Progressing", "rolling out"))
		}, argocd.StatusProgressing, "rolling out"},
		{"Ready Unknown", func(obj map[string]any) {
			setCondition(obj, cond("Ready", "Unknown", "Progressing", "checking"))
		}, argocd.StatusProgressing, "checking"},
		{"Ready False, transient", func(obj map[string]any) {
			setCondition(obj, cond("Ready", "False", "ReconcileError", "the API server timed out"))
		}, argocd.StatusProgressing, "timed out"},
		{"Ready False, invalid spec", func(obj map[string]any) {
			setCondition(obj, cond("Ready", "False", "InvalidSpec", "spec.x: bad"))
		}, argocd.StatusDegraded, "spec.x: bad"},
		{"Stalled wins over Ready, message from Stalled", func(obj map[string]any) {
			setCondition(obj, cond("Stalled", "True", "LagNotDecreasing", "consumer lag 42 with no committed progress"))
		}, argocd.StatusDegraded, "consumer lag 42"},
		{"Stalled False is no stall", func(obj map[string]any) {
			setCondition(obj, cond("Stalled", "False", "Succeeded", ""))
		}, argocd.StatusHealthy, ""},
		{"Stalled of an older generation waits for the controller", func(obj map[string]any) {
			setCondition(obj, cond("Stalled", "True", "InvalidSpec", "bad"))
			_ = unstructured.SetNestedField(obj, int64(2), "metadata", "generation")
		}, argocd.StatusProgressing, "generation 2"},
	}
	for _, kind := range []string{"pipeline", "fraudruleset", "segmentation", "retentionpolicy"} {
		healthy, ok := fixtures[kind+"-healthy"]
		if !ok {
			t.Fatalf("fixture testdata/%s-healthy.json is missing", kind)
		}
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				g := NewWithT(t)
				obj := runtimeCopy(healthy.Object)
				tc.mutate(obj)
				h := evaluate(t, obj)
				g.Expect(h.Status).To(Equal(tc.want), "message %q", h.Message)
				g.Expect(h.Message).To(ContainSubstring(tc.wantMessage))
			})
		}
	}

	// Suspended needs both spec.suspend and the controller's Ready reason.
	for _, kind := range []string{"pipeline", "retentionpolicy"} {
		g := NewWithT(t)
		suspended := fixtures[kind+"-suspended"].Object
		g.Expect(suspended).NotTo(BeNil(), "fixture %s-suspended", kind)
		g.Expect(evaluate(t, suspended).Status).To(Equal(argocd.StatusSuspended))

		asked := runtimeCopy(fixtures[kind+"-healthy"].Object)
		_ = unstructured.SetNestedField(asked, true, "spec", "suspend")
		_ = unstructured.SetNestedField(asked, int64(2), "metadata", "generation")
		g.Expect(evaluate(t, asked).Status).To(Equal(argocd.StatusProgressing), "%s: suspend asked, not yet reconciled", kind)

		resumed := runtimeCopy(suspended)
		unstructured.RemoveNestedField(resumed, "spec", "suspend")
		g.Expect(evaluate(t, resumed).Status).To(Equal(argocd.StatusHealthy), "%s: Ready=True with spec.suspend unset", kind)
	}
}

func runtimeCopy(obj map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: obj}).DeepCopy().Object
}

// Evaluate refuses what Argo CD would not take as a health status.
func TestEvaluateRejectsBadScripts(t *testing.T) {
	g := NewWithT(t)
	obj := map[string]any{"kind": "Pipeline"}
	_, err := argocd.Evaluate(`hs = {}; hs.status = "Fine"; return hs`, obj)
	g.Expect(err).To(MatchError(ContainSubstring(`"Fine"`)))
	_, err = argocd.Evaluate(`return "Healthy"`, obj)
	g.Expect(err).To(MatchError(ContainSubstring("want a table")))
	_, err = argocd.Evaluate(`return string.upper("x")`, obj)
	g.Expect(err).To(HaveOccurred(), "Argo CD opens no string library; neither does Evaluate")
	_, err = argocd.Evaluate(`while true do end`, obj)
	g.Expect(err).To(HaveOccurred(), "scripts run under a time budget")
	h, err := argocd.Evaluate(`hs = {}; hs.status = "Healthy"; hs.message = obj.kind; return hs`, obj)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(h).To(Equal(argocd.Health{Status: argocd.StatusHealthy, Message: "Pipeline"}))
}

// argocd-cm.yaml carries exactly the scripts of health/ under Argo CD's
// keys; `go test ./deploy/argocd -run TestConfigMapEmbedsScripts -update`
// rewrites it.
func TestConfigMapEmbedsScripts(t *testing.T) {
	g := NewWithT(t)
	want := configMap(t)
	if *update {
		g.Expect(os.WriteFile("argocd-cm.yaml", want, 0o644)).To(Succeed())
	}
	got, err := os.ReadFile("argocd-cm.yaml")
	g.Expect(err).NotTo(HaveOccurred())

	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	g.Expect(yaml.UnmarshalStrict(got, &cm)).To(Succeed())
	g.Expect(cm.Kind).To(Equal("ConfigMap"))
	g.Expect(cm.Metadata).To(HaveKeyWithValue("name", "argocd-cm"))
	g.Expect(cm.Data).To(HaveLen(len(argocd.Kinds)))
	for _, kind := range argocd.Kinds {
		script, err := argocd.Script(kind)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cm.Data).To(HaveKeyWithValue(argocd.ConfigKey(kind), script),
			"argocd-cm.yaml differs from %s: go test ./deploy/argocd -run TestConfigMapEmbedsScripts -update", argocd.ScriptPath(kind))
	}
	g.Expect(string(got)).To(Equal(string(want)), "argocd-cm.yaml is stale: go test ./deploy/argocd -run TestConfigMapEmbedsScripts -update")
}

// configMap renders argocd-cm.yaml from the scripts.
func configMap(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`# Argo CD health checks for the ECAP kinds. Generated from health/*.lua by
#   go test ./deploy/argocd -run TestConfigMapEmbedsScripts -update
# Merge the data keys into your Argo CD's argocd-cm (see README.md).
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`)
	for _, kind := range argocd.Kinds {
		script, err := argocd.Script(kind)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("  " + argocd.ConfigKey(kind) + ": |\n")
		for _, line := range strings.SplitAfter(script, "\n") {
			if line == "" {
				continue
			}
			if line != "\n" {
				b.WriteString("    ")
			}
			b.WriteString(line)
		}
	}
	return b.Bytes()
}
