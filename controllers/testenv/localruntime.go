package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// BuildECAP builds the ecap binary once per test process and returns its
// path.
func BuildECAP() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ecap-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "ecap")
		out, err := exec.Command("go", "build", "-o", buildBin, "github.com/ecap-dev/ecap/cmd/ecap").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	return buildBin, buildErr
}

// LocalRuntime is a Pipeline's runtime container run as a local process:
// the command and args of the Deployment the controller rendered, the
// ConfigMap's keys "mounted" into a temp dir, the admin server on a given
// address.
type LocalRuntime struct {
	Cmd    *exec.Cmd
	Logs   *SyncBuffer
	exited chan error
	done   bool
	cancel context.CancelFunc
}

// RuntimeOptions adjust the local process.
type RuntimeOptions struct {
	// AdminAddr replaces the container's --admin-addr.
	AdminAddr string
	// Args are appended to the container's args.
	Args []string
	// Env is added to the process environment.
	Env []string
}

// StartRuntime runs dep's container with cm mounted. The process is killed
// at the end of the test if it still runs; its output is logged when the
// test failed.
func StartRuntime(t *testing.T, dep *appsv1.Deployment, cm *corev1.ConfigMap, o RuntimeOptions) (*LocalRuntime, error) {
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		return nil, fmt.Errorf("deployment has %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	c := dep.Spec.Template.Spec.Containers[0]
	mountDir := t.TempDir()
	for k, v := range cm.Data {
		if err := os.WriteFile(filepath.Join(mountDir, k), []byte(v), 0o600); err != nil {
			return nil, err
		}
	}
	var args []string
	sawConfig, sawAdmin := false, false
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--config="+v1alpha1.RuntimeConfigMountPath+"/"):
			a = "--config=" + mountDir + strings.TrimPrefix(a, "--config="+v1alpha1.RuntimeConfigMountPath)
			sawConfig = true
		case strings.HasPrefix(a, "--admin-addr="):
			a = "--admin-addr=" + o.AdminAddr
			sawAdmin = true
		}
		args = append(args, a)
	}
	if !sawConfig || !sawAdmin {
		return nil, fmt.Errorf("container args %v lack --config under %s or --admin-addr", c.Args, v1alpha1.RuntimeConfigMountPath)
	}
	if len(c.Command) != 1 || c.Command[0] != "/ecap" {
		return nil, fmt.Errorf("container command %v, want [/ecap]", c.Command)
	}
	bin, err := BuildECAP()
	if err != nil {
		return nil, err
	}
	procEnv := append(os.Environ(), "POD_NAME="+dep.Name+"-local", "POD_NAMESPACE="+dep.Namespace)
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			procEnv = append(procEnv, e.Name+"="+e.Value)
		}
	}
	procEnv = append(procEnv, o.Env...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append(args, o.Args...)...)
	cmd.Env = procEnv
	r := &LocalRuntime{Cmd: cmd, Logs: &SyncBuffer{}, exited: make(chan error, 1), cancel: cancel}
	cmd.Stdout, cmd.Stderr = r.Logs, r.Logs
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	go func() { r.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if !r.done {
			cancel()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("runtime output:\n%s", r.Logs.String())
		}
	})
	return r, nil
}

// Exited returns the process's exit error if it has exited.
func (r *LocalRuntime) Exited() (error, bool) {
	if r.done {
		return nil, true
	}
	select {
	case err := <-r.exited:
		r.done = true
		return err, true
	default:
		return nil, false
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit.
func (r *LocalRuntime) Stop(timeout time.Duration) error {
	if err, exited := r.Exited(); exited {
		return fmt.Errorf("runtime had already exited: %v", err)
	}
	if err := r.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-r.exited:
		r.done = true
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("runtime exited with %v after SIGTERM", err)
		}
		return err
	case <-time.After(timeout):
		return fmt.Errorf("runtime did not stop within %s of SIGTERM", timeout)
	}
}

// RuntimePod creates a Running Pod carrying dep's pod labels with IP
// 127.0.0.1, standing for the Deployment's pod, so that the controllers
// read the local runtime's /v1/status.
func (e *Env) RuntimePod(ctx context.Context, dep *appsv1.Deployment) (*corev1.Pod, error) {
	c := dep.Spec.Template.Spec.Containers[0]
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: dep.Namespace, Name: dep.Name + "-local", Labels: dep.Spec.Template.Labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: c.Name, Image: c.Image}}},
	}
	if err := e.Client.Create(ctx, pod); err != nil {
		return nil, err
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
	return pod, e.Client.Status().Update(ctx, pod)
}

// SyncBuffer collects a process's output; a test may read it while the
// process still writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
