package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CleanupPolicy is a Kafka topic cleanup.policy.
// +kubebuilder:validation:Enum=delete;compact;"compact,delete"
type CleanupPolicy string

// LakeAction is what happens to expired lake partitions.
// +kubebuilder:validation:Enum=Delete;Archive
type LakeAction string

// Lake actions.
const (
	LakeDelete  LakeAction = "Delete"
	LakeArchive LakeAction = "Archive"
)

// RetentionPolicySpec declares how long data lives: topic retention, lake
// partition expiry or archival, customer-state TTL and customer erasure.
// +kubebuilder:validation:XValidation:rule="has(self.topics) || has(self.lake) || has(self.customerState) || has(self.erasure)",message="at least one of topics, lake, customerState or erasure must be set"
type RetentionPolicySpec struct {
	// pipelineRef names the Pipeline whose lake and customer state the lake,
	// customerState and erasure targets apply to.
	// +required
	PipelineRef LocalObjectReference `json:"pipelineRef"`
	// schedule of enforcement runs (cron syntax, evaluated in UTC by a
	// CronJob running "ecap retention"). Defaults to "0 3 * * *".
	// +optional
	// +kubebuilder:default="0 3 * * *"
	Schedule Schedule `json:"schedule,omitempty"`
	// dryRun reports what would be deleted, archived or erased without doing
	// it.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// suspend stops scheduled runs.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// topics sets retention configs on Kafka topics through the admin API;
	// drift is corrected.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Topics []TopicRetention `json:"topics,omitempty"`
	// lake expires or archives data-lake partitions.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Lake []LakeRetention `json:"lake,omitempty"`
	// customerState forgets customers inactive for longer than a duration.
	// +optional
	CustomerState *CustomerStateRetention `json:"customerState,omitempty"`
	// erasure removes customers from state, compacted topics and the lake
	// (right to erasure).
	// +optional
	Erasure *ErasureSpec `json:"erasure,omitempty"`
}

// TargetSelector chooses targets by exact names or by a regular expression
// (RE2, anchored) on the name.
// +kubebuilder:validation:XValidation:rule="has(self.names) || has(self.pattern)",message="one of names or pattern must be set"
type TargetSelector struct {
	// names of the targets.
	// +optional
	// +kubebuilder:validation:MaxItems=128
	// +listType=set
	Names []string `json:"names,omitempty"`
	// pattern is an RE2 regular expression matched against the whole name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Pattern string `json:"pattern,omitempty"`
}

// TopicRetention sets retention configs on topics.
// +kubebuilder:validation:XValidation:rule="has(self.retention) || has(self.retentionBytes) || has(self.cleanupPolicy)",message="at least one of retention, retentionBytes or cleanupPolicy must be set"
type TopicRetention struct {
	// selector chooses the topics.
	// +required
	Selector TargetSelector `json:"selector"`
	// retention sets retention.ms.
	// +optional
	Retention Duration `json:"retention,omitempty"`
	// retentionBytes sets retention.bytes per partition.
	// +optional
	RetentionBytes *resource.Quantity `json:"retentionBytes,omitempty"`
	// cleanupPolicy sets cleanup.policy.
	// +optional
	CleanupPolicy CleanupPolicy `json:"cleanupPolicy,omitempty"`
}

// LakeRetention expires lake partitions of the selected datasets.
// +kubebuilder:validation:XValidation:rule="self.action != 'Archive' || has(self.archivePrefix)",message="archivePrefix is required when action is Archive"
type LakeRetention struct {
	// selector chooses datasets by name.
	// +required
	Selector TargetSelector `json:"selector"`
	// expireAfter is the age, by partition date, after which a partition
	// expires.
	// +required
	ExpireAfter Duration `json:"expireAfter"`
	// action is Delete or Archive (move intact under archivePrefix).
	// Defaults to Delete.
	// +optional
	// +kubebuilder:default=Delete
	Action LakeAction `json:"action,omitempty"`
	// archivePrefix is the path prefix (local lake) or key prefix (S3) that
	// archived partitions move under.
	// +optional
	ArchivePrefix string `json:"archivePrefix,omitempty"`
	// keepVersions is how many manifest versions are kept for time travel;
	// older ones are vacuumed. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	KeepVersions int32 `json:"keepVersions,omitempty"`
}

// CustomerStateRetention forgets inactive customers.
type CustomerStateRetention struct {
	// inactiveAfter is how long after a customer's last event their state and
	// profile are tombstoned.
	// +required
	InactiveAfter Duration `json:"inactiveAfter"`
}

// ErasureSpec lists customers to erase.
// +kubebuilder:validation:XValidation:rule="has(self.customerIDs) || has(self.configMapRef) || has(self.secretRef)",message="one of customerIDs, configMapRef or secretRef must be set"
type ErasureSpec struct {
	// customerIDs to erase.
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	CustomerIDs []string `json:"customerIDs,omitempty"`
	// configMapRef names a ConfigMap key holding customer IDs, one per line.
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`
	// secretRef names a Secret key holding customer IDs, one per line.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`
}

// TargetKind is the kind of a retention target.
type TargetKind string

// Target kinds.
const (
	TargetTopic         TargetKind = "Topic"
	TargetLakeDataset   TargetKind = "LakeDataset"
	TargetCustomerState TargetKind = "CustomerState"
	TargetErasure       TargetKind = "Erasure"
	// TargetLakeErasure is the erasure's rewrite of one lake dataset.
	TargetLakeErasure TargetKind = "LakeErasure"
)

// TargetStatus reports the last enforcement on one target.
type TargetStatus struct {
	// kind of the target.
	Kind TargetKind `json:"kind"`
	// name of the target (topic, dataset).
	Name string `json:"name"`
	// partitionsDeleted in the last run.
	// +optional
	PartitionsDeleted int64 `json:"partitionsDeleted,omitempty"`
	// partitionsArchived in the last run.
	// +optional
	PartitionsArchived int64 `json:"partitionsArchived,omitempty"`
	// bytesFreed in the last run.
	// +optional
	BytesFreed int64 `json:"bytesFreed,omitempty"`
	// rowsErased in the last run.
	// +optional
	RowsErased int64 `json:"rowsErased,omitempty"`
	// customersForgotten in the last run.
	// +optional
	CustomersForgotten int64 `json:"customersForgotten,omitempty"`
	// configsApplied is true when the topic configs match the spec.
	// +optional
	ConfigsApplied bool `json:"configsApplied,omitempty"`
	// message describes the outcome.
	// +optional
	Message string `json:"message,omitempty"`
}

// RetentionPolicyStatus is the observed state of a RetentionPolicy.
type RetentionPolicyStatus struct {
	// observedGeneration is the generation last fully reconciled (or stalled).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled, PipelineResolved, Scheduled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// cronJobName is the CronJob that enforces the policy.
	// +optional
	CronJobName string `json:"cronJobName,omitempty"`
	// lastRunTime is when the last enforcement finished.
	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
	// nextRunTime is when the next enforcement is due.
	// +optional
	NextRunTime *metav1.Time `json:"nextRunTime,omitempty"`
	// lastRunDryRun is true when the last run only reported.
	// +optional
	LastRunDryRun bool `json:"lastRunDryRun,omitempty"`
	// targets reports the last run per target.
	// +optional
	Targets []TargetStatus `json:"targets,omitempty"`
}

// RetentionPolicy declares data retention, archival and customer erasure.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rp;retention,categories=ecap
// +kubebuilder:printcolumn:name="Pipeline",type=string,JSONPath=`.spec.pipelineRef.name`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Dry Run",type=boolean,JSONPath=`.spec.dryRun`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Last Run",type=date,JSONPath=`.status.lastRunTime`
// +kubebuilder:printcolumn:name="Next Run",type=date,JSONPath=`.status.nextRunTime`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=10
type RetentionPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy.
	// +required
	Spec RetentionPolicySpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status RetentionPolicyStatus `json:"status,omitempty"`
}

// RetentionPolicyList is a list of RetentionPolicies.
// +kubebuilder:object:root=true
type RetentionPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RetentionPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RetentionPolicy{}, &RetentionPolicyList{})
}
