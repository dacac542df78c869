package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
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

// newTestPKI makes the test's CA, broker and runtime certificates.
func newTestPKI(t *testing.T, serverName string) *kafkatest.PKI {
	return kafkatest.NewPKI(t, serverName, "ecap-runtime")
}

// writeMounted lays the material out as the Pipeline controller mounts it.
func writeMounted(t *testing.T, p *kafkatest.PKI, dir string) {
	t.Helper()
	for item, data := range map[string][]byte{tlsItemCA: p.CAPEM, tlsItemCert: p.ClientCert, tlsItemKey: p.ClientKey} {
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
		Certificates: []tls.Certificate{pki.Server}, ClientCAs: pki.CAPool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})))
	clientTLS := &tls.Config{RootCAs: pki.CAPool, Certificates: []tls.Certificate{pki.Client}, ServerName: pki.ServerName}
	admin := &kafka.Client{Addr: kafka.TCP(cluster.Addrs()...), Timeout: 10 * time.Second, Transport: &kafka.Transport{TLS: clientTLS}}
	resp, err := admin.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "txns", NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil || resp.Errors["txns"] != nil {
		t.Fatalf("create topic over TLS: %v %v", err, resp)
	}

	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	writeMounted(t, pki, tlsDir)
	rc := v1alpha1.RuntimeConfig{
		TypeMeta: metavOf(),
		Pipeline: v1alpha1.PipelineConfig{Name: "tls", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
			Kafka:  v1alpha1.KafkaSpec{Brokers: cluster.Addrs(), TLS: tlsSpec(pki.ServerName)},
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
	writeMounted(t, pki, good)
	badCA := t.TempDir()
	writeMounted(t, pki, badCA)
	if err := os.WriteFile(tlsItemPath(badCA, tlsItemCA), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	badKey := t.TempDir()
	writeMounted(t, pki, badKey)
	if err := os.WriteFile(tlsItemPath(badKey, tlsItemKey), pki.CAPEM, 0o600); err != nil {
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
