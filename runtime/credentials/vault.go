package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	k8sauth "github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/ecap-dev/ecap/runtime/ctxtime"
)

// DefaultTokenFile is where Kubernetes mounts the pod's ServiceAccount token.
const DefaultTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Defaults for VaultConfig's zero fields.
const (
	DefaultPollInterval   = time.Minute
	DefaultMinRetry       = time.Second
	DefaultMaxRetry       = 30 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// VaultConfig locates a username/password pair in a Vault KV version 2
// secret and says how to log in for it.
type VaultConfig struct {
	// Name says what the credentials are for ("kafka-sasl"); it labels logs
	// and the status.
	Name string
	// Field is the spec path of the credentials source, used in error
	// messages ("pipeline.spec.kafka.sasl.credentials.vault").
	Field string
	// Address of the Vault server, http(s)://host:port. Required.
	Address string
	// Role is the Kubernetes-auth role to log in as. Required.
	Role string
	// AuthMountPath is the Kubernetes auth method's mount; default "kubernetes".
	AuthMountPath string
	// KVMountPath is the KV v2 engine's mount; default "secret".
	KVMountPath string
	// Path of the secret within the engine. Required.
	Path string
	// UsernameKey and PasswordKey are the secret's fields holding the pair;
	// defaults "username" and "password".
	UsernameKey, PasswordKey string
	// CACertFile is a PEM bundle verifying Vault's certificate; empty uses
	// the system roots.
	CACertFile string
	// TokenFile holds the ServiceAccount JWT sent at login; it is read at
	// every login because projected tokens are rotated by the kubelet.
	// Default DefaultTokenFile.
	TokenFile string
	// PollInterval is how often the secret is re-read to pick up a rotation
	// (KV v2 secrets carry no lease to watch); default one minute.
	PollInterval time.Duration
	// MinRetry and MaxRetry bound the exponential backoff after failures;
	// defaults 1s and 30s.
	MinRetry, MaxRetry time.Duration
	// RequestTimeout bounds one Vault request; default 10s.
	RequestTimeout time.Duration
	// Logger receives the provider's logs (never secret values); nil
	// discards them.
	Logger *slog.Logger
}

func (c VaultConfig) withDefaults() (VaultConfig, error) {
	field := c.Field
	if field == "" {
		field = "vault"
	}
	switch {
	case !strings.HasPrefix(c.Address, "http://") && !strings.HasPrefix(c.Address, "https://"):
		return c, fmt.Errorf("%s.address: %q is not an http(s) URL", field, c.Address)
	case c.Role == "":
		return c, fmt.Errorf("%s.role: must be set", field)
	case strings.Trim(c.Path, "/") == "":
		return c, fmt.Errorf("%s.path: must be set", field)
	}
	setDefault(&c.Name, "credentials")
	setDefault(&c.AuthMountPath, "kubernetes")
	setDefault(&c.KVMountPath, "secret")
	setDefault(&c.UsernameKey, "username")
	setDefault(&c.PasswordKey, "password")
	setDefault(&c.TokenFile, DefaultTokenFile)
	setDefault(&c.PollInterval, DefaultPollInterval)
	setDefault(&c.MinRetry, DefaultMinRetry)
	setDefault(&c.MaxRetry, DefaultMaxRetry)
	setDefault(&c.RequestTimeout, DefaultRequestTimeout)
	c.AuthMountPath = strings.Trim(c.AuthMountPath, "/")
	c.KVMountPath = strings.Trim(c.KVMountPath, "/")
	c.Path = strings.Trim(c.Path, "/")
	c.Field = field
	if c.MaxRetry < c.MinRetry {
		c.MaxRetry = c.MinRetry
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Vault is a Source backed by a Vault KV version 2 secret. Run logs in with
// the Kubernetes auth method, reads the secret, renews the token before it
// expires, logs in again when renewal fails or the token is refused (403),
// and re-reads the secret every PollInterval; a new KV version replaces the
// credentials returned by Current. Failures are retried with exponential
// backoff and reported in Status; Run never gives up while ctx lives.
type Vault struct {
	cfg    VaultConfig
	client *vault.Client
	log    *slog.Logger
	ready  chan struct{}

	mu     sync.RWMutex
	pair   Pair
	status Status
}

var _ Source = (*Vault)(nil)

// NewVault checks cfg and builds the Vault client. It does no I/O besides
// reading CACertFile.
func NewVault(cfg VaultConfig) (*Vault, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	vc := vault.DefaultConfig()
	if vc.Error != nil {
		return nil, fmt.Errorf("%s: failed to configure the Vault client: %w", cfg.Field, vc.Error)
	}
	vc.Address = cfg.Address
	vc.Timeout = cfg.RequestTimeout
	// Retries and their backoff are Run's job, so that each failure is
	// reported; the client's own retries would hide them.
	vc.MaxRetries = 0
	if cfg.CACertFile != "" {
		if err := vc.ConfigureTLS(&vault.TLSConfig{CACert: cfg.CACertFile}); err != nil {
			return nil, fmt.Errorf("%s.caSecretRef: failed to load the CA bundle %s: %w", cfg.Field, cfg.CACertFile, err)
		}
	}
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("%s: failed to create the Vault client: %w", cfg.Field, err)
	}
	// NewClient picks up VAULT_TOKEN from the environment; this provider
	// authenticates only through the Kubernetes auth method.
	client.ClearToken()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("credentials", cfg.Name, "vault", cfg.Address, "path", cfg.KVMountPath+"/"+cfg.Path)
	v := &Vault{cfg: cfg, client: client, log: log, ready: make(chan struct{})}
	v.status = Status{Name: cfg.Name, Source: KindVault, Location: v.location()}
	return v, nil
}

func (v *Vault) location() string {
	return fmt.Sprintf("%s %s/data/%s (auth/%s role %s)", v.cfg.Address, v.cfg.KVMountPath, v.cfg.Path, v.cfg.AuthMountPath, v.cfg.Role)
}

// Current implements Source.
func (v *Vault) Current() (Pair, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if !v.status.Ready {
		if v.status.LastError != "" {
			return Pair{}, fmt.Errorf("%s: no credentials from Vault yet: %s", v.cfg.Name, v.status.LastError)
		}
		return Pair{}, fmt.Errorf("%s: no credentials from Vault yet", v.cfg.Name)
	}
	return v.pair, nil
}

// Status implements Source.
func (v *Vault) Status() Status {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.status
}

// Wait implements Source.
func (v *Vault) Wait(ctx context.Context) error {
	select {
	case <-v.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// token is what Run keeps about its current Vault token; the token itself
// lives only inside the client.
type token struct {
	obtained  time.Time
	lease     time.Duration // 0: does not expire
	loginTTL  time.Duration // lease granted at login, the renewal increment
	renewable bool
	used      bool // a read succeeded with it
}

// refreshAt is when the token should be renewed (or replaced by a login):
// at two thirds of its lease, as Vault's own agent does.
func (t *token) refreshAt() time.Time {
	if t.lease <= 0 {
		return time.Time{}
	}
	return t.obtained.Add(t.lease * 2 / 3)
}

// Run implements Source. It returns nil when ctx ends.
func (v *Vault) Run(ctx context.Context) error {
	var tok *token
	var nextRead time.Time
	retry := v.cfg.MinRetry
	backoff := func() bool {
		ok := ctxtime.Sleep(ctx, retry)
		retry = min(2*retry, v.cfg.MaxRetry)
		return ok
	}
	for ctx.Err() == nil {
		if tok == nil {
			t, err := v.login(ctx)
			if err != nil {
				v.fail("vault login failed; retrying", err, retry)
				if !backoff() {
					break
				}
				continue
			}
			tok = t
		}
		now := time.Now()
		if !now.Before(nextRead) {
			err := v.read(ctx)
			if isPermissionDenied(err) {
				// The token was revoked or expired: log in again at once,
				// unless it is fresh (then the role's policy is wrong and a
				// login storm would not help).
				v.client.ClearToken()
				fresh := !tok.used
				tok = nil
				v.fail("vault refused the token; logging in again", err, retry)
				if fresh && !backoff() {
					break
				}
				continue
			}
			if err != nil {
				v.fail("vault secret read failed; retrying", err, retry)
				if !backoff() {
					break
				}
				continue
			}
			tok.used = true
			retry = v.cfg.MinRetry
			nextRead = time.Now().Add(v.cfg.PollInterval)
		}
		if at := tok.refreshAt(); !at.IsZero() && !time.Now().Before(at) {
			if !tok.renewable {
				v.log.Info("vault token not renewable; logging in again", "ttl", tok.lease)
				v.client.ClearToken()
				tok = nil
				continue
			}
			if err := v.renew(ctx, tok); err != nil {
				v.client.ClearToken()
				tok = nil
				v.fail("vault token renewal failed; logging in again", err, retry)
				continue
			}
		}
		wake := nextRead
		if at := tok.refreshAt(); !at.IsZero() && at.Before(wake) {
			wake = at
		}
		if !ctxtime.Sleep(ctx, time.Until(wake)) {
			break
		}
	}
	return nil
}

// login authenticates with the ServiceAccount token read from TokenFile.
func (v *Vault) login(ctx context.Context) (*token, error) {
	auth, err := k8sauth.NewKubernetesAuth(v.cfg.Role,
		k8sauth.WithMountPath(v.cfg.AuthMountPath),
		k8sauth.WithServiceAccountTokenPath(v.cfg.TokenFile))
	if err != nil {
		return nil, fmt.Errorf("failed to read the ServiceAccount token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.RequestTimeout)
	defer cancel()
	secret, err := v.client.Auth().Login(ctx, auth)
	if err != nil {
		return nil, err
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, errors.New("vault login returned no token")
	}
	lease := time.Duration(secret.Auth.LeaseDuration) * time.Second
	t := &token{obtained: time.Now(), lease: lease, loginTTL: lease, renewable: secret.Auth.Renewable}
	v.mu.Lock()
	v.status.Logins++
	v.status.TokenExpiresAt = expiry(t)
	v.mu.Unlock()
	v.log.Info("vault login succeeded", "role", v.cfg.Role, "ttl", lease, "renewable", t.renewable)
	return t, nil
}

// renew extends the token's lease by its login TTL. Vault may grant less
// (the role's max TTL); when the grant falls below a third of the login
// TTL, the next refresh logs in again instead of renewing a dying token.
func (v *Vault) renew(ctx context.Context, t *token) error {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.RequestTimeout)
	defer cancel()
	secret, err := v.client.Auth().Token().RenewSelfWithContext(ctx, int(t.loginTTL/time.Second))
	if err != nil {
		return err
	}
	if secret == nil || secret.Auth == nil {
		return errors.New("vault token renewal returned no auth data")
	}
	t.obtained = time.Now()
	t.lease = time.Duration(secret.Auth.LeaseDuration) * time.Second
	t.renewable = secret.Auth.Renewable && t.lease*3 >= t.loginTTL
	v.mu.Lock()
	v.status.Renewals++
	v.status.TokenExpiresAt = expiry(t)
	v.mu.Unlock()
	v.log.Info("vault token renewed", "ttl", t.lease)
	return nil
}

// read fetches the latest version of the secret and installs it when its
// version differs from the one in force.
func (v *Vault) read(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.RequestTimeout)
	defer cancel()
	kv, err := v.client.KVv2(v.cfg.KVMountPath).Get(ctx, v.cfg.Path)
	if err != nil {
		return err
	}
	version := 0
	if kv.VersionMetadata != nil {
		version = kv.VersionMetadata.Version
	}
	user, err := stringField(kv.Data, v.cfg.UsernameKey, v.cfg.Field+".usernameKey")
	if err != nil {
		return fmt.Errorf("secret %s/%s version %d: %w", v.cfg.KVMountPath, v.cfg.Path, version, err)
	}
	pass, err := stringField(kv.Data, v.cfg.PasswordKey, v.cfg.Field+".passwordKey")
	if err != nil {
		return fmt.Errorf("secret %s/%s version %d: %w", v.cfg.KVMountPath, v.cfg.Path, version, err)
	}
	now := time.Now()
	v.mu.Lock()
	prev, first := v.status.Version, !v.status.Ready
	changed := first || version != prev || user != v.pair.Username || pass != v.pair.Password.Reveal()
	if changed {
		v.pair = Pair{Username: user, Password: Secret(pass)}
		v.status.Username = user
		v.status.Version = version
		if !first {
			v.status.Rotations++
		}
	}
	v.status.Ready = true
	v.status.ReadAt = &now
	v.status.LastError, v.status.LastErrorAt = "", nil
	v.mu.Unlock()
	switch {
	case first:
		close(v.ready)
		v.log.Info("credentials read from vault", "version", version, "username", user)
	case changed:
		v.log.Info("credentials rotated", "fromVersion", prev, "version", version, "username", user)
	}
	return nil
}

// fail records err in the status and logs it. Vault's error texts carry the
// request URL and Vault's messages, never the token or the secret.
func (v *Vault) fail(msg string, err error, retryIn time.Duration) {
	now := time.Now()
	v.mu.Lock()
	v.status.LastError = err.Error()
	v.status.LastErrorAt = &now
	ready := v.status.Ready
	v.mu.Unlock()
	v.log.Warn(msg, "err", err, "retryIn", retryIn, "haveCredentials", ready)
}

func stringField(data map[string]any, key, field string) (string, error) {
	raw, ok := data[key]
	if !ok {
		return "", fmt.Errorf("has no field %q (%s)", key, field)
	}
	s, ok := raw.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("field %q (%s) is not a non-empty string", key, field)
	}
	return s, nil
}

func expiry(t *token) *time.Time {
	if t.lease <= 0 {
		return nil
	}
	at := t.obtained.Add(t.lease)
	return &at
}

// isPermissionDenied reports a 403 from Vault: a revoked or expired token
// (or a policy that does not grant the path).
func isPermissionDenied(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}
