package retentionpolicy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
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

// pemPair is a PEM certificate and its PEM private key.
type pemPair struct{ cert, key []byte }

// issueCerts makes a CA and, signed by it, a server certificate for
// serverName and a client certificate.
func issueCerts(g Gomega, serverName string) (caPEM []byte, server, clientPair pemPair) {
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		g.Expect(err).NotTo(HaveOccurred())
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "retention test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	g.Expect(err).NotTo(HaveOccurred())
	ca, err := x509.ParseCertificate(caDER)
	g.Expect(err).NotTo(HaveOccurred())
	issue := func(serial int64, cn string, dns []string, usage x509.ExtKeyUsage) pemPair {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		g.Expect(err).NotTo(HaveOccurred())
		kb, err := x509.MarshalECPrivateKey(k)
		g.Expect(err).NotTo(HaveOccurred())
		return pemPair{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})}
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, issue(2, serverName, []string{serverName}, x509.ExtKeyUsageServerAuth), issue(3, "ecap-manager", nil, x509.ExtKeyUsageClientAuth)
}

// The manager reaches a Pipeline's brokers with spec.kafka.tls: the CA,
// client certificate and key come from the referenced Secrets, and the
// broker certificate names only kafka.test, so serverName must be honoured.
func TestTopicConfigsOverTLS(t *testing.T) {
	ctx, g, ns := env.Setup(t)
	caPEM, server, clientPEM := issueCerts(g, "kafka.test")
	serverPair, err := tls.X509KeyPair(server.cert, server.key)
	g.Expect(err).NotTo(HaveOccurred())
	clientPair, err := tls.X509KeyPair(clientPEM.cert, clientPEM.key)
	g.Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(caPEM)).To(BeTrue())
	kc := kafkatest.Start(t, kafkatest.KfakeOptions(kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{serverPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})))
	admin := &kafka.Client{Addr: kafka.TCP(kc.Addrs()...), Timeout: 10 * time.Second, Transport: &kafka.Transport{
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientPair}, ServerName: "kafka.test", MinVersion: tls.VersionTLS12},
	}}
	defer admin.Transport.(*kafka.Transport).CloseIdleConnections()
	resp, err := admin.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "shop.tls", NumPartitions: 1, ReplicationFactor: 1}}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.Errors["shop.tls"]).NotTo(HaveOccurred())

	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kafka-ca"}, Data: map[string][]byte{"ca.crt": caPEM}})).To(Succeed())
	g.Expect(env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kafka-client"},
		Data: map[string][]byte{"tls.crt": clientPEM.cert, "tls.key": clientPEM.key}})).To(Succeed())
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
		g.Expect(testenv.Condition(rp, v1alpha1.ConditionKafkaReachable).Status).To(Equal(metav1.ConditionTrue))
		g.Expect(target(rp, "shop.tls").ConfigsApplied).To(BeTrue())
	}).Should(Succeed())
}
