package metrics

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/ecap-dev/ecap/api/v1alpha1"
)

// ResourceConditionMetric is the name of the condition series.
const ResourceConditionMetric = "ecap_resource_condition"

// listTimeout bounds the cache reads of one scrape; before the cache has
// synced a List blocks, and a scrape must not hang on it.
const listTimeout = 5 * time.Second

// conditionCollector reads the ECAP objects from a client.Reader (the
// manager's cache) at each scrape.
type conditionCollector struct {
	desc   *prometheus.Desc
	reader atomic.Pointer[client.Reader]
}

var (
	collector = &conditionCollector{desc: prometheus.NewDesc(ResourceConditionMetric,
		"Conditions of ECAP objects: 1 for the current status and reason of each condition type. "+
			"resource_namespace is the object's namespace (namespace is the scrape target's).",
		[]string{"kind", "resource_namespace", "name", "type", "status", "reason"}, nil)}
	registerOnce sync.Once
	registerErr  error
)

// Register exports ecap_resource_condition on controller-runtime's
// metrics.Registry, read from r (normally the manager's cache). A later call
// only swaps the reader: the registry is process-wide, and test binaries
// start more than one manager.
func Register(r client.Reader) error {
	collector.reader.Store(&r)
	registerOnce.Do(func() { registerErr = ctrlmetrics.Registry.Register(collector) })
	return registerErr
}

// Describe implements prometheus.Collector.
func (c *conditionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *conditionCollector) Collect(ch chan<- prometheus.Metric) {
	rp := c.reader.Load()
	if rp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	lists := []struct {
		kind string
		list client.ObjectList
	}{
		{"Pipeline", &v1alpha1.PipelineList{}},
		{"FraudRuleSet", &v1alpha1.FraudRuleSetList{}},
		{"Segmentation", &v1alpha1.SegmentationList{}},
		{"RetentionPolicy", &v1alpha1.RetentionPolicyList{}},
	}
	for _, l := range lists {
		if err := (*rp).List(ctx, l.list); err != nil {
			// A failed read leaves this kind out of the scrape; the
			// absence is visible, a guessed value would not be.
			continue
		}
		items, err := apimeta.ExtractList(l.list)
		if err != nil {
			continue
		}
		for _, it := range items {
			obj, ok := it.(interface {
				client.Object
				v1alpha1.ConditionedObject
			})
			if !ok {
				continue
			}
			for _, cond := range *obj.GetConditions() {
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1,
					l.kind, obj.GetNamespace(), obj.GetName(), cond.Type, string(cond.Status), cond.Reason)
			}
		}
	}
}
