package main

import (
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
)

func init() { extraCommands = append(extraCommands, newRetentionCommand) }

// newRetentionCommand is `ecap retention`, run by a RetentionPolicy's
// CronJob: one enforcement of the policy (see retentionpolicy.RunJob).
func newRetentionCommand() *cobra.Command {
	var o retentionpolicy.JobOptions
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "Enforce a RetentionPolicy once: customer erasure and customer-state TTL through the Pipeline's runtime",
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
			return retentionpolicy.RunJob(ctx, o)
		},
	}
	cmd.Flags().StringVar(&o.Namespace, "namespace", "", "namespace of the RetentionPolicy")
	cmd.Flags().StringVar(&o.Policy, "policy", "", "name of the RetentionPolicy")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "report what would be erased or forgotten without doing it (spec.dryRun does the same)")
	cmd.Flags().DurationVar(&o.KafkaTimeout, "kafka-timeout", 30*time.Second, "how long to try reaching the Pipeline's brokers before the run fails with KafkaUnreachable")
	cmd.Flags().DurationVar(&o.AckTimeout, "ack-timeout", 2*time.Minute, "how long to wait for the runtime to acknowledge the requests; those not acknowledged are applied when the runtime runs")
	return cmd
}
