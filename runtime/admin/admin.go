// Package admin serves a runtime's admin port: liveness, readiness, metrics,
// pprof, the status document and per-customer state lookups.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Backend is what the admin server reads from the runtime.
type Backend interface {
	// Ready reports whether every assigned partition has been restored.
	Ready() bool
	// Status returns the document served at /v1/status.
	Status() any
	// Customer returns a customer's state if this replica owns it.
	Customer(id string) (any, bool)
}

// NotReadyReasoner is optionally implemented by a Backend to say why it is
// not ready; /readyz answers with that text instead of the default.
type NotReadyReasoner interface {
	NotReadyReason() string
}

// SegmentationBackend is implemented by backends that run Segmentations.
type SegmentationBackend interface {
	// SegmentationProfile returns a customer's profile from the last run of
	// a Segmentation on this replica; when not found, msg says why.
	SegmentationProfile(name, customerID string) (profile any, found bool, msg string)
}

// Handler returns the admin routes:
//
//	GET /healthz               200 while the process serves HTTP
//	GET /readyz                200 once every assigned partition is restored, else 503
//	GET /metrics               Prometheus exposition of gatherer
//	GET /debug/pprof/...       net/http/pprof
//	GET /v1/status             Backend.Status as JSON
//	GET /v1/customers/{id}     the customer's state, 404 when not owned here
//	GET /v1/segmentations/{name}/customers/{id}
//	                           the customer's profile from the last run, 404 when
//	                           unknown here (only for a SegmentationBackend)
func Handler(b Backend, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.Ready() {
			reason := "partitions not assigned or being restored"
			if r, ok := b.(NotReadyReasoner); ok {
				if why := r.NotReadyReason(); why != "" {
					reason = why
				}
			}
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("GET /v1/customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		c, ok := b.Customer(id)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "customer not held by this replica", "customerID": id})
			return
		}
		writeJSON(w, http.StatusOK, c)
	})
	if sb, ok := b.(SegmentationBackend); ok {
		mux.HandleFunc("GET /v1/segmentations/{name}/customers/{id}", func(w http.ResponseWriter, r *http.Request) {
			name, id := r.PathValue("name"), r.PathValue("id")
			p, found, msg := sb.SegmentationProfile(name, id)
			if !found {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": msg, "segmentation": name, "customerID": id})
				return
			}
			writeJSON(w, http.StatusOK, p)
		})
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Server is the admin HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (":0" picks a port).
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Server{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
