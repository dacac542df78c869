package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/engine"
)

// runtimeProcess is `ecap runtime` run as a process of its own, as the
// Pipeline's pod runs it: its configuration file, the FraudRuleSet watch
// against the API server of kubeconfig, and its admin server on a local
// port. The measured process is then the runtime alone: neither the
// measurement's producer and readers nor the manager and its admission
// webhooks share its heap and its scheduler.
type runtimeProcess struct {
	cmd    *exec.Cmd
	admin  string
	exited chan error
	logs   *testenv.SyncBuffer
}

// startRuntime writes rc to a file and starts `ecap runtime` on it.
func startRuntime(rc *v1alpha1.RuntimeConfig, kubeconfig string) (*runtimeProcess, error) {
	bin, err := testenv.BuildECAP()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ecap-runtime-")
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, v1alpha1.RuntimeConfigKey)
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	admin := l.Addr().String()
	_ = l.Close()
	r := &runtimeProcess{admin: admin, exited: make(chan error, 1), logs: &testenv.SyncBuffer{}}
	r.cmd = exec.Command(bin, "runtime", "--config", cfg, "--admin-addr", admin, "--watch-rule-sets=on")
	r.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if os.Getenv("BENCH_RUNTIME_LOGS") != "" {
		// For a look at the runtime while it is measured (with
		// GODEBUG=gctrace=1, say): its output goes to this process's.
		r.cmd.Stdout, r.cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.exited <- r.cmd.Wait() }()
	return r, nil
}

// waitReady waits until the runtime is ready and owns partitions
// partitions.
func (r *runtimeProcess) waitReady(partitions int, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-r.exited:
			return fmt.Errorf("ecap runtime exited: %v\n%s", err, r.logs.String())
		default:
		}
		var st engine.Status
		if r.getJSON("/v1/status", &st) == nil && st.Ready && len(st.Partitions) == partitions {
			return nil
		}
	}
	return fmt.Errorf("ecap runtime not ready with %d partitions within %s\n%s", partitions, timeout, r.logs.String())
}

func (r *runtimeProcess) getJSON(path string, v any) error {
	resp, err := http.Get("http://" + r.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// histogram returns the sample count and sum of one of the runtime's
// histograms, read from its /metrics.
func (r *runtimeProcess) histogram(name string) (uint64, float64, error) {
	resp, err := http.Get("http://" + r.admin + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	mf, ok := fams[name]
	if !ok {
		return 0, 0, fmt.Errorf("/metrics has no %s", name)
	}
	var n uint64
	var sum float64
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			h = &dto.Histogram{}
		}
		n += h.GetSampleCount()
		sum += h.GetSampleSum()
	}
	return n, sum, nil
}

// stop sends SIGTERM and waits for a clean exit (the runtime checkpoints
// and commits first).
func (r *runtimeProcess) stop(timeout time.Duration) error {
	if path := os.Getenv("BENCH_RUNTIME_ALLOCS"); path != "" {
		// The runtime's allocation profile, for go tool pprof.
		if err := r.saveProfile("/debug/pprof/allocs", path); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: runtime allocation profile: %v\n", err)
		}
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-r.exited:
		if err != nil {
			return fmt.Errorf("ecap runtime exited with %v after SIGTERM\n%s", err, r.logs.String())
		}
		return nil
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		return errors.New("ecap runtime did not stop within " + timeout.String() + " of SIGTERM")
	}
}

func (r *runtimeProcess) saveProfile(path, file string) error {
	resp, err := http.Get("http://" + r.admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
