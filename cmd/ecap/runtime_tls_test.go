package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// testPKI is a CA with a server and a client certificate, made in the test.
type testPKI struct {
	caPEM                  []byte
	server                 tls.Certificate
	clientCert, clientKey  []byte
	clientPair             tls.Certificate
	caPool                 *x509.CertPool
	serverName, clientName string
}

func newTestPKI(t *testing.T, serverName string) *testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ecap test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, dns []string, usage x509.ExtKeyUsage) ([]byte, []byte) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(k)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	p := &testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), serverName: serverName, clientName: "ecap-runtime"}
	sc, sk := issue(2, serverName, []string{serverName}, x509.ExtKeyUsageServerAuth)
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		t.Fatal(err)
	}
	p.clientCert, p.clientKey = issue(3, p.clientName, nil, x509.ExtKeyUsageClientAuth)
	if p.clientPair, err = tls.X509KeyPair(p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	p.caPool = x509.NewCertPool()
	p.caPool.AppendCertsFromPEM(p.caPEM)
	return p
}

// writeMounted lays the material out as the Pipeline controller mounts it.
func (p *testPKI) writeMounted(t *testing.T, dir string) {
	t.Helper()
	for item, data := range map[string][]byte{tlsItemCA: p.caPEM, tlsItemCert: p.clientCert, tlsItemKey: p.clientKey} {
		if err := os.MkdirAll(filepath.Join(dir, item), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tlsItemPath(dir, item), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func tlsSpec(serverName string) *v1alpha1.KafkaTLS {
	return &v1alpha1.KafkaTLS{
		CASecretRef:   &v1alpha1.SecretKeyReference{Name: "kafka-ca", Key: "ca.crt"},
		CertSecretRef: &v1alpha1.SecretKeyReference{Name: "kafka-client", Key: "tls.crt"},
		KeySecretRef:  &v1alpha1.SecretKeyReference{Name: "kafka-client", Key: "tls.key"},
		ServerName:    serverName,
	}
}

// TestRuntimeKafkaTLS runs the runtime against a kfake cluster that listens
// with TLS and requires a client certificate signed by a CA made in the
// test; the broker certificate names only "kafka.test", so the connection
// works only with spec.kafka.tls.serverName honoured and the mounted CA
// trusted.
func TestRuntimeKafkaTLS(t *testing.T) {
	const partitions = 2
	pki := newTestPKI(t, "kafka.test")
	cluster := kafkatest.Start(t, kafkatest.KfakeOptions(kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.caPool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})))
	clientTLS := &tls.Config{RootCAs: pki.caPool, Certificates: []tls.Certificate{pki.clientPair}, ServerName: pki.serverName}
	admin := &kafka.Client{Addr: kafka.TCP(cluster.Addrs()...), Timeout: 10 * time.Second, Transport: &kafka.Transport{TLS: clientTLS}}
	resp, err := admin.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "txns", NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil || resp.Errors["txns"] != nil {
		t.Fatalf("create topic over TLS: %v %v", err, resp)
	}

	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	pki.writeMounted(t, tlsDir)
	rc := v1alpha1.RuntimeConfig{
		TypeMeta: metavOf(),
		Pipeline: v1alpha1.PipelineConfig{Name: "tls", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: cluster.Addrs(), TLS: tlsSpec(pki.serverName)},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
			State:  v1alpha1.StateSpec{CheckpointInterval: "300ms"},
		}},
	}

	// Without serverName the broker certificate does not match the address.
	noName := rc
	noName.Pipeline.Spec.Kafka.TLS = tlsSpec("")
	kcfg, err := kafkaConfig(&noName, nil, tlsDir)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kafkaio.NewClient(kcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Ping without serverName = %v, want a certificate error", err)
	}

	cfgPath := filepath.Join(dir, "runtime.json")
	data, _ := json.Marshal(rc)
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runRuntimeWith(ctx, runtimeOptions{configPath: cfgPath, adminAddr: addr, tlsDir: tlsDir,
			tuning: groupTuning{session: 1500 * time.Millisecond, heartbeat: 200 * time.Millisecond, rebalance: 5 * time.Second}})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runtime returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("runtime did not stop")
		}
	}()

	producer := &kafka.Writer{Addr: kafka.TCP(cluster.Addrs()...), Topic: "txns", Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{TLS: clientTLS}}
	defer producer.Close()
	gen := enginetest.NewGenerator(9, 30, 10, time.Now().Add(-5*time.Minute), time.Millisecond)
	msgs := make([]kafka.Message, 250)
	for i := range msgs {
		x := gen.Next()
		msgs[i] = kafka.Message{Key: x.Key, Value: x.Value}
	}
	if err := producer.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("runtime returned early: %v", err)
		default:
		}
		st, err := getStatus(addr)
		var sum int64
		for _, p := range st.Partitions {
			sum += p.Offset
		}
		if err == nil && st.Ready && sum == int64(len(msgs)) && st.EventsTotal >= int64(len(msgs)) {
			t.Logf("events=%d over TLS with a client certificate", st.EventsTotal)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime did not process %d events over TLS: %+v (%v)", len(msgs), st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKafkaTLSConfigErrorsNameTheField(t *testing.T) {
	pki := newTestPKI(t, "kafka.test")
	good := t.TempDir()
	pki.writeMounted(t, good)
	badCA := t.TempDir()
	pki.writeMounted(t, badCA)
	if err := os.WriteFile(tlsItemPath(badCA, tlsItemCA), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	badKey := t.TempDir()
	pki.writeMounted(t, badKey)
	if err := os.WriteFile(tlsItemPath(badKey, tlsItemKey), pki.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	certOnly := tlsSpec("")
	certOnly.KeySecretRef = nil
	tests := []struct {
		name string
		spec *v1alpha1.KafkaTLS
		dir  string
		want string
	}{
		{"missing CA file", tlsSpec(""), t.TempDir(), "pipeline.spec.kafka.tls.caSecretRef"},
		{"CA not PEM", tlsSpec(""), badCA, "pipeline.spec.kafka.tls.caSecretRef: no PEM certificate"},
		{"key does not match", tlsSpec(""), badKey, "pipeline.spec.kafka.tls.certSecretRef/keySecretRef"},
		{"cert without key", certOnly, good, "certSecretRef and keySecretRef must be set together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kafkaTLSConfig(tt.spec, tt.dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	cfg, err := kafkaTLSConfig(tlsSpec("kafka.test"), good)
	if err != nil || cfg.RootCAs == nil || cfg.GetClientCertificate == nil || cfg.ServerName != "kafka.test" {
		t.Fatalf("good config: %+v, %v", cfg, err)
	}
}
