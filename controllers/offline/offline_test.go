package offline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/offline"
)

func TestSamplesAdmitWithDefaults(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("samples: %v %v", files, err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := offline.AdmitAll(context.Background(), fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *v1alpha1.Pipeline:
				kinds["Pipeline"] = true
				if o.Spec.StallAfter != "10m" || o.Spec.Dedup.MaxEntries != 1000000 {
					t.Errorf("pipeline defaults not applied: stallAfter=%q maxEntries=%d", o.Spec.StallAfter, o.Spec.Dedup.MaxEntries)
				}
			case *v1alpha1.FraudRuleSet:
				kinds["FraudRuleSet"] = true
				if o.Spec.Rules[0].Mode != v1alpha1.RuleModeEnforce || o.Spec.Rules[0].Enabled == nil {
					t.Errorf("rule defaults not applied: %+v", o.Spec.Rules[0])
				}
			case *v1alpha1.Segmentation:
				kinds["Segmentation"] = true
			case *v1alpha1.RetentionPolicy:
				kinds["RetentionPolicy"] = true
			}
		}
	}
	if len(kinds) != 4 {
		t.Errorf("admitted kinds %v, want all four", kinds)
	}
}

// Every invalid sample is refused offline with the message the API server
// gives (the kubectl test checks the same files against a real one).
func TestInvalidSamplesRefused(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "config", "samples", "invalid", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no invalid samples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want string
			for _, line := range strings.Split(string(raw), "\n") {
				if rest, ok := strings.CutPrefix(line, "# expect: "); ok {
					want = rest
				}
			}
			_, err = offline.Admit(context.Background(), raw)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Admit error = %v, want one containing %q", err, want)
			}
		})
	}
}

func TestUnknownFieldsAndKinds(t *testing.T) {
	cases := map[string]string{
		"unknown field": `apiVersion: analytics.ecap.dev/v1alpha1
kind: Segmentation
metadata: {name: s}
spec: {pipelineRef: {name: shop}, colour: blue}`,
		"foreign kind": `apiVersion: v1
kind: ConfigMap
metadata: {name: c}`,
		"not yaml": "{{{",
	}
	want := map[string]string{"unknown field": "spec.colour", "foreign kind": "apiVersion", "not yaml": "malformed"}
	for name, doc := range cases {
		_, err := offline.Admit(context.Background(), []byte(doc))
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: error = %v, want %q", name, err, want[name])
		}
	}
}
