package events

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testNow is the validators' clock in tests: shortly after the examples.
var testNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func testValidator() *Validator {
	return NewValidator(ValidatorConfig{Now: func() time.Time { return testNow }})
}

// example returns the example event of kind from testdata/examples.
func example(tb testing.TB, kind Kind) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "examples", string(kind)+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mutate decodes doc into generic JSON, lets edit change it and encodes it
// again.
func mutate(tb testing.TB, doc []byte, edit func(m map[string]any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		tb.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func obj(v any) map[string]any { return v.(map[string]any) }

func line(m map[string]any, i int) map[string]any { return obj(m["lines"].([]any)[i]) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
