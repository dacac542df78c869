package kafkaio_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ecap-dev/ecap/runtime/credentials"
	"github.com/ecap-dev/ecap/runtime/credentials/vaulttest"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// TestSASLCredentialsRotateFromVault connects with SCRAM credentials read
// from (fake) Vault, rotates the password on the cluster and in Vault while
// a consumer group runs and a writer produces, and checks that new
// connections of the same Client authenticate with the new password and that
// every produced record is consumed.
func TestSASLCredentialsRotateFromVault(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.KfakeOptions(
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "admin", "admin-pass"),
		kfake.Superuser("SCRAM-SHA-256", "ecap", "pass-v1"),
	))
	admin := &kafka.Client{Addr: kafka.TCP(c.Addrs()...), Timeout: 10 * time.Second,
		Transport: &kafka.Transport{SASL: plain.Mechanism{Username: "admin", Password: "admin-pass"}}}

	v := vaulttest.Start(t, "kubernetes", "ecap", "jwt")
	v.Put("secret", "ecap/kafka", map[string]any{"username": "ecap", "password": "pass-v1"})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	provider, err := credentials.NewVault(credentials.VaultConfig{
		Name: "kafka-sasl", Address: v.URL, Role: "ecap", Path: "ecap/kafka", TokenFile: tokenFile,
		PollInterval: 100 * time.Millisecond, MinRetry: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go provider.Run(ctx)
	var handshakesV2 atomic.Int64 // handshakes that used the rotated password
	mech, err := kafkaio.NewDynamicSASL("SCRAM-SHA-256", func() (string, string, error) {
		p, err := provider.Current()
		if p.Password.Reveal() == "pass-v2" {
			handshakesV2.Add(1)
		}
		return p.Username, p.Password.Reveal(), err
	})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := provider.Wait(wctx); err != nil {
		t.Fatal(err)
	}

	const topic, perRound = "rotating", 200
	cfg := testConfig(c, "rotating-group", topic)
	cfg.SASL = mech
	cl := newClient(t, cfg)
	if err := cl.EnsureTopics(ctx, kafkaio.TopicSpec{Name: topic, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	src, err := cl.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder("rotating", src, true)
	stop := runSource(t, src, rec)
	w := cl.NewWriter()
	defer w.Close()
	produced := 0
	produce := func(round string) {
		t.Helper()
		msgs := make([]kafka.Message, perRound)
		for i := range msgs {
			msgs[i] = message(topic, fmt.Sprintf("cus-%d", i%13), fmt.Sprintf("%s-%d", round, i))
		}
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		defer pcancel()
		if err := w.WriteBatch(pctx, msgs); err != nil {
			t.Fatalf("round %s: %v", round, err)
		}
		produced += perRound
	}
	produce("before")
	waitFor(t, "the first round", func() bool { return rec.distinctValues() == produced })

	// Rotate on the cluster first: the old password stops working for new
	// connections, established ones stay authenticated.
	kafkatest.SetSCRAMPassword(t, admin, "ecap", "pass-v2")
	old, _ := kafkaio.NewSASL("SCRAM-SHA-256", "ecap", "pass-v1")
	if err := newClient(t, kafkaio.Config{Brokers: c.Addrs(), SASL: old}).Ping(ctx); err == nil || !strings.Contains(err.Error(), "SASL") {
		t.Fatalf("the old password still authenticates new connections (%v): the rotation did not happen", err)
	}
	produce("during") // on established connections

	// Then in Vault; the provider picks it up within its poll interval.
	v.Put("secret", "ecap/kafka", map[string]any{"username": "ecap", "password": "pass-v2"})
	waitFor(t, "the provider to read version 2", func() bool { return provider.Status().Version == 2 })

	// Force new connections on the same Client: they must use pass-v2.
	cl.Close()
	produce("after")
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("Ping on a new connection after rotation: %v", err)
	}
	if handshakesV2.Load() == 0 {
		t.Fatal("no connection authenticated with the rotated password")
	}
	// A Client created after the rotation works from the start.
	fresh := newClient(t, kafkaio.Config{Brokers: c.Addrs(), SASL: mech})
	if err := fresh.Ping(ctx); err != nil {
		t.Fatalf("new client after rotation: %v", err)
	}

	waitFor(t, "every record", func() bool { return rec.distinctValues() == produced })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := rec.distinctValues(); got != 3*perRound {
		t.Fatalf("consumed %d distinct records, produced %d", got, 3*perRound)
	}
	if st := provider.Status(); st.Rotations != 1 || st.Logins != 1 {
		t.Errorf("provider status %+v, want one rotation with one login", st)
	}
}

func TestDynamicSASLRejectsUnknownMechanism(t *testing.T) {
	if _, err := kafkaio.NewDynamicSASL("GSSAPI", nil); err == nil || !strings.Contains(err.Error(), "GSSAPI") {
		t.Fatalf("NewDynamicSASL(GSSAPI) = %v", err)
	}
}
