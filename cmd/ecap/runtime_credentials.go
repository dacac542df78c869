package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"log/slog"

	dto "github.com/prometheus/client_model/go"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/admin"
	"github.com/ecap-dev/ecap/runtime/credentials"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/lake"
)

// Environment variables holding object-storage keys when
// spec.sinks.lake.s3.credentials.secretRef is set.
const (
	envS3AccessKey = "ECAP_S3_ACCESS_KEY"
	envS3SecretKey = "ECAP_S3_SECRET_KEY"
)

// vaultTuning holds the Vault settings that are not part of the spec;
// hidden flags, so tests can point them at temporary files and poll faster.
type vaultTuning struct {
	// tokenFile is the ServiceAccount token sent at login.
	tokenFile string
	// pollInterval is how often the KV secret is re-read for rotations.
	pollInterval time.Duration
	// caDir replaces v1alpha1.VaultCAMountDir.
	caDir string
}

// credentialSources builds one credentials.Source per credential the
// Pipeline declares, keyed by v1alpha1.CredentialsKafkaSASL or
// v1alpha1.CredentialsLakeS3. Errors name the spec field.
func credentialSources(rc *v1alpha1.RuntimeConfig, vt vaultTuning, log *slog.Logger) (map[string]credentials.Source, error) {
	spec := rc.Pipeline.Spec
	out := map[string]credentials.Source{}
	add := func(name, field string, src v1alpha1.CredentialsSource, envUser, envPass string) error {
		switch {
		case src.Vault != nil:
			v := src.Vault
			caFile := ""
			if v.CASecretRef != nil {
				caFile = filepath.Join(defaultString(vt.caDir, v1alpha1.VaultCAMountDir), name, v1alpha1.VaultCAFile)
			}
			p, err := credentials.NewVault(credentials.VaultConfig{
				Name: name, Field: field + ".vault",
				Address: v.Address, Role: v.Role, AuthMountPath: v.AuthMountPath, KVMountPath: v.KVMountPath,
				Path: v.Path, UsernameKey: v.UsernameKey, PasswordKey: v.PasswordKey,
				CACertFile: caFile, TokenFile: vt.tokenFile, PollInterval: vt.pollInterval, Logger: log,
			})
			if err != nil {
				return err
			}
			out[name] = p
		case src.SecretRef != nil:
			location := envUser + "/" + envPass
			p, err := credentials.NewStatic(name, location, credentials.Pair{
				Username: os.Getenv(envUser), Password: credentials.Secret(os.Getenv(envPass)),
			})
			if err != nil {
				return fmt.Errorf("%s.secretRef: %w", field, err)
			}
			out[name] = p
		default:
			return fmt.Errorf("%s: exactly one of secretRef or vault must be set", field)
		}
		return nil
	}
	if s := spec.Kafka.SASL; s != nil {
		if err := add(v1alpha1.CredentialsKafkaSASL, "pipeline.spec.kafka.sasl.credentials", s.Credentials, envKafkaUsername, envKafkaPassword); err != nil {
			return nil, err
		}
	}
	if l := spec.Sinks.Lake; l != nil && l.S3 != nil {
		if err := add(v1alpha1.CredentialsLakeS3, "pipeline.spec.sinks.lake.s3.credentials", l.S3.Credentials, envS3AccessKey, envS3SecretKey); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func defaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// kafkaConfig builds the Kafka connection settings. SASL credentials are
// looked up at every connection's handshake, so a rotated Vault secret
// applies to new connections without a restart.
// TLS material is read from tlsDir (v1alpha1.KafkaTLSMountDir in a pod).
func kafkaConfig(rc *v1alpha1.RuntimeConfig, sources map[string]credentials.Source, tlsDir string) (kafkaio.Config, error) {
	k := rc.Pipeline.Spec.Kafka
	cfg := kafkaio.Config{Brokers: k.Brokers, ClientID: engine.ClientID(rc)}
	if k.TLS != nil {
		t, err := kafkaTLSConfig(k.TLS, defaultString(tlsDir, v1alpha1.KafkaTLSMountDir))
		if err != nil {
			return cfg, err
		}
		cfg.TLS = t
	}
	if k.SASL != nil {
		src := sources[v1alpha1.CredentialsKafkaSASL]
		if src == nil {
			return cfg, fmt.Errorf("pipeline.spec.kafka.sasl.credentials: no credentials source")
		}
		mech, err := kafkaio.NewDynamicSASL(string(k.SASL.Mechanism), func() (string, string, error) {
			p, err := src.Current()
			return p.Username, p.Password.Reveal(), err
		})
		if err != nil {
			return cfg, fmt.Errorf("pipeline.spec.kafka.sasl.mechanism: %w", err)
		}
		cfg.SASL = mech
	}
	return cfg, nil
}

// runtimeBackend serves the admin API from the moment the process starts:
// before the engine exists (waiting for credentials) it reports not ready,
// with the credentials' status and errors.
type runtimeBackend struct {
	pipeline string
	eng      atomic.Pointer[engine.Engine]
	sources  []credentials.Source // sorted by name
}

var (
	_ admin.Backend          = (*runtimeBackend)(nil)
	_ admin.NotReadyReasoner = (*runtimeBackend)(nil)
)

func newRuntimeBackend(pipeline string, sources map[string]credentials.Source) *runtimeBackend {
	b := &runtimeBackend{pipeline: pipeline}
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.sources = append(b.sources, sources[n])
	}
	return b
}

// runtimeStatus is /v1/status: the engine's status plus the credentials'.
type runtimeStatus struct {
	engine.Status
	Credentials []credentials.Status `json:"credentials,omitempty"`
}

// Ready implements admin.Backend: every credential obtained, every
// assigned partition restored and the lake (if any) writable.
func (b *runtimeBackend) Ready() bool {
	for _, s := range b.sources {
		if !s.Status().Ready {
			return false
		}
	}
	e := b.eng.Load()
	if e == nil {
		return false
	}
	ok, _ := e.LakeHealthy()
	return ok && e.Ready()
}

// NotReadyReason implements admin.NotReadyReasoner.
func (b *runtimeBackend) NotReadyReason() string {
	for _, s := range b.sources {
		if st := s.Status(); !st.Ready {
			why := fmt.Sprintf("waiting for %s credentials from %s", st.Name, st.Source)
			if st.LastError != "" {
				why += ": " + st.LastError
			}
			return why
		}
	}
	e := b.eng.Load()
	if e == nil {
		return "starting"
	}
	if ok, why := e.LakeHealthy(); !ok {
		return "lake unavailable, data stays staged: " + why
	}
	if why, pending := e.CatalogPending(); pending {
		return why
	}
	return ""
}

// Status implements admin.Backend.
func (b *runtimeBackend) Status() any {
	st := runtimeStatus{Status: engine.Status{Pipeline: b.pipeline}}
	if e := b.eng.Load(); e != nil {
		st.Status = e.Status()
	}
	for _, s := range b.sources {
		st.Credentials = append(st.Credentials, s.Status())
	}
	return st
}

// Customer implements admin.Backend.
func (b *runtimeBackend) Customer(id string) (any, bool) {
	if e := b.eng.Load(); e != nil {
		return e.Customer(id)
	}
	return nil, false
}

// SegmentationProfile implements admin.SegmentationBackend.
func (b *runtimeBackend) SegmentationProfile(name, customerID string) (any, bool, string) {
	if e := b.eng.Load(); e != nil {
		return e.SegmentationProfile(name, customerID)
	}
	return nil, false, "the runtime is still starting"
}

// Gather implements prometheus.Gatherer with the engine's registry once the
// engine exists.
func (b *runtimeBackend) Gather() ([]*dto.MetricFamily, error) {
	if e := b.eng.Load(); e != nil {
		return e.Metrics().Registry.Gather()
	}
	return nil, nil
}

// runSources keeps every source fresh until ctx ends; the returned wait
// blocks until they have stopped.
func runSources(ctx context.Context, sources map[string]credentials.Source, log *slog.Logger) (wait func()) {
	var wg sync.WaitGroup
	for name, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				log.Error("credentials source stopped", "credentials", name, "err", err)
			}
		}()
	}
	return wg.Wait
}

// openLake opens spec.sinks.lake, nil without one. The S3 key pair is
// asked from its credentials source at every request, so rotated keys
// apply at once and keys not yet available fail writes (retried) rather
// than the start.
func openLake(s *engine.Settings, sources map[string]credentials.Source) (*lake.Lake, error) {
	if s.Lake == nil {
		return nil, nil
	}
	src := sources[v1alpha1.CredentialsLakeS3]
	return engine.OpenLake(s.Lake, func() (string, string, error) {
		if src == nil {
			return "", "", fmt.Errorf("pipeline.spec.sinks.lake.s3.credentials: no credentials source")
		}
		p, err := src.Current()
		return p.Username, p.Password.Reveal(), err
	})
}
