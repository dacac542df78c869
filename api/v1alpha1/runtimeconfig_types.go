package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// RuntimeConfigKind is the kind written into a serialized RuntimeConfig.
const RuntimeConfigKind = "RuntimeConfig"

// Keys of the runtime ConfigMap that the Pipeline controller writes.
const (
	// RuntimeConfigKey holds the RuntimeConfig as JSON.
	RuntimeConfigKey = "runtime.json"
	// RuntimeConfigMountPath is where the runtime container mounts the
	// ConfigMap.
	RuntimeConfigMountPath = "/etc/ecap"
)

// RuntimeConfig is the resolved configuration of one Pipeline's data plane:
// the Pipeline and every FraudRuleSet and Segmentation whose pipelineRef names
// it, each with the generation folded in. It is not a served kind: the
// Pipeline controller serializes it into the runtime ConfigMap, `ecap dev`
// builds it from YAML files, and `ecap runtime --config` reads it.
//
// Only Pipeline changes roll the runtime pods; rule and segmentation changes
// are hot-reloaded by the running pods.
type RuntimeConfig struct {
	metav1.TypeMeta `json:",inline"`
	// pipeline is the Pipeline the runtime runs.
	Pipeline PipelineConfig `json:"pipeline"`
	// fraudRuleSets attached to the Pipeline, sorted by name.
	// +optional
	FraudRuleSets []FraudRuleSetConfig `json:"fraudRuleSets,omitempty"`
	// segmentations attached to the Pipeline, sorted by name.
	// +optional
	Segmentations []SegmentationConfig `json:"segmentations,omitempty"`
}

// PipelineConfig is a Pipeline as the runtime sees it.
type PipelineConfig struct {
	Name       string       `json:"name"`
	Namespace  string       `json:"namespace"`
	Generation int64        `json:"generation"`
	Spec       PipelineSpec `json:"spec"`
}

// FraudRuleSetConfig is a FraudRuleSet as the runtime sees it.
type FraudRuleSetConfig struct {
	Name       string           `json:"name"`
	Generation int64            `json:"generation"`
	Spec       FraudRuleSetSpec `json:"spec"`
}

// SegmentationConfig is a Segmentation as the runtime sees it.
type SegmentationConfig struct {
	Name       string           `json:"name"`
	Generation int64            `json:"generation"`
	Spec       SegmentationSpec `json:"spec"`
	// RunNow is the analytics.ecap.dev/run-now annotation value.
	RunNow string `json:"runNow,omitempty"`
}
