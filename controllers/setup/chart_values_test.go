package setup_test

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// values.schema.json refuses bad values before anything renders, and the
// message names the key.
func TestChartValuesSchemaRejectsBadValues(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"failurePolicy outside its enum", []string{"--set", "webhook.failurePolicy=Maybe"}, "/webhook/failurePolicy"},
		{"negative replicas", []string{"--set", "replicaCount=-1"}, "/replicaCount"},
		{"replicas not an integer", []string{"--set", "replicaCount=two"}, "/replicaCount"},
		{"port out of range", []string{"--set", "metrics.port=70000"}, "/metrics/port"},
		{"pull policy outside its enum", []string{"--set", "image.pullPolicy=Sometimes"}, "/image/pullPolicy"},
		{"misspelt key", []string{"--set", "networkPolicy.enable=true"}, "/networkPolicy"},
		{"unknown top-level key", []string{"--set", "replicas=2"}, "replicas"},
		{"bad scrape interval", []string{"--set", "metrics.serviceMonitor.interval=30 seconds"}, "/metrics/serviceMonitor/interval"},
		{"bad topic resync", []string{"--set", "retention.topicResync=hourly"}, "/retention/topicResync"},
		{"bad log level", []string{"--set", "logLevel=loud"}, "/logLevel"},
		{"bad quantity", []string{"--set", "resources.limits.memory=lots"}, "/resources/limits/memory"},
		{"toleration operator outside its enum", []string{"--set-json", `tolerations=[{"key":"a","operator":"Maybe"}]`}, "/tolerations/0/operator"},
		{"seccomp type outside its enum", []string{"--set", "podSecurityContext.seccompProfile.type=Off"}, "/podSecurityContext/seccompProfile/type"},
		{"unknown securityContext field", []string{"--set", "securityContext.readonlyRootFilesystem=true"}, "/securityContext"},
		{"selector operator outside its enum", []string{"--set-json", `networkPolicy.metrics.namespaceSelector={"matchExpressions":[{"key":"a","operator":"Is"}]}`}, "/networkPolicy/metrics/namespaceSelector/matchExpressions/0/operator"},
		{"cert validity below minimum", []string{"--set", "webhook.selfSignedCertValidityDays=0"}, "/webhook/selfSignedCertValidityDays"},
		// Checked by the templates rather than the schema.
		{"two replicas without leader election", []string{"--set", "replicaCount=2", "--set", "leaderElection.enabled=false"}, "leaderElection.enabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			_, stderr, err := runHelmTemplate(t, "ecap-system", tc.args...)
			g.Expect(err).To(HaveOccurred(), "helm template %v succeeded", tc.args)
			g.Expect(stderr).To(ContainSubstring(tc.want))
		})
	}

	// The same keys with good values render.
	helmTemplate(t, "--set", "webhook.failurePolicy=Ignore", "--set", "replicaCount=0", "--set", "resources.limits.memory=1Gi",
		"--set", "logLevel=3", "--set", "metrics.serviceMonitor.interval=1m30s")
}

// The chart's manager Deployment meets the hardening list with
// default values: leader election, probes, resources, restricted security
// context.
func TestChartManagerDeploymentHardened(t *testing.T) {
	g := NewWithT(t)
	var dep appsv1.Deployment
	convert(t, find(t, helmTemplate(t), "Deployment", "ecap-controller-manager"), &dep)
	pod := dep.Spec.Template.Spec
	g.Expect(pod.Containers).To(HaveLen(1))
	c := pod.Containers[0]
	g.Expect(c.Args).To(ContainElement("--leader-elect=true"))
	g.Expect(c.LivenessProbe).NotTo(BeNil())
	g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
	g.Expect(c.ReadinessProbe).NotTo(BeNil())
	g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
	g.Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceCPU))
	g.Expect(c.Resources.Requests).To(HaveKey(corev1.ResourceMemory))
	g.Expect(c.Resources.Limits).To(HaveKey(corev1.ResourceMemory))
	g.Expect(pod.SecurityContext).NotTo(BeNil())
	g.Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
	g.Expect(pod.SecurityContext.SeccompProfile).To(HaveValue(HaveField("Type", corev1.SeccompProfileTypeRuntimeDefault)))
	g.Expect(c.SecurityContext).NotTo(BeNil())
	g.Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
	g.Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
	g.Expect(c.SecurityContext.Capabilities).NotTo(BeNil())
	g.Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
}

// The NetworkPolicy admits the webhook and health ports from anywhere and
// the metrics port only from the selected namespaces, and selects exactly
// the manager pods.
func TestChartNetworkPolicy(t *testing.T) {
	g := NewWithT(t)
	objs := helmTemplate(t, "--set", "networkPolicy.enabled=true",
		"--set-json", `networkPolicy.metrics.namespaceSelector={"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}`)
	var np networkingv1.NetworkPolicy
	convert(t, find(t, objs, "NetworkPolicy", "ecap-controller-manager"), &np)
	var dep appsv1.Deployment
	convert(t, find(t, objs, "Deployment", "ecap-controller-manager"), &dep)

	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sel.Empty()).To(BeFalse(), "the policy must not select every pod of the namespace")
	for k, v := range np.Spec.PodSelector.MatchLabels {
		g.Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the policy selects the manager pods")
	}
	g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress), "egress stays open")

	// Which peers may reach which named port.
	from := map[string][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		g.Expect(rule.Ports).NotTo(BeEmpty(), "every rule is limited to ports")
		for _, p := range rule.Ports {
			g.Expect(p.Port).NotTo(BeNil())
			g.Expect(p.Port.Type).To(Equal(intstr.String), "ports are the container's named ports")
			from[p.Port.StrVal] = append(from[p.Port.StrVal], rule.From...)
		}
	}
	g.Expect(from).To(HaveLen(3))
	g.Expect(from).To(HaveKeyWithValue("webhook-server", BeEmpty()), "the API server's address is unknown: from anywhere")
	g.Expect(from).To(HaveKeyWithValue("health", BeEmpty()), "kubelet probes come from the node")
	g.Expect(from["metrics"]).To(HaveLen(1))
	g.Expect(from["metrics"][0].NamespaceSelector).To(HaveValue(HaveField("MatchLabels", HaveKeyWithValue("kubernetes.io/metadata.name", "monitoring"))))
	c := dep.Spec.Template.Spec.Containers[0]
	for name := range from {
		g.Expect(containerPort(c, name)).NotTo(BeZero(), "the manager container has a port named %s", name)
	}

	// Without the webhook there is no webhook port to open.
	objs = helmTemplate(t, "--set", "networkPolicy.enabled=true", "--set", "webhook.enabled=false")
	convert(t, find(t, objs, "NetworkPolicy", "ecap-controller-manager"), &np)
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			g.Expect(p.Port.StrVal).NotTo(Equal("webhook-server"))
		}
	}
	// Off by default.
	for _, o := range helmTemplate(t) {
		g.Expect(o.GetKind()).NotTo(Equal("NetworkPolicy"))
	}
}
