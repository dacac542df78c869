package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const docsDir = "../../docs"

// TestDocsExamples checks that every JSON example in docs/events.md is an
// event the validator accepts.
func TestDocsExamples(t *testing.T) {
	md, err := os.ReadFile(filepath.Join(docsDir, "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(md, -1)
	kinds := map[Kind]int{}
	for i, m := range blocks {
		ev, err := testValidator().Decode("", m[1])
		if err != nil {
			t.Errorf("example %d in events.md: %v\n%s", i+1, err, m[1])
			continue
		}
		kinds[ev.Kind()]++
	}
	for _, k := range Kinds {
		if kinds[k] == 0 {
			t.Errorf("events.md has no %s example", k)
		}
	}
}

// schemaFile is the part of a JSON Schema document the tests look at.
type schemaFile struct {
	Schema     string                     `json:"$schema"`
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
	Defs       map[string]json.RawMessage `json:"$defs"`
	Examples   []json.RawMessage          `json:"examples"`
}

type schemaProp struct {
	Required []string `json:"required"`
	Enum     []string `json:"enum"`
	Ref      string   `json:"$ref"`
	Items    *struct {
		Required []string `json:"required"`
	} `json:"items"`
	Properties map[string]json.RawMessage `json:"properties"`
}

func readSchema(t *testing.T, kind Kind) schemaFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docsDir, "schemas", string(kind)+".v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s schemaFile
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func prop(t *testing.T, raw json.RawMessage) schemaProp {
	t.Helper()
	var p schemaProp
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// requiredPaths collects the schema's required members in RequiredFields'
// notation.
func requiredPaths(t *testing.T, s schemaFile) []string {
	paths := slices.Clone(s.Required)
	for name, raw := range s.Properties {
		p := prop(t, raw)
		for _, r := range p.Required {
			paths = append(paths, name+"."+r)
		}
		if p.Items != nil {
			for _, r := range p.Items.Required {
				paths = append(paths, name+"[]."+r)
			}
		}
	}
	slices.Sort(paths)
	return paths
}

func TestSchemasMatchValidator(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			s := readSchema(t, kind)
			if s.Schema != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %q", s.Schema)
			}
			want := RequiredFields(kind)
			slices.Sort(want)
			if got := requiredPaths(t, s); !slices.Equal(got, want) {
				t.Errorf("schema requires %v, validator %v", got, want)
			}
			if len(s.Examples) == 0 {
				t.Error("schema has no examples")
			}
			for _, ex := range s.Examples {
				if _, err := testValidator().Decode(kind, ex); err != nil {
					t.Errorf("schema example rejected: %v", err)
				}
			}
			checkEnums(t, s)
		})
	}
}

// checkEnums compares the schema's enums with the Go value lists.
func checkEnums(t *testing.T, s schemaFile) {
	want := map[string][]string{
		"channel":  strs(Channels),
		"action":   strs(Actions),
		"method":   strs(PaymentMethods),
		"type":     strs(DeviceTypes), // device.type
		"currency": CurrencyCodes(),
		"country":  CountryCodes(),
	}
	seen := 0
	var walk func(name string, raw json.RawMessage)
	walk = func(name string, raw json.RawMessage) {
		p := prop(t, raw)
		if p.Enum != nil {
			seen++
			if !slices.Equal(p.Enum, want[name]) {
				t.Errorf("enum %s = %v, want %v", name, p.Enum, want[name])
			}
		}
		for n, r := range p.Properties {
			walk(n, r)
		}
	}
	for n, r := range s.Properties {
		walk(n, r)
	}
	for n, r := range s.Defs {
		walk(n, r)
	}
	if seen == 0 {
		t.Error("no enums found")
	}
}

func strs[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

// TestRequiredFieldsEnforced deletes each required field from the example
// and expects a missing_field rejection naming it.
func TestRequiredFieldsEnforced(t *testing.T) {
	v := testValidator()
	for _, kind := range Kinds {
		for _, path := range RequiredFields(kind) {
			t.Run(string(kind)+"/"+path, func(t *testing.T) {
				doc := mutate(t, example(t, kind), func(m map[string]any) {
					parent, name := m, path
					if i := strings.LastIndexByte(path, '.'); i >= 0 {
						outer, inner := path[:i], path[i+1:]
						if list, ok := strings.CutSuffix(outer, "[]"); ok {
							parent = obj(m[list].([]any)[0])
						} else {
							parent = obj(m[outer])
						}
						name = inner
					}
					delete(parent, name)
				})
				_, err := v.Decode(kind, doc)
				var r *Rejection
				if !errors.As(err, &r) || r.Reason != ReasonMissingField || r.Field != strings.ReplaceAll(path, "[]", "[0]") {
					t.Fatalf("without %s: %v", path, err)
				}
			})
		}
	}
}
