package kafkaio_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// TestSASL runs the whole path (admin, writer, consumer group, commit) on
// a cluster that requires authentication, once per mechanism.
func TestSASL(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.KfakeOptions(
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pass-256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pass-512"),
	))
	for _, tc := range []struct{ mechanism, user, pass string }{
		{"PLAIN", "plain-user", "plain-pass"},
		{"SCRAM-SHA-256", "scram256", "pass-256"},
		{"SCRAM-SHA-512", "scram512", "pass-512"},
	} {
		t.Run(tc.mechanism, func(t *testing.T) {
			mech, err := kafkaio.NewSASL(tc.mechanism, tc.user, tc.pass)
			if err != nil {
				t.Fatal(err)
			}
			topic := "sasl-" + strings.ToLower(tc.mechanism)
			cfg := testConfig(c, topic, topic)
			cfg.SASL = mech
			cl := newClient(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			if err := cl.EnsureTopics(ctx, kafkaio.TopicSpec{Name: topic, Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			w := cl.NewWriter()
			defer w.Close()
			if err := w.WriteBatch(ctx, []kafka.Message{message(topic, "k", "hello")}); err != nil {
				t.Fatal(err)
			}
			src, _ := cl.NewSource()
			rec := newRecorder(tc.mechanism, src, true)
			stop := runSource(t, src, rec)
			waitFor(t, "the record", func() bool { return rec.distinctValues() == 1 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if total, _, err := cl.Lag(ctx, topic, []string{topic}); err != nil || total != 0 {
				t.Fatalf("Lag = %d, %v; want 0", total, err)
			}
		})
	}
	t.Run("WrongPassword", func(t *testing.T) {
		mech, _ := kafkaio.NewSASL("SCRAM-SHA-512", "scram512", "wrong")
		cl := newClient(t, kafkaio.Config{Brokers: c.Addrs(), SASL: mech})
		err := cl.Ping(context.Background())
		if err == nil || !strings.Contains(err.Error(), "SASL") {
			t.Fatalf("Ping with a wrong password = %v, want a SASL error", err)
		}
		t.Log(err)
	})
	t.Run("UnknownMechanism", func(t *testing.T) {
		if _, err := kafkaio.NewSASL("GSSAPI", "u", "p"); err == nil {
			t.Fatal("NewSASL accepted GSSAPI")
		}
	})
}
