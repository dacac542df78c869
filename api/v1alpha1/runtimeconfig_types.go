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

// Names of the credentials a runtime holds. They label the runtime's
// /v1/status and name the directories of mounted Vault CA bundles.
const (
	// CredentialsKafkaSASL is spec.kafka.sasl.credentials.
	CredentialsKafkaSASL = "kafka-sasl"
	// CredentialsLakeS3 is spec.sinks.lake.s3.credentials.
	CredentialsLakeS3 = "lake-s3"
)

// Files the Pipeline controller mounts into the runtime container besides
// the config. The runtime derives their paths from the spec, so the
// controller and the runtime share these names.
const (
	// VaultCAMountDir holds, per credentials name, the PEM CA bundle of the
	// Vault server (vault.caSecretRef) as <dir>/<name>/<VaultCAFile>.
	VaultCAMountDir = "/etc/ecap/vault"
	// VaultCAFile is the file name of a mounted Vault CA bundle.
	VaultCAFile = "ca.pem"
	// KafkaTLSMountDir holds the Kafka TLS material (spec.kafka.tls) as
	// <dir>/<item>/<item>.pem, item one of tls-ca, tls-cert, tls-key.
	KafkaTLSMountDir = "/etc/ecap/tls"
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
