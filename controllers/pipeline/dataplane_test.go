package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/generator"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// The control plane meets the data plane: the Pipeline controller renders a
// Deployment and ConfigMap, the test runs that Deployment's container command
// as a local process against an in-process Kafka, and the Pipeline's status
// columns fill from that process through the controller's LiveSource.
func TestControlPlaneMeetsDataPlane(t *testing.T) {
	ctx, g, ns := setup(t)

	// LiveSource always reads /v1/status on <podIP>:AdminPort, so the local
	// runtime must listen on 127.0.0.1:9090.
	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(pipeline.AdminPort))
	if ln, err := net.Listen("tcp", adminAddr); err != nil {
		t.Fatalf("this test runs the runtime on %s because the controller's LiveSource reads pods on port %d, but that port is busy: %v",
			adminAddr, pipeline.AdminPort, err)
	} else {
		_ = ln.Close()
	}

	// Build the binary while the control plane works.
	binDir := t.TempDir()
	bin := filepath.Join(binDir, "ecap")
	built := make(chan error, 1)
	go func() {
		out, err := exec.Command("go", "build", "-o", bin, "github.com/ecap-dev/ecap/cmd/ecap").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %w\n%s", err, out)
		}
		built <- err
	}()

	// 1. Input topic and Pipeline.
	kafka := kafkatest.Start(t)
	kafka.CreateTopic(t, "txns", 3, nil)
	p := newPipeline(ns, "shop")
	p.Spec.Kafka.Brokers = kafka.Addrs()
	p.Spec.Topics = v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"}
	p.Spec.KPIs = nil
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	// 2. The controller renders the runtime.
	name := pipeline.ChildName(p)
	dep := &appsv1.Deployment{}
	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key(ns, name), dep)).To(Succeed())
		g.Expect(env.Client.Get(ctx, key(ns, name), cm)).To(Succeed())
		g.Expect(cm.Data).To(HaveKey(v1alpha1.RuntimeConfigKey))
	}).Should(Succeed())
	g.Expect(dep.Spec.Template.Spec.Containers).To(HaveLen(1))
	c := dep.Spec.Template.Spec.Containers[0]

	// 3. Run the container's command and args locally. The ConfigMap is
	// "mounted" by writing its keys into a temp dir; the one path prefix
	// that differs from the pod, /etc/ecap (the mount path), is rewritten
	// to that dir in the args.
	mountDir := t.TempDir()
	for k, v := range cm.Data {
		g.Expect(os.WriteFile(filepath.Join(mountDir, k), []byte(v), 0o600)).To(Succeed())
	}
	var args []string
	sawConfig, sawAdmin := false, false
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--config="+v1alpha1.RuntimeConfigMountPath+"/"):
			a = "--config=" + mountDir + strings.TrimPrefix(a, "--config="+v1alpha1.RuntimeConfigMountPath)
			sawConfig = true
		case a == fmt.Sprintf("--admin-addr=:%d", pipeline.AdminPort):
			a = "--admin-addr=" + adminAddr
			sawAdmin = true
		}
		args = append(args, a)
	}
	g.Expect(sawConfig).To(BeTrue(), "container args %v have no --config under %s", c.Args, v1alpha1.RuntimeConfigMountPath)
	g.Expect(sawAdmin).To(BeTrue(), "container args %v have no --admin-addr=:%d", c.Args, pipeline.AdminPort)
	g.Expect(c.Command).To(Equal([]string{"/ecap"}))

	podName := name + "-local"
	procEnv := append(os.Environ(), "POD_NAME="+podName, "POD_NAMESPACE="+ns)
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			procEnv = append(procEnv, e.Name+"="+e.Value)
		}
	}

	g.Expect(<-built).To(Succeed())
	procCtx, procCancel := context.WithCancel(context.Background())
	t.Cleanup(procCancel)
	cmd := exec.CommandContext(procCtx, bin, args...)
	cmd.Env = procEnv
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	g.Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			procCancel()
			<-exited
		}
		if t.Failed() {
			t.Logf("runtime output:\n%s", logs.String())
		}
	})

	// Wait for the admin server (and so the engine) to be up.
	status := func(g Gomega) map[string]any {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("runtime exited early: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get("http://" + adminAddr + "/v1/status")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		st := map[string]any{}
		g.Expect(json.NewDecoder(resp.Body).Decode(&st)).To(Succeed())
		return st
	}
	g.Eventually(func(g Gomega) { status(g) }, 30*time.Second).Should(Succeed())

	// 4. Valid transactions from the generator, and malformed records. A
	// small population spreads 200 transactions over months, past the
	// validator's future skew; re-time them one second apart over the last
	// few minutes (keeping their order) so every one is valid now.
	gen := generator.New(generator.Config{Seed: 1, Customers: 50, Start: time.Now().Add(-time.Hour)})
	const valid = 200
	base := time.Now().Add(-valid * time.Second).UTC()
	var recs []kafkatest.Record
	for len(recs) < valid {
		r, ok := gen.Next()
		g.Expect(ok).To(BeTrue(), "generator ran dry")
		if r.Topic != events.KindTransaction || r.Bad != "" {
			continue
		}
		ev, err := events.Decode(events.KindTransaction, r.Value)
		g.Expect(err).NotTo(HaveOccurred())
		txn := ev.(*events.Transaction)
		txn.EventTime = base.Add(time.Duration(len(recs)) * time.Second)
		value, err := events.Encode(txn)
		g.Expect(err).NotTo(HaveOccurred())
		recs = append(recs, kafkatest.Record{Key: r.Key, Value: value})
	}
	const malformed = 5
	for i := range malformed {
		recs = append(recs, kafkatest.Record{Key: []byte(fmt.Sprintf("bad-%d", i)), Value: []byte("{not json")})
	}
	kafka.Produce(t, "txns", recs...)

	// The runtime consumes everything and dead-letters every malformed
	// record, and only those.
	g.Eventually(func(g Gomega) {
		st := status(g)
		g.Expect(st["eventsTotal"]).To(BeNumerically("==", valid+malformed))
		g.Expect(st["deadLettered"]).To(BeNumerically("==", malformed))
	}, 30*time.Second).Should(Succeed())

	// 5. A Pod standing for the Deployment's, running on 127.0.0.1.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName, Labels: dep.Spec.Template.Labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: c.Name, Image: c.Image}}},
	}
	g.Expect(env.Client.Create(ctx, pod)).To(Succeed())
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
	g.Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())

	env.Metrics.Set(&pipeline.LiveSource{Client: env.Client})
	t.Cleanup(func() { env.Metrics.Set(nil) })
	markDeploymentAvailable(ctx, g, ns, name)

	// The controller refreshes live figures at most every 30s of its (fake)
	// clock; while they are not there yet, advance it and poke the Pipeline.
	poke := 0
	g.Eventually(func(g Gomega) {
		got := &v1alpha1.Pipeline{}
		g.Expect(env.Client.Get(ctx, key(ns, p.Name), got)).To(Succeed())
		ok := got.Status.Lag != nil && *got.Status.Lag == 0 &&
			got.Status.DeadLettered != nil && *got.Status.DeadLettered == malformed &&
			got.Status.EventsPerSecond != nil
		if !ok {
			poke++
			env.Clock.Step(31 * time.Second)
			_ = env.Update(ctx, got, func() {
				if got.Annotations == nil {
					got.Annotations = map[string]string{}
				}
				got.Annotations["test.ecap.dev/poke"] = strconv.Itoa(poke)
			})
		}
		g.Expect(got.Status.Lag).NotTo(BeNil())
		g.Expect(*got.Status.Lag).To(BeZero())
		g.Expect(got.Status.DeadLettered).NotTo(BeNil())
		g.Expect(*got.Status.DeadLettered).To(BeEquivalentTo(malformed))
		g.Expect(got.Status.EventsPerSecond).NotTo(BeNil())
		g.Expect(testenv.Condition(got, v1alpha1.ConditionKafkaReachable).Status).To(Equal(metav1.ConditionTrue))
	}, 30*time.Second, time.Second).Should(Succeed())

	// The dead-letter topic holds the malformed records, unchanged.
	dlq := kafka.ReadAll(t, "dlq")
	g.Expect(dlq).To(HaveLen(malformed))
	for _, r := range dlq {
		g.Expect(string(r.Value)).To(Equal("{not json"))
	}

	// SIGTERM stops the runtime cleanly.
	g.Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
	select {
	case err := <-exited:
		stopped = true
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("runtime exited with %v after SIGTERM\n%s", err, logs.String())
		}
		g.Expect(err).NotTo(HaveOccurred())
	case <-time.After(20 * time.Second):
		t.Fatalf("runtime did not stop within 20s of SIGTERM\n%s", logs.String())
	}
}

// syncBuffer collects the runtime's output; the test may read it while the
// process still writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
