package retentionpolicy_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/testenv"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// The manager reaches a Pipeline's brokers with spec.kafka.tls: the CA,
// client certificate and key come from the referenced Secrets, and the
// broker certificate names only kafka.test, so serverName must be honoured.
func TestTopicConfigsOverTLS(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	pki := kafkatest.NewPKI(t, "kafka.test", "ecap-manager")
	kc := kafkatest.Start(t, kafkatest.KfakeOptions(kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.CAPool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})))
	admin := &kafka.Client{Addr: kafka.TCP(kc.Addrs()...), Timeout: 10 * time.Second, Transport: &kafka.Transport{
		TLS: &tls.Config{RootCAs: pki.CAPool, Certificates: []tls.Certificate{pki.Client}, ServerName: "kafka.test", MinVersion: tls.VersionTLS12},
	}}
	defer admin.Transport.(*kafka.Transport).CloseIdleConnections()
	resp, err := admin.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "shop.tls", NumPartitions: 1, ReplicationFactor: 1}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.Errors["shop.tls"]).NotTo(HaveOccurred())

	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kafka-ca"}, Data: map[string][]byte{"ca.crt": pki.CAPEM}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kafka-client"},
		Data: map[string][]byte{"tls.crt": pki.ClientCert, "tls.key": pki.ClientKey}})).To(Succeed())
	p := kafkaPipeline(ns, "shop", kc.Addrs())
	p.Spec.Kafka.TLS = &v1alpha1.KafkaTLS{
		CASecretRef:   &v1alpha1.SecretKeyReference{Name: "kafka-ca", Key: "ca.crt"},
		CertSecretRef: &v1alpha1.SecretKeyReference{Name: "kafka-client", Key: "tls.crt"},
		KeySecretRef:  &v1alpha1.SecretKeyReference{Name: "kafka-client", Key: "tls.key"},
		ServerName:    "kafka.test",
	}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	rp := topicPolicy(ns, "tls", "shop", v1alpha1.TopicRetention{
		Selector: v1alpha1.TargetSelector{Names: []string{"shop.tls"}}, Retention: "3d",
	})
	g.Expect(env.Client.Create(ctx, rp)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(describeTopic(g, admin, "shop.tls")).To(HaveKeyWithValue("retention.ms", ms(3*day)))
	}).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Get(ctx, rp)).To(Succeed())
		g.Expect(testenv.ConditionStatus(rp, v1alpha1.ConditionKafkaReachable)).To(Equal(metav1.ConditionTrue))
		g.Expect(target(rp, "shop.tls").ConfigsApplied).To(BeTrue())
	}).Should(Succeed())
}
