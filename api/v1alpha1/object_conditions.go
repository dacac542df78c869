package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ConditionedObject is implemented by every kind of this package so that
// controllers share one status helper.
// +kubebuilder:object:generate=false
type ConditionedObject interface {
	GetConditions() *[]metav1.Condition
	GetObservedGeneration() int64
	SetObservedGeneration(int64)
}

// GetConditions returns a pointer to the conditions, for meta.SetStatusCondition.
func (p *Pipeline) GetConditions() *[]metav1.Condition { return &p.Status.Conditions }

// GetObservedGeneration returns status.observedGeneration.
func (p *Pipeline) GetObservedGeneration() int64 { return p.Status.ObservedGeneration }

// SetObservedGeneration sets status.observedGeneration.
func (p *Pipeline) SetObservedGeneration(g int64) { p.Status.ObservedGeneration = g }

// GetConditions returns a pointer to the conditions, for meta.SetStatusCondition.
func (f *FraudRuleSet) GetConditions() *[]metav1.Condition { return &f.Status.Conditions }

// GetObservedGeneration returns status.observedGeneration.
func (f *FraudRuleSet) GetObservedGeneration() int64 { return f.Status.ObservedGeneration }

// SetObservedGeneration sets status.observedGeneration.
func (f *FraudRuleSet) SetObservedGeneration(g int64) { f.Status.ObservedGeneration = g }

// GetConditions returns a pointer to the conditions, for meta.SetStatusCondition.
func (s *Segmentation) GetConditions() *[]metav1.Condition { return &s.Status.Conditions }

// GetObservedGeneration returns status.observedGeneration.
func (s *Segmentation) GetObservedGeneration() int64 { return s.Status.ObservedGeneration }

// SetObservedGeneration sets status.observedGeneration.
func (s *Segmentation) SetObservedGeneration(g int64) { s.Status.ObservedGeneration = g }

// GetConditions returns a pointer to the conditions, for meta.SetStatusCondition.
func (r *RetentionPolicy) GetConditions() *[]metav1.Condition { return &r.Status.Conditions }

// GetObservedGeneration returns status.observedGeneration.
func (r *RetentionPolicy) GetObservedGeneration() int64 { return r.Status.ObservedGeneration }

// SetObservedGeneration sets status.observedGeneration.
func (r *RetentionPolicy) SetObservedGeneration(g int64) { r.Status.ObservedGeneration = g }

// PipelineName returns spec.pipelineRef.name.
func (f *FraudRuleSet) PipelineName() string { return f.Spec.PipelineRef.Name }

// PipelineName returns spec.pipelineRef.name.
func (s *Segmentation) PipelineName() string { return s.Spec.PipelineRef.Name }

// PipelineName returns spec.pipelineRef.name.
func (r *RetentionPolicy) PipelineName() string { return r.Spec.PipelineRef.Name }
