// Package setup wires every ECAP controller and webhook into a manager, so
// that `ecap manager` and the envtest suites run the same set.
package setup

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ecap-dev/ecap/controllers/fraudruleset"
	"github.com/ecap-dev/ecap/controllers/index"
	ecapmetrics "github.com/ecap-dev/ecap/controllers/metrics"
	"github.com/ecap-dev/ecap/controllers/pipeline"
	"github.com/ecap-dev/ecap/controllers/retentionpolicy"
	"github.com/ecap-dev/ecap/controllers/segmentation"
)

// Options configure the controllers.
type Options struct {
	// Image runs runtime pods and retention jobs.
	Image string
	// Webhooks serves the validating webhooks.
	Webhooks bool
	// Clock stamps conditions; nil means the real clock.
	Clock clock.PassiveClock
	// PipelineMetrics gathers live Pipeline figures; nil disables them.
	PipelineMetrics pipeline.MetricsSource
	// RuntimeAdminPort is where runtime pods serve /v1/status; 0 means
	// pipeline.AdminPort. Tests running a runtime locally change it.
	RuntimeAdminPort int
	// RuntimeRefresh is how often attached objects re-read the runtime's
	// figures; 0 means 30 seconds.
	RuntimeRefresh time.Duration
	// TopicResync is how often RetentionPolicies re-check their Kafka topic
	// configs to correct drift; 0 means retentionpolicy.DefaultTopicResync.
	TopicResync time.Duration
}

// All registers the indexes, the manager metrics, the four controllers and,
// if asked, the webhooks.
func All(ctx context.Context, mgr ctrl.Manager, o Options) error {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if err := index.Setup(ctx, mgr); err != nil {
		return err
	}
	if err := ecapmetrics.Register(mgr.GetCache()); err != nil {
		return fmt.Errorf("failed to register the ECAP manager metrics: %w", err)
	}
	c := mgr.GetClient()
	steps := []step{
		{"pipeline controller", (&pipeline.Reconciler{Client: c, Recorder: mgr.GetEventRecorder("ecap-pipeline"), Clock: o.Clock, RuntimeImage: o.Image, Metrics: o.PipelineMetrics}).SetupWithManager},
		{"fraudruleset controller", (&fraudruleset.Reconciler{Client: c, Recorder: mgr.GetEventRecorder("ecap-fraudruleset"), Clock: o.Clock,
			Runtime: fraudruleset.PodSource{Pods: pipeline.RuntimePods{Client: c, Port: o.RuntimeAdminPort}}, Refresh: o.RuntimeRefresh}).SetupWithManager},
		{"segmentation controller", (&segmentation.Reconciler{Client: c, Recorder: mgr.GetEventRecorder("ecap-segmentation"), Clock: o.Clock,
			Runtime: &segmentation.PodSource{Client: c, Port: o.RuntimeAdminPort}}).SetupWithManager},
		{"retentionpolicy controller", (&retentionpolicy.Reconciler{Client: c, Recorder: mgr.GetEventRecorder("ecap-retentionpolicy"), Clock: o.Clock, Image: o.Image, TopicResync: o.TopicResync}).SetupWithManager},
	}
	if o.Webhooks {
		steps = append(steps,
			step{"pipeline webhook", pipeline.SetupWebhookWithManager},
			step{"fraudruleset webhook", fraudruleset.SetupWebhookWithManager},
			step{"segmentation webhook", segmentation.SetupWebhookWithManager},
			step{"retentionpolicy webhook", retentionpolicy.SetupWebhookWithManager},
		)
	}
	for _, s := range steps {
		if err := s.setup(mgr); err != nil {
			return fmt.Errorf("failed to set up %s: %w", s.name, err)
		}
	}
	return nil
}

type step struct {
	name  string
	setup func(ctrl.Manager) error
}
