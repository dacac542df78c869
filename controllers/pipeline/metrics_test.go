package pipeline_test

import (
	"context"
	"sync"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/controllers/pipeline"
)

// fixedMetrics reports figures a test sets, standing in for Kafka and the
// runtime pods.
type fixedMetrics struct {
	mu sync.Mutex
	m  pipeline.LiveMetrics
}

func (f *fixedMetrics) set(m pipeline.LiveMetrics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m = m
}

func (f *fixedMetrics) Gather(context.Context, *v1alpha1.Pipeline) (*pipeline.LiveMetrics, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.m
	return &m, nil
}
