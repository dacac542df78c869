package fraud

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

const (
	docsPath    = "../../docs/fraud.md"
	samplePath  = "../../config/samples/fraudruleset_card_fraud.yaml"
	invalidGlob = "../../config/samples/invalid/fraudruleset_*.yaml"
)

func readRuleSet(t *testing.T, data []byte) v1alpha1.FraudRuleSet {
	t.Helper()
	var rs v1alpha1.FraudRuleSet
	if err := yaml.UnmarshalStrict(data, &rs); err != nil {
		t.Fatalf("decode FraudRuleSet: %v", err)
	}
	return rs
}

// docsSampleYAML is the YAML block of docs/fraud.md that declares the
// card-fraud FraudRuleSet.
func docsSampleYAML(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	for _, b := range blocks {
		if strings.Contains(string(b[1]), "kind: FraudRuleSet") && strings.Contains(string(b[1]), "name: card-fraud") {
			return b[1]
		}
	}
	t.Fatal("docs/fraud.md has no card-fraud FraudRuleSet YAML block")
	return nil
}

func TestDocsSampleMatches(t *testing.T) {
	rs := readRuleSet(t, docsSampleYAML(t))
	if !reflect.DeepEqual(rs.Spec, sampleSpec()) {
		t.Errorf("docs/fraud.md sample differs from sampleSpec:\n%+v\n%+v", rs.Spec, sampleSpec())
	}
	if errs := ValidateSpec(rs.Spec); len(errs) != 0 {
		t.Errorf("docs sample does not validate: %v", errs)
	}
}

// TestConfigSampleMatches checks the config/samples FraudRuleSet, written
// alongside, is the rule set tested here.
func TestConfigSampleMatches(t *testing.T) {
	data, err := os.ReadFile(samplePath)
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no config sample")
	}
	if err != nil {
		t.Fatal(err)
	}
	rs := readRuleSet(t, data)
	if errs := ValidateSpec(rs.Spec); len(errs) != 0 {
		t.Errorf("%s does not validate: %v", samplePath, errs)
	}
	if !reflect.DeepEqual(rs.Spec, sampleSpec()) {
		t.Errorf("%s differs from sampleSpec:\n%+v\n%+v", samplePath, rs.Spec, sampleSpec())
	}
}

// TestInvalidSamplesAreRejected validates the invalid FraudRuleSet samples;
// each starts with "# expect: <text>", which the error must contain.
func TestInvalidSamplesAreRejected(t *testing.T) {
	files, _ := filepath.Glob(invalidGlob)
	if len(files) == 0 {
		t.Skip("no invalid samples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# expect: ")
			if !ok {
				t.Skip("no expectation")
			}
			err = errors.Join(ValidateSpec(readRuleSet(t, data).Spec)...)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("want an error containing %q, got %v", want, err)
			}
		})
	}
}

// TestDocsListEveryVariable keeps the variable reference in docs/fraud.md
// complete.
func TestDocsListEveryVariable(t *testing.T) {
	f, err := os.Open(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	documented := map[string]bool{}
	row := regexp.MustCompile("^\\| `([a-z_.]+)`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			documented[m[1]] = true
		}
	}
	for _, v := range staticVars {
		if !documented[v.name] {
			t.Errorf("docs/fraud.md does not document %s", v.name)
		}
	}
	for name := range documented {
		if strings.Contains(name, ".") && !strings.HasPrefix(name, "features.") {
			found := false
			for _, v := range staticVars {
				found = found || v.name == name
			}
			if !found {
				t.Errorf("docs/fraud.md documents %s, which does not exist", name)
			}
		}
	}
}
