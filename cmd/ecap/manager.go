package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/controllers/setup"
)

func newManagerCommand() *cobra.Command {
	var (
		metricsAddr, probeAddr, certDir, image string
		webhookPort                            int
		topicResync                            time.Duration
		leaderElect, disableWebhooks           bool
		zapOpts                                = zap.Options{}
	)
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the operator: controllers and admission webhooks",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			if image == "" {
				return fmt.Errorf("--runtime-image (or ECAP_IMAGE) is required: it is the image runtime pods and retention jobs run")
			}
			scheme := runtime.NewScheme()
			if err := clientgoscheme.AddToScheme(scheme); err != nil {
				return err
			}
			if err := v1alpha1.AddToScheme(scheme); err != nil {
				return err
			}
			// HTTP/2 is disabled on the webhook and metrics servers to avoid
			// the rapid-reset class of attacks (CVE-2023-44487/39325).
			noHTTP2 := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
			mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
				Scheme:                 scheme,
				Metrics:                metricsserver.Options{BindAddress: metricsAddr, TLSOpts: []func(*tls.Config){noHTTP2}},
				HealthProbeBindAddress: probeAddr,
				LeaderElection:         leaderElect,
				LeaderElectionID:       "ecap-manager.analytics.ecap.dev",
				WebhookServer: webhook.NewServer(webhook.Options{
					Port: webhookPort, CertDir: certDir, TLSOpts: []func(*tls.Config){noHTTP2},
				}),
			})
			if err != nil {
				return fmt.Errorf("failed to create manager: %w", err)
			}
			if err := setup.All(cmd.Context(), mgr, setup.Options{
				Image: image, Webhooks: !disableWebhooks,
				PipelineMetrics: &pipeline.LiveSource{Client: mgr.GetClient()},
				TopicResync:     topicResync,
			}); err != nil {
				return err
			}
			if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
				return err
			}
			ready := healthz.Ping
			if !disableWebhooks {
				ready = mgr.GetWebhookServer().StartedChecker()
			}
			if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
				return err
			}
			return mgr.Start(ctrl.SetupSignalHandler())
		},
	}
	f := cmd.Flags()
	f.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint")
	f.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	f.BoolVar(&leaderElect, "leader-elect", true, "elect a leader so that only one replica reconciles")
	f.IntVar(&webhookPort, "webhook-port", 9443, "port of the admission webhook server")
	f.StringVar(&certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory holding tls.crt and tls.key for the webhook server")
	f.BoolVar(&disableWebhooks, "disable-webhooks", false, "do not serve admission webhooks (the controllers still validate and mark invalid objects Stalled)")
	f.DurationVar(&topicResync, "retention-topic-resync", retentionpolicy.DefaultTopicResync, "how often RetentionPolicies re-check their Kafka topic configs and correct drift")
	f.StringVar(&image, "runtime-image", os.Getenv("ECAP_IMAGE"), "image of `ecap runtime` pods and `ecap retention` jobs")
	goFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	zapOpts.BindFlags(goFlags)
	f.AddGoFlagSet(goFlags)
	return cmd
}
