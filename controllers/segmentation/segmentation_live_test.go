package segmentation_test

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/segmentation"
	"github.com/ecap-dev/ecap/controllers/testenv"
)

// PodSource sums a run over the replicas that did it, keeps the lowest
// applied generation, and leaves out pods that are not running.
func TestPodSourceSumsReplicas(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	p := testenv.Pipeline(ns, "shop")
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())

	// Two replicas on two loopback addresses, same port.
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	g.Expect(err).NotTo(HaveOccurred())
	port := ln.Addr().(*net.TCPAddr).Port
	ln2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.4", strconv.Itoa(port)))
	g.Expect(err).NotTo(HaveOccurred())
	finished := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cohorts := []any{map[string]any{"month": "1997-01", "size": 781, "active": []int{781, 124}}}
	serve := func(l net.Listener, gen int64, scored int, segs map[string]int) {
		st := map[string]any{"segmentations": []any{map[string]any{
			"name": "rfm", "appliedGeneration": gen,
			"lastRun": map[string]any{"runID": "slot-1", "generation": gen, "finishedAt": finished, "durationSeconds": 0.25,
				"customersScored": scored, "segments": segs, "calibrationUnknown": scored / 10, "cohorts": cohorts,
				"bgnbd": map[string]any{"r": 0.2425945, "alpha": 4.413602, "a": 0.792922, "b": 2.425907, "logLikelihood": -9582.429}},
		}}}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(st) })}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	serve(ln, 3, 100, map[string]int{"Champions": 40, "Lost": 60})
	serve(ln2, 2, 50, map[string]int{"Champions": 10, "New": 40})
	for i, ip := range []string{"127.0.0.3", "127.0.0.4", ""} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "runtime-" + strconv.Itoa(i), Labels: pipeline.RuntimePodLabels(p)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "runtime", Image: "ecap"}}},
		}
		g.Expect(env.Client.Create(ctx, pod)).To(Succeed())
		if ip != "" {
			pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
			g.Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())
		}
	}

	src := &segmentation.PodSource{Client: env.Client, Port: port}
	rep, err := src.Segmentation(ctx, p, "rfm")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rep.Replicas).To(Equal(2))
	g.Expect(rep.Running).To(Equal(2))
	g.Expect(rep.AppliedGeneration).To(BeEquivalentTo(2))
	g.Expect(rep.Run).NotTo(BeNil())
	g.Expect(rep.Run.CustomersScored).To(BeEquivalentTo(150))
	g.Expect(rep.Run.Segments).To(Equal(map[string]int64{"Champions": 50, "Lost": 60, "New": 40}))
	g.Expect(rep.Run.FinishedAt).To(BeTemporally("==", finished))
	g.Expect(rep.Run.CalibrationUnknown).To(BeEquivalentTo(15))
	// The matrix is merged over all replicas already: taken once.
	g.Expect(rep.Run.Cohorts).To(Equal([]v1alpha1.CohortStatus{{Month: "1997-01", Size: 781, Active: []int64{781, 124}}}))
	g.Expect(rep.Run.Model.BGNBD).To(Equal(&v1alpha1.BGNBDParameters{R: "0.2425945", Alpha: "4.413602", A: "0.792922", B: "2.425907", LogLikelihood: "-9582.429"}))

	other, err := src.Segmentation(ctx, p, "other")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(other.Replicas).To(Equal(2))
	g.Expect(other.Running).To(BeZero())
	g.Expect(other.Run).To(BeNil())
}
