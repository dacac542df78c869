package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

func metavOf() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.RuntimeConfigKind}
}

// runtimeFiles writes rc as the runtime's config file in dir and opens the
// runtime's log file there; if the test fails, the log's tail is printed.
func runtimeFiles(t *testing.T, dir string, rc v1alpha1.RuntimeConfig) (cfgPath string, logf *os.File) {
	t.Helper()
	cfgPath = filepath.Join(dir, "runtime.json")
	data, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err = os.Create(filepath.Join(dir, "runtime.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("runtime log (tail):\n%s", b)
		}
	})
	return cfgPath, logf
}
