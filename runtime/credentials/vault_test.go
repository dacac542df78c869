package credentials_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/ecap-dev/ecap/runtime/credentials"
	"github.com/ecap-dev/ecap/runtime/credentials/vaulttest"
)

// These tests run the real hashicorp/vault/api client (and its Kubernetes
// auth helper) against vaulttest, a fake Vault implementing the documented
// endpoints the provider uses; vaulttest's package comment names the pages.

const (
	testRole = "ecap-runtime"
	testJWT  = "eyJhbGciOiJSUzI1NiJ9.sa-token.sig"
)

// syncBuffer is a bytes.Buffer safe for the provider's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	vault *vaulttest.Server
	cfg   credentials.VaultConfig
	logs  *syncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	v := vaulttest.Start(t, "kubernetes", testRole, testJWT)
	return &fixture{vault: v, cfg: baseConfig(t, v.URL), logs: &syncBuffer{}}
}

func baseConfig(t *testing.T, addr string) credentials.VaultConfig {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testJWT), 0o600); err != nil {
		t.Fatal(err)
	}
	return credentials.VaultConfig{
		Name: "kafka-sasl", Field: "pipeline.spec.kafka.sasl.credentials.vault",
		Address: addr, Role: testRole, Path: "ecap/kafka", TokenFile: tokenFile,
		PollInterval: 200 * time.Millisecond, MinRetry: 50 * time.Millisecond, MaxRetry: 200 * time.Millisecond,
	}
}

// start builds the provider and runs it until the test ends.
func (f *fixture) start(t *testing.T) *credentials.Vault {
	t.Helper()
	f.cfg.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := credentials.NewVault(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
		if t.Failed() {
			t.Logf("provider logs:\n%s", f.logs.String())
		}
	})
	return p
}

func pair(user, pass string) map[string]any {
	return map[string]any{"username": user, "password": pass}
}

func TestVaultLoginAndRead(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	p := f.start(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Expect(p.Wait(ctx)).To(Succeed())
	got, err := p.Current()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.Username).To(Equal("ecap"))
	g.Expect(got.Password.Reveal()).To(Equal("pass-v1"))
	st := p.Status()
	g.Expect(st.Ready).To(BeTrue())
	g.Expect(st.Source).To(Equal(credentials.KindVault))
	g.Expect(st.Version).To(Equal(1))
	g.Expect(st.Logins).To(Equal(1))
	g.Expect(st.LastError).To(BeEmpty())
	g.Expect(st.Location).To(ContainSubstring("secret/data/ecap/kafka"))
	g.Expect(f.vault.Requests("login")).To(Equal(1))
}

func TestVaultRotation(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	p := f.start(t)
	g.Eventually(func() int { return p.Status().Version }, 5*time.Second, 20*time.Millisecond).Should(Equal(1))

	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v2"))
	// Within a poll interval (200ms) plus slack for a loaded machine.
	g.Eventually(func() string {
		c, _ := p.Current()
		return c.Password.Reveal()
	}, 5*time.Second, 20*time.Millisecond).Should(Equal("pass-v2"))
	st := p.Status()
	g.Expect(st.Version).To(Equal(2))
	g.Expect(st.Rotations).To(Equal(1))
	g.Expect(st.Logins).To(Equal(1), "a rotation needs no new login")
	g.Expect(f.logs.String()).To(ContainSubstring(`"msg":"credentials rotated"`))
}

func TestVaultTokenRenewal(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.SetTokenTTL(3*time.Second, time.Hour, true)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	f.cfg.PollInterval = time.Hour // only renewals wake the loop
	p := f.start(t)

	// Renewal at two thirds of the 3s lease, then again.
	g.Eventually(func() int { return f.vault.Requests("renew") }, 10*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", 2))
	st := p.Status()
	g.Expect(st.Renewals).To(BeNumerically(">=", 2))
	g.Expect(st.Logins).To(Equal(1), "renewals keep the first token")
	g.Expect(st.TokenExpiresAt).NotTo(BeNil())
	g.Expect(st.TokenExpiresAt.After(time.Now())).To(BeTrue())
}

func TestVaultRenewalFailureLogsInAgain(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.SetTokenTTL(3*time.Second, time.Hour, true)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	f.cfg.PollInterval = time.Hour
	p := f.start(t)
	g.Eventually(func() bool { return p.Status().Ready }, 5*time.Second, 20*time.Millisecond).Should(BeTrue())

	f.vault.RevokeAll() // the renewal at ~2s gets 403
	g.Eventually(func() int { return p.Status().Logins }, 10*time.Second, 50*time.Millisecond).Should(Equal(2))
	g.Expect(f.logs.String()).To(ContainSubstring("vault token renewal failed; logging in again"))
	_, err := p.Current()
	g.Expect(err).NotTo(HaveOccurred(), "the credentials stay available")
	// The new token renews again.
	renewals := f.vault.Requests("renew")
	g.Eventually(func() int { return f.vault.Requests("renew") }, 10*time.Second, 50*time.Millisecond).Should(BeNumerically(">", renewals))
}

func TestVaultRevokedTokenOnReadLogsInAgain(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	p := f.start(t)
	g.Eventually(func() bool { return p.Status().Ready }, 5*time.Second, 20*time.Millisecond).Should(BeTrue())

	f.vault.RevokeAll()
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v2"))
	g.Eventually(func() int { return p.Status().Version }, 5*time.Second, 20*time.Millisecond).Should(Equal(2))
	st := p.Status()
	g.Expect(st.Logins).To(Equal(2))
	g.Expect(st.LastError).To(BeEmpty(), "a successful read clears the error")
	g.Expect(f.logs.String()).To(ContainSubstring("vault refused the token; logging in again"))
}

func TestVaultNonRenewableTokenLogsInBeforeExpiry(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.SetTokenTTL(2*time.Second, time.Hour, false)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	f.cfg.PollInterval = time.Hour
	p := f.start(t)
	g.Eventually(func() int { return p.Status().Logins }, 10*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", 2))
	g.Expect(f.vault.Requests("renew")).To(Equal(0))
}

func TestVaultDownAtStart(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	f.vault.SetUnavailable(true)
	p := f.start(t)

	g.Eventually(func() string { return p.Status().LastError }, 5*time.Second, 20*time.Millisecond).Should(ContainSubstring("503"))
	g.Consistently(func() bool { return p.Status().Ready }, 500*time.Millisecond, 50*time.Millisecond).Should(BeFalse())
	_, err := p.Current()
	g.Expect(err).To(MatchError(ContainSubstring("no credentials from Vault yet")))
	g.Expect(f.logs.String()).To(ContainSubstring("vault login failed; retrying"))

	f.vault.SetUnavailable(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Expect(p.Wait(ctx)).To(Succeed())
	g.Expect(p.Status().LastError).To(BeEmpty())
}

func TestVaultUnreachableAtStart(t *testing.T) {
	g := NewWithT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	f := &fixture{cfg: baseConfig(t, "http://"+addr), logs: &syncBuffer{}}
	p := f.start(t)
	g.Eventually(func() string { return p.Status().LastError }, 5*time.Second, 20*time.Millisecond).Should(ContainSubstring("connection refused"))
	g.Expect(p.Status().Ready).To(BeFalse())

	v := vaulttest.StartAt(t, addr, "kubernetes", testRole, testJWT)
	v.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	g.Eventually(func() bool { return p.Status().Ready }, 5*time.Second, 20*time.Millisecond).Should(BeTrue())
}

func TestVaultKeepsCredentialsWhileVaultIsDown(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	p := f.start(t)
	g.Eventually(func() bool { return p.Status().Ready }, 5*time.Second, 20*time.Millisecond).Should(BeTrue())
	f.vault.SetUnavailable(true)
	g.Eventually(func() string { return p.Status().LastError }, 5*time.Second, 20*time.Millisecond).Should(ContainSubstring("503"))
	c, err := p.Current()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Password.Reveal()).To(Equal("pass-v1"))
	g.Expect(p.Status().Ready).To(BeTrue())
}

func TestVaultBadSecretAndLogin(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fixture)
		want  string
	}{
		{"missing password field", func(f *fixture) {
			f.vault.Put("secret", "ecap/kafka", map[string]any{"username": "ecap"})
		}, `has no field "password" (pipeline.spec.kafka.sasl.credentials.vault.passwordKey)`},
		{"custom key not a string", func(f *fixture) {
			f.cfg.UsernameKey = "user"
			f.vault.Put("secret", "ecap/kafka", map[string]any{"user": 7, "password": "p"})
		}, `field "user" (pipeline.spec.kafka.sasl.credentials.vault.usernameKey) is not a non-empty string`},
		{"no such secret", func(f *fixture) { f.cfg.Path = "ecap/missing" }, "secret not found"},
		{"wrong role", func(f *fixture) { f.cfg.Role = "other" }, `invalid role name`},
		{"wrong jwt", func(f *fixture) {
			if err := os.WriteFile(f.cfg.TokenFile, []byte("forged"), 0o600); err != nil {
				panic(err)
			}
		}, "permission denied"},
		{"no token file", func(f *fixture) { f.cfg.TokenFile = "/nonexistent/token" }, "failed to read the ServiceAccount token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			f := newFixture(t)
			tt.setup(f)
			p := f.start(t)
			g.Eventually(func() string { return p.Status().LastError }, 5*time.Second, 20*time.Millisecond).Should(ContainSubstring(tt.want))
			g.Expect(p.Status().Ready).To(BeFalse())
		})
	}
}

func TestVaultConfigErrorsNameTheField(t *testing.T) {
	base := baseConfig(t, "http://127.0.0.1:8200")
	tests := []struct {
		name   string
		mutate func(c *credentials.VaultConfig)
		want   string
	}{
		{"address", func(c *credentials.VaultConfig) { c.Address = "vault:8200" }, "pipeline.spec.kafka.sasl.credentials.vault.address"},
		{"role", func(c *credentials.VaultConfig) { c.Role = "" }, "pipeline.spec.kafka.sasl.credentials.vault.role"},
		{"path", func(c *credentials.VaultConfig) { c.Path = "/" }, "pipeline.spec.kafka.sasl.credentials.vault.path"},
		{"ca", func(c *credentials.VaultConfig) { c.CACertFile = "/nonexistent/ca.pem" }, "pipeline.spec.kafka.sasl.credentials.vault.caSecretRef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			_, err := credentials.NewVault(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVault error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestNoSecretsInLogsOrStatus drives a whole cycle (login, read, rotation,
// renewals, a revoked token, a renewal failure, Vault down and back) with
// debug logging on and checks that no password and no Vault token appears
// in the logs or in the status JSON.
func TestNoSecretsInLogsOrStatus(t *testing.T) {
	g := NewWithT(t)
	f := newFixture(t)
	f.vault.SetTokenTTL(2*time.Second, time.Hour, true)
	f.vault.Put("secret", "ecap/kafka", pair("ecap", "first-s3cret-password"))
	p := f.start(t)
	g.Eventually(func() bool { return p.Status().Ready }, 5*time.Second, 20*time.Millisecond).Should(BeTrue())

	f.vault.Put("secret", "ecap/kafka", pair("ecap", "second-s3cret-password"))
	g.Eventually(func() int { return p.Status().Version }, 5*time.Second, 20*time.Millisecond).Should(Equal(2))
	g.Eventually(func() int { return p.Status().Renewals }, 10*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", 1))
	f.vault.RevokeAll()
	g.Eventually(func() int { return p.Status().Logins }, 10*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", 2))
	f.vault.SetUnavailable(true)
	g.Eventually(func() string { return p.Status().LastError }, 10*time.Second, 20*time.Millisecond).Should(ContainSubstring("503"))
	f.vault.SetUnavailable(false)
	g.Eventually(func() string { return p.Status().LastError }, 10*time.Second, 20*time.Millisecond).Should(BeEmpty())

	// The caller's own mistakes are covered too: printing the pair.
	c, _ := p.Current()
	slog.New(slog.NewJSONHandler(f.logs, nil)).Info("pair", "creds", c, "password", c.Password)
	fmt.Fprintf(f.logs, "%v %+v %#v %s %q\n", c, c, c, c.Password, c.Password)

	status, err := json.Marshal(p.Status())
	g.Expect(err).NotTo(HaveOccurred())
	pairJSON, _ := json.Marshal(c)
	logs := f.logs.String()
	g.Expect(logs).To(ContainSubstring("credentials rotated"), "the cycle ran")
	g.Expect(logs).To(ContainSubstring("logging in again"), "the cycle ran")
	tokens := f.vault.IssuedTokens()
	g.Expect(len(tokens)).To(BeNumerically(">=", 2))
	for _, secret := range append(tokens, "first-s3cret-password", "second-s3cret-password", testJWT) {
		g.Expect(logs).NotTo(ContainSubstring(secret))
		g.Expect(string(status)).NotTo(ContainSubstring(secret))
		g.Expect(string(pairJSON)).NotTo(ContainSubstring(secret))
	}
	g.Expect(string(pairJSON)).To(Equal(`{"username":"ecap","password":"[redacted]"}`))
}

func TestSecretPrintsRedacted(t *testing.T) {
	s := credentials.Secret("hunter2")
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v|%s|%q|%x|%#v|%+v", s, s, s, s, s, s),
		fmt.Sprintf("%v", credentials.Pair{Username: "u", Password: s}),
	} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("printed %q", out)
		}
	}
	b, _ := json.Marshal(map[string]any{"s": s})
	if string(b) != `{"s":"[redacted]"}` {
		t.Errorf("json %s", b)
	}
	if s.Reveal() != "hunter2" {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestStatic(t *testing.T) {
	s, err := credentials.NewStatic("kafka-sasl", "ECAP_KAFKA_USERNAME/ECAP_KAFKA_PASSWORD", credentials.Pair{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Current(); err != nil || c.Password.Reveal() != "p" || !s.Status().Ready {
		t.Fatalf("Current = %v, %v", c, err)
	}
	if _, err := credentials.NewStatic("kafka-sasl", "ECAP_KAFKA_USERNAME/ECAP_KAFKA_PASSWORD", credentials.Pair{Username: "u"}); err == nil || !strings.Contains(err.Error(), "ECAP_KAFKA_PASSWORD") {
		t.Fatalf("NewStatic with no password: %v", err)
	}
}

// TestVaultOverTLSWithCABundle checks caSecretRef's file: Vault over HTTPS
// is trusted with the bundle and refused without it.
func TestVaultOverTLSWithCABundle(t *testing.T) {
	g := NewWithT(t)
	v := vaulttest.StartTLS(t, "kubernetes", testRole, testJWT)
	v.Put("secret", "ecap/kafka", pair("ecap", "pass-v1"))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	g.Expect(os.WriteFile(caFile, v.CACertPEM(), 0o600)).To(Succeed())

	trusted := &fixture{vault: v, cfg: baseConfig(t, v.URL), logs: &syncBuffer{}}
	trusted.cfg.CACertFile = caFile
	p := trusted.start(t)
	g.Eventually(func() bool { return p.Status().Ready }, 5*time.Second, 20*time.Millisecond).Should(BeTrue())

	untrusted := &fixture{vault: v, cfg: baseConfig(t, v.URL), logs: &syncBuffer{}}
	q := untrusted.start(t)
	g.Eventually(func() string { return q.Status().LastError }, 5*time.Second, 20*time.Millisecond).Should(ContainSubstring("certificate"))
	g.Expect(q.Status().Ready).To(BeFalse())
}
