package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type fakeBackend struct{ ready bool }

func (f *fakeBackend) Ready() bool { return f.ready }
func (f *fakeBackend) Status() any { return map[string]any{"ready": f.ready} }
func (f *fakeBackend) Customer(id string) (any, bool) {
	if id == "cus-1" {
		return map[string]any{"customerID": id, "transactions": 3}, true
	}
	return nil, false
}

func TestAdminRoutes(t *testing.T) {
	b := &fakeBackend{}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ecap_test_total", Help: "test"})
	reg.MustRegister(c)
	srv, err := Listen("127.0.0.1:0", Handler(b, reg))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		name, path string
		ready      bool
		code       int
	}{
		{"healthz", "/healthz", false, 200},
		{"readyz before restore", "/readyz", false, 503},
		{"readyz after restore", "/readyz", true, 200},
		{"metrics", "/metrics", true, 200},
		{"pprof", "/debug/pprof/", true, 200},
		{"status", "/v1/status", true, 200},
		{"owned customer", "/v1/customers/cus-1", true, 200},
		{"foreign customer", "/v1/customers/cus-2", true, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.ready = tt.ready
			code, body := get(tt.path)
			if code != tt.code {
				t.Fatalf("GET %s = %d, want %d (%s)", tt.path, code, tt.code, body)
			}
			if tt.path == "/v1/customers/cus-1" {
				var v map[string]any
				if err := json.Unmarshal([]byte(body), &v); err != nil || v["transactions"] != 3.0 {
					t.Errorf("customer body %s", body)
				}
			}
		})
	}
}
