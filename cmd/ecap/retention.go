package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/lake"
)

func init() { extraCommands = append(extraCommands, newRetentionCommand) }

// newRetentionCommand is `ecap retention`, run by a RetentionPolicy's
// CronJob: one enforcement of the policy (see retentionpolicy.RunJob).
func newRetentionCommand() *cobra.Command {
	var o retentionpolicy.JobOptions
	var vt vaultTuning
	credentialsTimeout := 30 * time.Second
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "Enforce a RetentionPolicy once: customer erasure and customer-state TTL through the Pipeline's runtime, lake expiry and erasure",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Namespace == "" || o.Policy == "" {
				return fmt.Errorf("--namespace and --policy are required")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			cfg, err := ctrlconfig.GetConfig()
			if err != nil {
				return fmt.Errorf("failed to load the Kubernetes client configuration: %w", err)
			}
			scheme := kruntime.NewScheme()
			if err := clientgoscheme.AddToScheme(scheme); err != nil {
				return err
			}
			if err := v1alpha1.AddToScheme(scheme); err != nil {
				return err
			}
			c, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				return fmt.Errorf("failed to create the Kubernetes client: %w", err)
			}
			o.Client = c
			o.Log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			o.OpenLake = func(ctx context.Context, p *v1alpha1.Pipeline, ls *engine.LakeSettings, now func() time.Time) (*lake.Lake, error) {
				return openRetentionLake(ctx, p, ls, now, vt, credentialsTimeout, o.Log)
			}
			return retentionpolicy.RunJob(ctx, o)
		},
	}
	cmd.Flags().StringVar(&o.Namespace, "namespace", "", "namespace of the RetentionPolicy")
	cmd.Flags().StringVar(&o.Policy, "policy", "", "name of the RetentionPolicy")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "report what would be erased or forgotten without doing it (spec.dryRun does the same)")
	cmd.Flags().DurationVar(&o.KafkaTimeout, "kafka-timeout", 30*time.Second, "how long to try reaching the Pipeline's brokers before the run fails with KafkaUnreachable")
	cmd.Flags().DurationVar(&o.AckTimeout, "ack-timeout", 2*time.Minute, "how long to wait for the runtime to acknowledge the requests; those not acknowledged are applied when the runtime runs")
	cmd.Flags().StringVar(&vt.tokenFile, "vault-token-file", "", "ServiceAccount token sent to Vault (lake credentials from Vault)")
	cmd.Flags().StringVar(&vt.caDir, "vault-ca-dir", "", "directory of the Vault CA certificates (default "+v1alpha1.VaultCAMountDir+")")
	_ = cmd.Flags().MarkHidden("vault-token-file")
	_ = cmd.Flags().MarkHidden("vault-ca-dir")
	return cmd
}

// openRetentionLake opens the Pipeline's lake for the retention job with
// the credentials source the runtime uses: for secretRef the key pair in
// ECAP_S3_ACCESS_KEY/ECAP_S3_SECRET_KEY, which the CronJob's pod gets from
// the same Secret as the runtime's pods; for vault a login with the job's
// ServiceAccount token. It waits up to timeout for the first credentials;
// the source keeps them fresh until ctx ends.
func openRetentionLake(ctx context.Context, p *v1alpha1.Pipeline, ls *engine.LakeSettings, now func() time.Time, vt vaultTuning,
	timeout time.Duration, log *slog.Logger) (*lake.Lake, error) {
	spec := p.Spec.DeepCopy()
	spec.Kafka.SASL = nil // the job's Kafka client is configured elsewhere
	rc := &v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: p.Name, Namespace: p.Namespace, Generation: p.Generation, Spec: *spec}}
	sources, err := credentialSources(rc, vt, log)
	if err != nil {
		return nil, err
	}
	src := sources[v1alpha1.CredentialsLakeS3]
	if src != nil {
		go func() {
			if err := src.Run(ctx); err != nil {
				log.Error("lake credentials source stopped", "err", err)
			}
		}()
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := src.Wait(wctx); err != nil {
			return nil, fmt.Errorf("pipeline.spec.sinks.lake.s3.credentials: no credentials within %s: %w", timeout, err)
		}
	}
	return engine.OpenLakeAt(ls, func() (string, string, error) {
		if src == nil {
			return "", "", fmt.Errorf("pipeline.spec.sinks.lake.s3.credentials: no credentials source")
		}
		pair, err := src.Current()
		return pair.Username, pair.Password.Reveal(), err
	}, now)
}
