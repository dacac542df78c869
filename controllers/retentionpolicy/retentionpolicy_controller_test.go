package retentionpolicy_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/admission"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/controllers/testenv"
)

func policy(ns, name, pipeline string) *v1alpha1.RetentionPolicy {
	return &v1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RetentionPolicySpec{
			PipelineRef:   v1alpha1.LocalObjectReference{Name: pipeline},
			Schedule:      "30 2 * * *",
			CustomerState: &v1alpha1.CustomerStateRetention{InactiveAfter: "730d"},
			Lake: []v1alpha1.LakeRetention{{
				Selector: v1alpha1.TargetSelector{Names: []string{"transactions"}}, ExpireAfter: "90d",
			}},
		},
	}
}

func TestPolicyOwnsCronJob(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	g.Expect(env.Client.Create(ctx, testenv.Pipeline(ns, "shop"))).To(Succeed())
	rp := policy(ns, "retain-90d", "shop")
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())

	cj := &batchv1.CronJob{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ecap-retention-retain-90d"}, cj)).To(Succeed())
	}).Should(Succeed())
	g.Expect(metav1.IsControlledBy(cj, rp)).To(BeTrue())
	g.Expect(cj.Spec.Schedule).To(Equal("30 2 * * *"))
	g.Expect(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args).To(Equal([]string{"retention", "--namespace=" + ns, "--policy=retain-90d"}))
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ecap-retention-retain-90d"}, &rbacv1.Role{})).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(testenv.Condition(rp, v1alpha1.ConditionReady)).NotTo(BeNil())
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionScheduled)).To(Equal(metav1.ConditionTrue))
		g.Expect(rp.Status.NextRunTime).NotTo(BeNil())
		// The fake clock stands at 12:00 UTC, so the next 02:30 is tomorrow's.
		g.Expect(rp.Status.NextRunTime.Time).To(BeTemporally("==", time.Date(2026, 11, 2, 2, 30, 0, 0, time.UTC)))
		s, err := testenv.KStatus(rp)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(s).To(Equal(kstatus.CurrentStatus))
	}).Should(Succeed())

	// Dry run and suspend reach the CronJob.
	g.Expect(env.Update(ctx, rp, func() { rp.Spec.DryRun, rp.Spec.Suspend = true, true })).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
		g.Expect(*cj.Spec.Suspend).To(BeTrue())
		g.Expect(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--dry-run"))
	}).Should(Succeed())

	// Drift: a deleted CronJob comes back.
	g.Expect(env.Client.Delete(ctx, cj)).To(Succeed())
	g.Eventually(func(g Gomega) {
		fresh := &batchv1.CronJob{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cj), fresh)).To(Succeed())
		g.Expect(fresh.UID).NotTo(Equal(cj.UID))
	}).Should(Succeed())

	// Steady state: no writes.
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(rp.Status.ObservedGeneration).To(Equal(rp.Generation))
	}).Should(Succeed())
	c, writes := env.CountingClient()
	r := &retentionpolicy.Reconciler{Client: c, Recorder: testenv.NoEvents{}, Clock: env.Clock, Image: testenv.Image}
	g.Eventually(func(g Gomega) {
		writes.Store(0)
		for range 3 {
			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rp)})
			g.Expect(err).NotTo(HaveOccurred())
		}
		g.Expect(writes.Load()).To(BeZero())
	}).Should(Succeed())
}

func TestPolicyInvalidSpecs(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	cases := []struct {
		name   string
		mutate func(*v1alpha1.RetentionPolicy)
		want   string
	}{
		{"malformed schedule", func(rp *v1alpha1.RetentionPolicy) { rp.Spec.Schedule = "61 * * * *" }, "spec.schedule"},
		{"@every is not a CronJob schedule", func(rp *v1alpha1.RetentionPolicy) { rp.Spec.Schedule = "@every 1h" }, "spec.schedule"},
		{"malformed duration", func(rp *v1alpha1.RetentionPolicy) { rp.Spec.Lake[0].ExpireAfter = "ninety days" }, "spec.lake[0].expireAfter"},
		{"bad pattern", func(rp *v1alpha1.RetentionPolicy) {
			rp.Spec.Topics = []v1alpha1.TopicRetention{{Selector: v1alpha1.TargetSelector{Pattern: "shop.("}, Retention: "7d"}}
		}, "spec.topics[0].selector.pattern"},
		{"archive without prefix", func(rp *v1alpha1.RetentionPolicy) { rp.Spec.Lake[0].Action = v1alpha1.LakeArchive }, "archivePrefix is required"},
		{"nothing to do", func(rp *v1alpha1.RetentionPolicy) { rp.Spec.Lake, rp.Spec.CustomerState = nil, nil }, "at least one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			rp := policy(ns, "bad", "shop")
			tc.mutate(rp)
			err := env.Client.Create(ctx, rp)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}
	_ = g
}

// What slips past admission ends Stalled: the controller runs the same
// validation as the webhook.
func TestPolicyValidatorAndControllerAgree(t *testing.T) {
	g := NewWithT(t)
	rp := policy("ns", "bad", "shop")
	rp.Spec.Schedule = "every night"
	v := admission.Validator[*v1alpha1.RetentionPolicy]{Kind: "RetentionPolicy", Validate: retentionpolicy.Validate}
	_, err := v.ValidateCreate(t.Context(), rp)
	g.Expect(err).To(MatchError(ContainSubstring("spec.schedule")))
	g.Expect(retentionpolicy.Validate(rp).ToAggregate().Error()).To(ContainSubstring("spec.schedule"))
}

// TestCronJobReachesLake: the job's pod gets what the runtime's pods get
// to reach the Pipeline's lake: the S3 key pair from the credentials
// Secret as environment, and a local lake's claim mounted at its path;
// a change of the Pipeline's lake reaches the CronJob.
func TestCronJobReachesLake(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	p := testenv.Pipeline(ns, "shop")
	p.Spec.Sinks.Lake = &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{"transactions"},
		S3: &v1alpha1.S3Lake{Endpoint: "minio.storage:9000", Bucket: "lake", Credentials: v1alpha1.CredentialsSource{
			SecretRef: &v1alpha1.SecretCredentials{Name: "lake-keys", UsernameKey: "access", PasswordKey: "secret"}}}}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	g.Expect(env.Client.Create(ctx, policy(ns, "lake", "shop"))).To(Succeed())

	cj := &batchv1.CronJob{}
	key := client.ObjectKey{Namespace: ns, Name: "ecap-retention-lake"}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, cj)).To(Succeed())
		c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		envs := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			envs[e.Name] = e
		}
		g.Expect(envs).To(HaveKey("ECAP_S3_ACCESS_KEY"))
		g.Expect(envs).To(HaveKey("ECAP_S3_SECRET_KEY"))
		g.Expect(envs["ECAP_S3_ACCESS_KEY"].ValueFrom.SecretKeyRef.Name).To(Equal("lake-keys"))
		g.Expect(envs["ECAP_S3_ACCESS_KEY"].ValueFrom.SecretKeyRef.Key).To(Equal("access"))
		g.Expect(envs["ECAP_S3_SECRET_KEY"].ValueFrom.SecretKeyRef.Key).To(Equal("secret"))
		g.Expect(c.VolumeMounts).To(BeEmpty())
	}).Should(Succeed())

	g.Expect(env.Update(ctx, p, func() {
		p.Spec.Sinks.Lake.S3 = nil
		p.Spec.Sinks.Lake.Local = &v1alpha1.LocalLake{Path: "/var/lib/ecap/lake", ClaimName: "lake-rwx"}
	})).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, key, cj)).To(Succeed())
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		g.Expect(pod.Containers[0].Env).To(BeEmpty())
		g.Expect(pod.Volumes).To(HaveLen(1))
		g.Expect(pod.Volumes[0].PersistentVolumeClaim).NotTo(BeNil())
		g.Expect(pod.Volumes[0].PersistentVolumeClaim.ClaimName).To(Equal("lake-rwx"))
		g.Expect(pod.Containers[0].VolumeMounts).To(ConsistOf(corev1.VolumeMount{Name: pod.Volumes[0].Name, MountPath: "/var/lib/ecap/lake"}))
	}).Should(Succeed())
}
