package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/credentials/vaulttest"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRuntimeVaultCredentials runs the runtime in-process against a kfake
// cluster that requires SCRAM-SHA-256, with the Kafka credentials in a
// (fake) Vault that is down when the runtime starts. It checks that the
// runtime waits and reports instead of exiting, becomes ready once Vault
// answers, processes every event, survives a password rotation on the
// cluster and in Vault (its connections are then cut so that it must
// authenticate anew) without a restart or a lost event, and that neither
// the passwords nor the Vault tokens appear in its logs or /v1/status.
func TestRuntimeVaultCredentials(t *testing.T) {
	const partitions = 2
	cluster := kafkatest.Start(t, kafkatest.KfakeOptions(
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "admin", "admin-pass"),
		kfake.Superuser("SCRAM-SHA-256", "ecap", "first-kafka-password"),
	))
	adminSASL := plain.Mechanism{Username: "admin", Password: "admin-pass"}
	adminClient := &kafka.Client{Addr: kafka.TCP(cluster.Addrs()...), Timeout: 10 * time.Second, Transport: &kafka.Transport{SASL: adminSASL}}
	resp, err := adminClient.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "txns", NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil || resp.Errors["txns"] != nil {
		t.Fatalf("create topic: %v %v", err, resp)
	}
	producer := &kafka.Writer{Addr: kafka.TCP(cluster.Addrs()...), Topic: "txns", Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{SASL: adminSASL}}
	defer producer.Close()

	v := vaulttest.Start(t, "kubernetes", "ecap-runtime", "sa-jwt")
	v.Put("secret", "ecap/kafka", map[string]any{"username": "ecap", "password": "first-kafka-password"})
	v.SetUnavailable(true)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("sa-jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	rc := v1alpha1.RuntimeConfig{
		TypeMeta: metavOf(),
		Pipeline: v1alpha1.PipelineConfig{Name: "vaulted", Namespace: "test", Generation: 1, Spec: v1alpha1.PipelineSpec{
			Kafka: v1alpha1.KafkaSpec{Brokers: cluster.Addrs(), SASL: &v1alpha1.KafkaSASL{
				Mechanism: v1alpha1.SASLScramSHA256,
				Credentials: v1alpha1.CredentialsSource{Vault: &v1alpha1.VaultCredentials{
					Address: v.URL, Role: "ecap-runtime", Path: "ecap/kafka",
				}},
			}},
			Topics: v1alpha1.PipelineTopics{Transactions: "txns", DeadLetter: "dlq"},
			State:  v1alpha1.StateSpec{CheckpointInterval: "300ms"},
		}},
	}
	cfgPath := filepath.Join(dir, "runtime.json")
	data, _ := json.Marshal(rc)
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runRuntimeWith(ctx, runtimeOptions{
			configPath: cfgPath, adminAddr: addr,
			tuning: groupTuning{session: 1500 * time.Millisecond, heartbeat: 200 * time.Millisecond, rebalance: 5 * time.Second},
			vault:  vaultTuning{tokenFile: tokenFile, pollInterval: 200 * time.Millisecond},
			logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
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
		if t.Failed() {
			out := logs.String()
			if len(out) > 20000 {
				out = out[len(out)-20000:]
			}
			t.Logf("runtime logs (tail):\n%s", out)
		}
	}()
	alive := func() {
		t.Helper()
		select {
		case err := <-done:
			done <- err
			t.Fatalf("runtime returned early: %v", err)
		default:
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status := func(what string, ok func(runtimeStatus) bool) runtimeStatus {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			alive()
			var st runtimeStatus
			code, body := get("/v1/status")
			if code == http.StatusOK && json.Unmarshal([]byte(body), &st) == nil && ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached within 30s: %s", what, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	kafkaCreds := func(st runtimeStatus) (c struct {
		Ready     bool
		Version   int
		LastError string
	}) {
		for _, s := range st.Credentials {
			if s.Name == v1alpha1.CredentialsKafkaSASL {
				c.Ready, c.Version, c.LastError = s.Ready, s.Version, s.LastError
			}
		}
		return c
	}

	// 1. Vault down: the runtime waits, says why, and does not exit.
	status("the Vault error reported", func(st runtimeStatus) bool {
		return strings.Contains(kafkaCreds(st).LastError, "503") && !st.Ready
	})
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for kafka-sasl credentials from vault") {
		t.Fatalf("/readyz while Vault is down: %d %q", code, body)
	}
	time.Sleep(time.Second)
	alive()

	// 2. Vault back: ready, and events flow.
	v.SetUnavailable(false)
	status("ready after Vault came back", func(st runtimeStatus) bool { return st.Ready && len(st.Partitions) == partitions })
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after Vault came back: %d %q", code, body)
	}
	gen := enginetest.NewGenerator(5, 40, 10, time.Now().Add(-5*time.Minute), time.Millisecond)
	var produced int64
	produce := func(n int) {
		t.Helper()
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			x := gen.Next()
			msgs[i] = kafka.Message{Key: x.Key, Value: x.Value}
		}
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		defer pcancel()
		if err := producer.WriteMessages(pctx, msgs...); err != nil {
			t.Fatal(err)
		}
		produced += int64(n)
	}
	caughtUp := func(what string) runtimeStatus {
		t.Helper()
		return status(what, func(st runtimeStatus) bool {
			var sum int64
			for _, p := range st.Partitions {
				sum += p.Offset
			}
			return st.Ready && sum == produced && st.EventsTotal >= produced
		})
	}
	produce(300)
	caughtUp("first batch processed")

	// 3. Rotation: on the cluster, then in Vault.
	kafkatest.SetSCRAMPassword(t, adminClient, "ecap", "second-kafka-password")
	v.Put("secret", "ecap/kafka", map[string]any{"username": "ecap", "password": "second-kafka-password"})
	status("version 2 in force", func(st runtimeStatus) bool { return kafkaCreds(st).Version == 2 })

	// Cut every established connection for a moment: the runtime must dial
	// and authenticate again, which only the new password allows.
	var authsAfterRotation atomic.Int64
	kc := cluster.Kfake()
	kc.ControlKey(int16(kmsg.SASLAuthenticate), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		authsAfterRotation.Add(1)
		return nil, nil, false
	})
	cutUntil := time.Now().Add(500 * time.Millisecond)
	kc.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		switch kmsg.Key(req.Key()) {
		case kmsg.SASLHandshake, kmsg.SASLAuthenticate, kmsg.ApiVersions:
			return nil, nil, false
		}
		if time.Now().After(cutUntil) {
			kc.DropControl()
			return nil, nil, false
		}
		kc.KeepControl()
		return nil, errors.New("connection cut by the rotation test"), true
	})
	time.Sleep(600 * time.Millisecond)
	produce(300)
	st := caughtUp("second batch processed after the rotation")
	if authsAfterRotation.Load() == 0 {
		t.Fatal("the runtime did not authenticate again after its connections were cut")
	}
	if c := kafkaCreds(st); c.Version != 2 || !c.Ready {
		t.Errorf("credentials status after rotation: %+v", c)
	}
	t.Logf("events=%d produced=%d sasl_authentications_after_rotation=%d", st.EventsTotal, produced, authsAfterRotation.Load())

	// 4. No secret in the logs or the status.
	_, rawStatus := get("/v1/status")
	out := logs.String()
	if !strings.Contains(out, "credentials rotated") || !strings.Contains(out, "vault login failed; retrying") {
		t.Errorf("the logs do not show the Vault outage and the rotation")
	}
	secrets := append([]string{"first-kafka-password", "second-kafka-password", "sa-jwt"}, v.IssuedTokens()...)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the runtime logs contain a secret (%d chars)", len(s))
		}
		if strings.Contains(rawStatus, s) {
			t.Errorf("/v1/status contains a secret (%d chars)", len(s))
		}
	}
}
