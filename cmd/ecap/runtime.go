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

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/admin"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
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
	var configPath, adminAddr string
	var tuning groupTuning
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "Run a Pipeline's data plane from its resolved RuntimeConfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return runRuntime(ctx, configPath, adminAddr, tuning)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", filepath.Join(v1alpha1.RuntimeConfigMountPath, v1alpha1.RuntimeConfigKey), "path of the RuntimeConfig JSON file")
	cmd.Flags().StringVar(&adminAddr, "admin-addr", ":9090", "listen address of the admin server (health, metrics, status, pprof)")
	// Group failure-detection tuning; hidden because the defaults suit
	// production and the crash tests need faster takeovers.
	cmd.Flags().DurationVar(&tuning.session, "kafka-session-timeout", 0, "consumer group session timeout (0: kafkaio default)")
	cmd.Flags().DurationVar(&tuning.heartbeat, "kafka-heartbeat-interval", 0, "consumer group heartbeat interval (0: kafkaio default)")
	cmd.Flags().DurationVar(&tuning.rebalance, "kafka-rebalance-timeout", 0, "consumer group rebalance timeout (0: kafkaio default)")
	for _, f := range []string{"kafka-session-timeout", "kafka-heartbeat-interval", "kafka-rebalance-timeout"} {
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

func kafkaConfig(rc *v1alpha1.RuntimeConfig) (kafkaio.Config, error) {
	k := rc.Pipeline.Spec.Kafka
	cfg := kafkaio.Config{Brokers: k.Brokers, ClientID: engine.ClientID(rc)}
	if k.TLS != nil {
		return cfg, fmt.Errorf("pipeline.spec.kafka.tls: not supported by this runtime build yet")
	}
	if k.SASL != nil {
		if k.SASL.Credentials.SecretRef == nil {
			return cfg, fmt.Errorf("pipeline.spec.kafka.sasl.credentials: only secretRef is supported by the runtime (credentials via %s/%s)", envKafkaUsername, envKafkaPassword)
		}
		user, pass := os.Getenv(envKafkaUsername), os.Getenv(envKafkaPassword)
		if user == "" || pass == "" {
			return cfg, fmt.Errorf("pipeline.spec.kafka.sasl: %s and %s must be set", envKafkaUsername, envKafkaPassword)
		}
		mech, err := kafkaio.NewSASL(string(k.SASL.Mechanism), user, pass)
		if err != nil {
			return cfg, fmt.Errorf("pipeline.spec.kafka.sasl.mechanism: %w", err)
		}
		cfg.SASL = mech
	}
	return cfg, nil
}

func runRuntime(ctx context.Context, configPath, adminAddr string, tuning groupTuning) error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rc, raw, err := loadRuntimeConfig(configPath)
	if err != nil {
		return err
	}
	settings, err := engine.Resolve(rc)
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}
	kcfg, err := kafkaConfig(rc)
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}
	kcfg.Logger = log
	kcfg.SessionTimeout, kcfg.HeartbeatInterval, kcfg.RebalanceTimeout = tuning.session, tuning.heartbeat, tuning.rebalance
	if err := engine.EnsureTopics(ctx, kcfg, &settings); err != nil {
		return err
	}
	eng, err := engine.New(settings, engine.Options{Kafka: kcfg, Group: engine.ConsumerGroup(rc), RuleSets: rc.FraudRuleSets, Segmentations: rc.Segmentations, Logger: log})
	if err != nil {
		return fmt.Errorf("invalid runtime config %s: %w", configPath, err)
	}

	srv, err := admin.Listen(adminAddr, admin.Handler(engine.AdminBackend{E: eng}, eng.Metrics().Registry))
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", adminAddr, err)
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
	log.Info("runtime started", "pipeline", settings.Pipeline, "generation", settings.Generation, "admin", srv.Addr())

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go watchRuleSets(wctx, configPath, raw, eng, log)

	if err := eng.Run(ctx); err != nil {
		return fmt.Errorf("engine stopped: %w", err)
	}
	log.Info("runtime stopped cleanly")
	return nil
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
