// Package testenv starts, for the controller test suites, a real
// kube-apiserver and etcd (envtest) with the ECAP CRDs and webhooks
// installed, and a manager running every ECAP controller and webhook against
// it. Writes made by the controllers are counted, so tests can prove that a
// steady state makes none.
//
// The binaries come from KUBEBUILDER_ASSETS, which `make test` sets from
// hack/envtest-assets.sh. Without them the suites fail, they do not skip.
package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/setup"
)

// Image is the runtime image the test manager puts into children.
const Image = "ecap:test"

// RuntimeRefresh is how often the test manager re-reads runtime figures.
const RuntimeRefresh = time.Second

// TopicResync is how often the test manager re-checks RetentionPolicy topic
// configs (and the cap of its retry back-off when Kafka does not answer).
const TopicResync = 2 * time.Second

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Env is a running API server with the ECAP manager attached.
type Env struct {
	// Client talks to the API server directly (no cache), for assertions.
	Client client.Client
	// Config is the admin rest config.
	Config *rest.Config
	// Clock is the manager's clock.
	Clock *clocktesting.FakeClock
	// Kubeconfig is the path of an admin kubeconfig, for kubectl.
	Kubeconfig string
	// Metrics, when its Source is set, feeds the Pipeline controller.
	Metrics *SwitchableMetrics
	// RuntimeAdminPort is the port on which the controllers read runtime
	// pods' /v1/status (free when the env started): a test that runs a
	// runtime locally listens on 127.0.0.1 there and creates a Running pod
	// with IP 127.0.0.1. Attached objects re-read it every RuntimeRefresh.
	RuntimeAdminPort int

	writesMu sync.Mutex
	writes   map[string]int64
	env      *envtest.Environment
	cancel   context.CancelFunc
	done     chan error
	tempDir  string
}

// RepoRoot returns the repository root, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start starts the API server, installs CRDs and webhooks, and runs the
// manager. Call Stop when done.
func Start() (*Env, error) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
	}
	root := RepoRoot()
	e := &Env{
		Clock:   clocktesting.NewFakeClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)),
		Metrics: &SwitchableMetrics{},
		writes:  map[string]int64{},
		env: &envtest.Environment{
			CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
			ErrorIfCRDPathMissing:    true,
			ControlPlaneStartTimeout: 2 * time.Minute,
			ControlPlaneStopTimeout:  time.Minute,
			BinaryAssetsDirectory:    assets,
			WebhookInstallOptions:    envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
		},
	}
	cfg, err := e.env.Start()
	if err != nil {
		return nil, fmt.Errorf("failed to start envtest (kube-apiserver, etcd from %s): %w", assets, err)
	}
	e.Config = cfg
	if err := e.start(); err != nil {
		_ = e.env.Stop()
		return nil, err
	}
	return e, nil
}

func zapLevel() zapLevelType {
	if v, _ := strconv.ParseBool(os.Getenv("ECAP_TEST_VERBOSE")); v {
		return -1
	}
	return 2 // errors only
}

func (e *Env) start() error {
	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(e.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	e.Client = c

	user, err := e.env.AddUser(envtest.User{Name: "ecap-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("failed to add kubectl user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	e.tempDir, err = os.MkdirTemp("", "ecap-testenv-")
	if err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(e.tempDir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, kc, 0o600); err != nil {
		return err
	}

	wh := e.env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
		}),
		NewClient: func(config *rest.Config, options client.Options) (client.Client, error) {
			inner, err := client.NewWithWatch(config, options)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(inner, e.countingFuncs()), nil
		},
		Controller: ctrlConfig(),
	})
	if err != nil {
		return fmt.Errorf("failed to create manager: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if e.RuntimeAdminPort, err = freePort(); err != nil {
		cancel()
		return err
	}
	if err := setup.All(ctx, mgr, setup.Options{Image: Image, Webhooks: true, Clock: e.Clock, PipelineMetrics: e.Metrics,
		RuntimeAdminPort: e.RuntimeAdminPort, RuntimeRefresh: RuntimeRefresh, TopicResync: TopicResync}); err != nil {
		cancel()
		return err
	}
	e.done = make(chan error, 1)
	go func() { e.done <- mgr.Start(ctx) }()

	// Wait until the webhook server answers TLS, so the first create in a
	// test is admitted by it rather than refused.
	addr := net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // local test server
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			return fmt.Errorf("webhook server on %s did not start: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// countingFuncs counts every write the manager's client makes, per
// namespace.
func (e *Env) countingFuncs() interceptor.Funcs {
	return writeCounter(func(obj client.Object) {
		e.writesMu.Lock()
		e.writes[obj.GetNamespace()]++
		e.writesMu.Unlock()
	})
}

// Writes returns the number of writes the controllers made so far to
// objects in namespace ns.
func (e *Env) Writes(ns string) int64 {
	e.writesMu.Lock()
	defer e.writesMu.Unlock()
	return e.writes[ns]
}

// RunMain is the TestMain of a suite: it starts the environment into *env,
// runs the tests, stops it and exits with the tests' code.
func RunMain(m *testing.M, env **Env) {
	var err error
	*env, err = Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := (*env).Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest stop:", err)
	}
	os.Exit(code)
}

// Stop stops the manager and the API server.
func (e *Env) Stop() error {
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
	}
	if e.tempDir != "" {
		_ = os.RemoveAll(e.tempDir)
	}
	return e.env.Stop()
}

// CreateNamespace creates a fresh namespace for one test.
func (e *Env) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := e.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}

// SwitchableMetrics lets a test decide what the Pipeline controller's
// metrics source reports; with no Source set it reports an error, like an
// unreachable cluster.
type SwitchableMetrics struct {
	mu     sync.Mutex
	source pipeline.MetricsSource
}

// Set replaces the source.
func (s *SwitchableMetrics) Set(src pipeline.MetricsSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.source = src
}

// Gather implements pipeline.MetricsSource.
func (s *SwitchableMetrics) Gather(ctx context.Context, p *v1alpha1.Pipeline) (*pipeline.LiveMetrics, error) {
	s.mu.Lock()
	src := s.source
	s.mu.Unlock()
	if src == nil {
		return nil, errNoMetrics
	}
	return src.Gather(ctx, p)
}

var errNoMetrics = fmt.Errorf("no metrics source configured")

// CountingClient returns a direct client whose writes are counted, for
// calling a Reconciler by hand.
func (e *Env) CountingClient() (client.Client, *atomic.Int64) {
	var n atomic.Int64
	inner, err := client.NewWithWatch(e.Config, client.Options{Scheme: e.Client.Scheme()})
	if err != nil {
		panic(err)
	}
	return interceptor.NewClient(inner, writeCounter(func(client.Object) { n.Add(1) })), &n
}

// writeCounter intercepts every write and calls count with the object
// written.
func writeCounter(count func(client.Object)) interceptor.Funcs {
	return interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count(obj)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count(obj)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			count(obj)
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			count(obj)
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count(obj)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			count(obj)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}
}

// NoEvents is an event recorder that drops events, for hand-called
// Reconcilers.
type NoEvents struct{}

// Eventf drops the event.
func (NoEvents) Eventf(kruntime.Object, kruntime.Object, string, string, string, string, ...interface{}) {
}
