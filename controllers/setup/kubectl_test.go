package setup_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/controllers/testenv"
)

// kubectl runs the real kubectl against the envtest API server.
func kubectl(args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestKubectlSamplesColumnsAndInvalidManifests(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(testenv.Timeout)
	ctx := context.Background()
	root := testenv.RepoRoot()

	out, err := kubectl("apply", "--server-side", "--force-conflicts", "-f", filepath.Join(root, "config", "crd", "bases"))
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = kubectl("create", "namespace", "demo")
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = kubectl("apply", "-n", "demo", "-k", filepath.Join(root, "config", "samples"))
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("pipeline.analytics.ecap.dev/shop created"))
	g.Expect(out).To(ContainSubstring("fraudruleset.analytics.ecap.dev/card-fraud created"))

	// Play the Deployment controller, which envtest does not run.
	g.Eventually(func(g Gomega) {
		dep := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "demo", Name: "ecap-shop"}, dep)).To(Succeed())
		n := ptr.Deref(dep.Spec.Replicas, 1)
		dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		g.Expect(env.Client.Status().Update(ctx, dep)).To(Succeed())
	}).Should(Succeed())

	out, err = kubectl("wait", "-n", "demo", "--for=condition=Ready", "--timeout=60s",
		"pipeline/shop", "fraudruleset/card-fraud", "segmentation/rfm")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(strings.Count(out, "condition met")).To(Equal(3), out)
	// The sample policy sets topic configs, and no Kafka answers on the
	// sample's localhost:9092: it is scheduled but stalled on Kafka.
	out, err = kubectl("wait", "-n", "demo", "--for=condition=Stalled", "--timeout=60s",
		"retentionpolicy/retain-90d")
	g.Expect(err).NotTo(HaveOccurred(), out)
	out, err = kubectl("get", "-n", "demo", "retentionpolicy/retain-90d")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(MatchRegexp(`retain-90d\s+shop\s+0 3 \* \* \*\s+False\s+KafkaUnreachable`))

	// Printer columns as an operator sees them.
	columns := map[string][]string{
		"pipelines":         {"NAME", "READY", "STATUS", "REPLICAS", "LAG", "RATE", "DLQ", "AGE"},
		"fraudrulesets":     {"NAME", "PIPELINE", "RULES", "READY", "STATUS", "HITS", "APPLIED", "AGE"},
		"segmentations":     {"NAME", "PIPELINE", "READY", "STATUS", "CUSTOMERS", "LAST RUN", "AGE"},
		"retentionpolicies": {"NAME", "PIPELINE", "SCHEDULE", "DRY RUN", "READY", "STATUS", "LAST RUN", "AGE"},
	}
	for resource, want := range columns {
		out, err := kubectl("get", "-n", "demo", resource)
		g.Expect(err).NotTo(HaveOccurred(), out)
		header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		g.Expect(strings.Join(header, " ")).To(Equal(strings.Join(want, " ")), "columns of %s", resource)
	}
	out, err = kubectl("get", "-n", "demo", "pipelines")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(MatchRegexp(`shop\s+True\s+Succeeded\s+1`))
	out, err = kubectl("get", "-n", "demo", "fraudrulesets")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(MatchRegexp(`card-fraud\s+shop\s+6\s+True\s+Succeeded`))

	// Short names and the ecap category.
	out, err = kubectl("get", "-n", "demo", "ecap", "-o", "name")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(strings.Fields(out)).To(ConsistOf(
		"pipeline.analytics.ecap.dev/shop", "fraudruleset.analytics.ecap.dev/card-fraud",
		"segmentation.analytics.ecap.dev/rfm", "retentionpolicy.analytics.ecap.dev/retain-90d"))
	for _, short := range []string{"pl", "frs", "seg", "rp"} {
		out, err := kubectl("get", "-n", "demo", short)
		g.Expect(err).NotTo(HaveOccurred(), out)
	}

	// Field docs reach kubectl explain.
	out, err = kubectl("explain", "pipelines.spec.dedup.window")
	g.Expect(err).NotTo(HaveOccurred(), out)
	g.Expect(out).To(ContainSubstring("how long, in event time, an event_id is remembered"))

	// Every invalid manifest is refused with its expected message.
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "invalid", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(files)).To(BeNumerically(">=", 5))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			g := NewWithT(t)
			want, err := expectation(f)
			g.Expect(err).NotTo(HaveOccurred())
			out, err := kubectl("apply", "-n", "demo", "-f", f)
			g.Expect(err).To(HaveOccurred(), "%s was accepted:\n%s", f, out)
			g.Expect(out).To(ContainSubstring(want))
		})
	}
}

// expectation reads the "# expect: <text>" line of an invalid sample.
func expectation(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "# expect: "); ok {
			return rest, nil
		}
	}
	return "", fmt.Errorf("%s has no '# expect: ' line", path)
}
