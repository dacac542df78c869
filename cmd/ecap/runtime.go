package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/admin"
	"github.com/ecap-dev/ecap/runtime/credentials"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/rulewatch"
)

func init() { extraCommands = append(extraCommands, newRuntimeCommand) }

// Environment variables holding the Kafka SASL credentials when
// spec.kafka.sasl.credentials.secretRef is set (the Deployment maps the
// Secret's keys onto them).
const (
	envKafkaUsername = "ECAP_KAFKA_USERNAME"
	envKafkaPassword = "ECAP_KAFKA_PASSWORD"
)

func newRuntimeCommand() *cobra.Command {
	var configPath, adminAddr, watchRules string
	var tuning groupTuning
	var vault vaultTuning
	var tlsDir string
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "Run a Pipeline's data plane from its resolved RuntimeConfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return runRuntimeWith(ctx, runtimeOptions{configPath: configPath, adminAddr: adminAddr, tuning: tuning, vault: vault, tlsDir: tlsDir, watchRules: watchRules})
		},
	}
	cmd.Flags().StringVar(&configPath, "config", filepath.Join(v1alpha1.RuntimeConfigMountPath, v1alpha1.RuntimeConfigKey), "path of the RuntimeConfig JSON file")
	cmd.Flags().StringVar(&adminAddr, "admin-addr", ":9090", "listen address of the admin server (health, metrics, status, pprof)")
	cmd.Flags().StringVar(&watchRules, "watch-rule-sets", "auto",
		"read FraudRuleSets from the API server with a watch instead of the config file: auto (when running in a cluster), on (kubeconfig from KUBECONFIG or in-cluster; failing to connect is fatal), off")
	cmd.Flags().StringVar(&vault.tokenFile, "vault-token-file", credentials.DefaultTokenFile, "ServiceAccount token sent to Vault's Kubernetes auth method")
	cmd.Flags().DurationVar(&vault.pollInterval, "vault-poll-interval", credentials.DefaultPollInterval, "how often Vault KV secrets are re-read to pick up rotated credentials")
	cmd.Flags().StringVar(&tlsDir, "kafka-tls-dir", v1alpha1.KafkaTLSMountDir, "directory of the mounted Kafka TLS material (<dir>/tls-ca/tls-ca.pem, tls-cert, tls-key)")
	cmd.Flags().StringVar(&vault.caDir, "vault-ca-dir", v1alpha1.VaultCAMountDir, "directory of the mounted Vault CA bundles (<dir>/<credentials>/ca.pem)")
	// Group failure-detection tuning; hidden because the defaults suit
	// production and the crash tests need faster takeovers.
	cmd.Flags().DurationVar(&tuning.session, "kafka-session-timeout", 0, "consumer group session timeout (0: kafkaio default)")
	cmd.Flags().DurationVar(&tuning.heartbeat, "kafka-heartbeat-interval", 0, "consumer group heartbeat interval (0: kafkaio default)")
	cmd.Flags().DurationVar(&tuning.rebalance, "kafka-rebalance-timeout", 0, "consumer group rebalance timeout (0: kafkaio default)")
	for _, f := range []string{"kafka-session-timeout", "kafka-heartbeat-interval", "kafka-rebalance-timeout", "vault-token-file", "vault-ca-dir", "kafka-tls-dir"} {
		_ = cmd.Flags().MarkHidden(f)
	}
	return cmd
}

type groupTuning struct{ session, heartbeat, rebalance time.Duration }

// loadRuntimeConfig reads and decodes the RuntimeConfig file strictly.
func loadRuntimeConfig(path string) (*v1alpha1.RuntimeConfig, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read the runtime config: %w", err)
	}
	var rc v1alpha1.RuntimeConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rc); err != nil {
		return nil, nil, fmt.Errorf("failed to decode the runtime config %s: %w", path, err)
	}
	if rc.Kind != "" && rc.Kind != v1alpha1.RuntimeConfigKind {
		return nil, nil, fmt.Errorf("%s: kind is %q, want %q", path, rc.Kind, v1alpha1.RuntimeConfigKind)
	}
	return &rc, data, nil
}

// runtimeOptions are the settings of one runtime process.
type runtimeOptions struct {
	configPath, adminAddr string
	tuning                groupTuning
	vault                 vaultTuning
	// tlsDir replaces v1alpha1.KafkaTLSMountDir.
	tlsDir string
	// logger replaces the JSON logger on stderr (tests capture the logs).
	logger *slog.Logger
	// watchRules is --watch-rule-sets: auto, on or off ("" is off).
	watchRules string
}

func runRuntime(ctx context.Context, configPath, adminAddr string, tuning groupTuning) error {
	return runRuntimeWith(ctx, runtimeOptions{configPath: configPath, adminAddr: adminAddr, tuning: tuning})
}

func runRuntimeWith(ctx context.Context, o runtimeOptions) error {
	log := o.logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	configPath := o.configPath
	rc, raw, err := loadRuntimeConfig(configPath)
	if err != nil {
		return err
	}
	settings, err := engine.Resolve(rc)
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}
	sources, err := credentialSources(rc, o.vault, log)
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}
	kcfg, err := kafkaConfig(rc, sources, o.tlsDir)
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}
	kcfg.Logger = log
	kcfg.SessionTimeout, kcfg.HeartbeatInterval, kcfg.RebalanceTimeout = o.tuning.session, o.tuning.heartbeat, o.tuning.rebalance

	// The admin server comes up first: while credentials are awaited,
	// /readyz says why the runtime is not ready and /v1/status shows the
	// credentials' last error, instead of the process exiting.
	backend := newRuntimeBackend(settings.Pipeline, sources)
	srv, err := admin.Listen(o.adminAddr, admin.Handler(backend, backend))
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", o.adminAddr, err)
	}
	go func() {
		if err := srv.Serve(); err != nil {
			log.Error("admin server stopped", "err", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	cctx, stopSources := context.WithCancel(ctx)
	waitSources := runSources(cctx, sources, log)
	defer waitSources()
	defer stopSources()
	if src := sources[v1alpha1.CredentialsKafkaSASL]; src != nil {
		if st := src.Status(); !st.Ready {
			log.Info("waiting for Kafka credentials", "source", st.Source, "location", st.Location, "admin", srv.Addr())
		}
		if err := src.Wait(ctx); err != nil {
			log.Info("runtime stopped before Kafka credentials were available")
			return nil
		}
	}

	if err := engine.EnsureTopics(ctx, kcfg, &settings); err != nil {
		return err
	}
	lk, err := openLake(&settings, sources)
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}
	eng, err := engine.New(settings, engine.Options{Kafka: kcfg, Group: engine.ConsumerGroup(rc), RuleSets: rc.FraudRuleSets, Segmentations: rc.Segmentations, Logger: log, Lake: lk})
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}
	backend.eng.Store(eng)
	log.Info("runtime started", "pipeline", settings.Pipeline, "generation", settings.Generation, "admin", srv.Addr())

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watching, err := startRuleSetWatch(wctx, o.watchRules, rc, eng, log)
	if err != nil {
		return err
	}
	// The config file stays the source of rule sets without a watch; with
	// one, the file lags behind and would undo newer generations.
	if !watching {
		go watchRuleSets(wctx, configPath, raw, eng, log)
	}

	if err := eng.Run(ctx); err != nil {
		return fmt.Errorf("engine stopped: %w", err)
	}
	log.Info("runtime stopped cleanly")
	return nil
}

// startRuleSetWatch starts the API-server watch of the Pipeline's
// FraudRuleSets as the mode says and reports whether it runs.
func startRuleSetWatch(ctx context.Context, mode string, rc *v1alpha1.RuntimeConfig, eng *engine.Engine, log *slog.Logger) (bool, error) {
	var cfg *rest.Config
	var err error
	switch mode {
	case "off", "":
		return false, nil
	case "auto":
		if cfg, err = rest.InClusterConfig(); err != nil {
			return false, nil // not in a cluster
		}
	case "on":
		if cfg, err = ctrlconfig.GetConfig(); err != nil {
			return false, fmt.Errorf("--watch-rule-sets=on: %w", err)
		}
	default:
		return false, fmt.Errorf("--watch-rule-sets: %q is not auto, on or off", mode)
	}
	ns := rc.Pipeline.Namespace
	logged := map[string]int64{} // Apply calls are serialized
	_, err = rulewatch.Start(ctx, rulewatch.Options{Config: cfg, Namespace: ns, Pipeline: rc.Pipeline.Name, Logger: log,
		Apply: func(sets []v1alpha1.FraudRuleSetConfig) {
			for _, e := range eng.SetRuleSets(sets) {
				log.Error("rule set reload failed; the previous generation keeps scoring", "err", e)
			}
			// Status updates of the objects arrive too; log changes only.
			for _, rs := range eng.Status().RuleSets {
				if logged[rs.Name] != rs.AppliedGeneration {
					logged[rs.Name] = rs.AppliedGeneration
					log.Info("rule set applied", "ruleSet", rs.Name, "generation", rs.AppliedGeneration, "source", "watch")
				}
			}
		}})
	if err != nil {
		if mode == "on" {
			return false, err
		}
		log.Error("FraudRuleSet watch unavailable; rule sets reload from the mounted config instead (slower)", "namespace", ns, "err", err)
		return false, nil
	}
	log.Info("watching FraudRuleSets", "namespace", ns, "pipeline", rc.Pipeline.Name)
	return true, nil
}

// watchRuleSets reloads the fraud rule sets and Segmentations when the
// config file changes.
// It watches the directory, not the file: a mounted ConfigMap is updated by
// swapping a symlink, which a watch on the file itself would miss.
func watchRuleSets(ctx context.Context, path string, last []byte, eng *engine.Engine, log *slog.Logger) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Error("config watch unavailable; rule sets will not hot-reload", "err", err)
		return
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		log.Error("config watch unavailable; rule sets will not hot-reload", "dir", filepath.Dir(path), "err", err)
		return
	}
	reload := func() {
		data, err := os.ReadFile(path)
		if err != nil || bytes.Equal(data, last) {
			return
		}
		rc, _, err := loadRuntimeConfig(path)
		if err != nil {
			log.Error("config reload failed; keeping the current rule sets", "err", err)
			return
		}
		last = data
		if errs := eng.SetRuleSets(rc.FraudRuleSets); len(errs) > 0 {
			for _, e := range errs {
				log.Error("rule set reload failed; the previous generation keeps scoring", "err", e)
			}
		}
		for _, rs := range eng.Status().RuleSets {
			log.Info("rule set applied", "ruleSet", rs.Name, "generation", rs.AppliedGeneration)
		}
		for _, e := range eng.SetSegmentations(rc.Segmentations) {
			log.Error("segmentation not applied", "err", e)
		}
	}
	// Debounce: editors and kubelet write in several steps.
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				timer = time.After(100 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			log.Warn("config watch error", "err", err)
		case <-timer:
			timer = nil
			reload()
		}
	}
}
