package main

import (
	"fmt"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine"
)

func init() {
	measurements = append(measurements, measurement{"segmentation run in the runtime", segmentationRuntimeRun})
}

// segmentationRuntimeRun measures a runtime Segmentation run over 1,000,000
// customers in 4 partitions: the longest pause of a partition's event
// processing while its summaries are copied, and the rest of the run
// without Kafka (summaries, fit inputs, fit, scoring), best of two.
func segmentationRuntimeRun() ([]figure, error) {
	s, err := engine.Resolve(&v1alpha1.RuntimeConfig{Pipeline: v1alpha1.PipelineConfig{Name: "bench", Spec: v1alpha1.PipelineSpec{
		Kafka: v1alpha1.KafkaSpec{Brokers: []string{"unused:9092"}}, Topics: v1alpha1.PipelineTopics{Transactions: "t", DeadLetter: "d"}}}})
	if err != nil {
		return nil, err
	}
	var best engine.SnapshotMeasure
	for i := range 2 {
		m, err := engine.MeasureSegmentationRun(s, 4, 250_000)
		if err != nil {
			return nil, err
		}
		if m.Customers != 1_000_000 {
			return nil, fmt.Errorf("scored %d customers, want 1000000", m.Customers)
		}
		if i == 0 || m.Pause < best.Pause {
			best.Pause = m.Pause
		}
		if i == 0 || m.Offline < best.Offline {
			best.Offline = m.Offline
		}
	}
	return []figure{
		{"segmentation_runtime_pause_250k_partition_seconds", best.Pause.Seconds(), "s"},
		{"segmentation_runtime_run_1m_offline_seconds", best.Offline.Seconds(), "s"},
	}, nil
}
