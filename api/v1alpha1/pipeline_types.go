package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TopicName is a Kafka topic name.
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]{1,249}$`
type TopicName string

// PipelineSpec declares one streaming data plane: where events come from, how
// they are validated, deduplicated, enriched and aggregated, and where the
// results go.
type PipelineSpec struct {
	// kafka says how to reach the Kafka cluster.
	// +required
	Kafka KafkaSpec `json:"kafka"`
	// topics names the input and dead-letter topics.
	// +required
	Topics PipelineTopics `json:"topics"`
	// validation tunes event validation. Rejected events always go to
	// topics.deadLetter with the reason in the record headers.
	// +optional
	Validation ValidationSpec `json:"validation,omitempty"`
	// dedup drops events whose event_id was already seen within a window.
	// +optional
	Dedup DedupSpec `json:"dedup,omitempty"`
	// enrichment joins transactions with the product catalog.
	// +optional
	Enrichment EnrichmentSpec `json:"enrichment,omitempty"`
	// kpis declares event-time windowed KPIs.
	// +optional
	KPIs *KPISpec `json:"kpis,omitempty"`
	// state tunes the per-customer state and its changelog.
	// +optional
	State StateSpec `json:"state,omitempty"`
	// sinks declares the outputs besides the dead-letter topic.
	// +optional
	Sinks SinksSpec `json:"sinks,omitempty"`
	// replicas is the number of runtime pods. Input partitions are spread over
	// them; a customer's state lives on one replica. Defaults to 1. Ignored
	// when autoscaling is set.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=256
	Replicas *int32 `json:"replicas,omitempty"`
	// autoscaling adds a HorizontalPodAutoscaler for the runtime.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`
	// resources of the runtime container. Defaults to requests of 250m CPU
	// and 256Mi memory and a 1Gi memory limit.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// image overrides the runtime image. Defaults to the manager's own image.
	// +optional
	Image string `json:"image,omitempty"`
	// suspend scales the runtime to zero replicas without deleting anything.
	// Consumer offsets and state are kept; resuming continues where it stopped.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// stallAfter is how long consumer lag may stay above zero with no
	// committed progress before the Pipeline reports Stalled=True.
	// Defaults to 10m.
	// +optional
	// +kubebuilder:default="10m"
	StallAfter Duration `json:"stallAfter,omitempty"`
}

// PipelineTopics names the topics a Pipeline reads and its dead-letter topic.
// +kubebuilder:validation:XValidation:rule="self.deadLetter != self.transactions",message="deadLetter must differ from transactions"
type PipelineTopics struct {
	// transactions is the topic of transaction events (keyed by customer).
	// +required
	Transactions TopicName `json:"transactions"`
	// userEvents is the topic of behavioural events (sessions, views, carts).
	// +optional
	UserEvents TopicName `json:"userEvents,omitempty"`
	// productUpdates is the compacted topic of product catalog updates, keyed
	// by product ID; it feeds enrichment.
	// +optional
	ProductUpdates TopicName `json:"productUpdates,omitempty"`
	// feedback is the topic of analyst labels on fraud alerts.
	// +optional
	Feedback TopicName `json:"feedback,omitempty"`
	// deadLetter receives every rejected event unchanged, with headers naming
	// the reason, the field and the source topic, partition and offset.
	// +required
	DeadLetter TopicName `json:"deadLetter"`
	// control is the topic of retention requests to the runtime (customer
	// erasure, customer-state TTL), written by "ecap retention" and
	// co-partitioned with transactions. Defaults to "<pipeline>-control";
	// the runtime creates it.
	// +optional
	Control TopicName `json:"control,omitempty"`
	// audit is the topic of audit records: every retention request the
	// runtime applies and every target "ecap retention" enforces. Defaults
	// to "<pipeline>-audit"; the runtime creates it.
	// +optional
	Audit TopicName `json:"audit,omitempty"`
}

// ValidationSpec tunes event validation.
type ValidationSpec struct {
	// maxFutureSkew rejects events whose event_time is further in the future
	// than this. Defaults to 5m.
	// +optional
	// +kubebuilder:default="5m"
	MaxFutureSkew Duration `json:"maxFutureSkew,omitempty"`
	// maxEventAge rejects events older than this. Defaults to 30d.
	// +optional
	// +kubebuilder:default="30d"
	MaxEventAge Duration `json:"maxEventAge,omitempty"`
	// allowedCurrencies restricts transactions to these ISO 4217 codes. Empty
	// allows every active code.
	// +optional
	// +kubebuilder:validation:MaxItems=200
	// +kubebuilder:validation:items:Pattern=`^[A-Z]{3}$`
	// +listType=set
	AllowedCurrencies []string `json:"allowedCurrencies,omitempty"`
}

// DedupSpec configures deduplication by event_id.
type DedupSpec struct {
	// disabled turns deduplication off.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// window is how long, in event time, an event_id is remembered.
	// Defaults to 1h.
	// +optional
	// +kubebuilder:default="1h"
	Window Duration `json:"window,omitempty"`
	// maxEntries bounds the remembered IDs per partition; the oldest are
	// forgotten first and counted. Defaults to 1000000.
	// +optional
	// +kubebuilder:default=1000000
	// +kubebuilder:validation:Minimum=1000
	// +kubebuilder:validation:Maximum=100000000
	MaxEntries int64 `json:"maxEntries,omitempty"`
}

// EnrichmentSpec configures enrichment.
type EnrichmentSpec struct {
	// catalog joins each transaction line with the latest product record from
	// topics.productUpdates (category, brand, cost -> margin). Defaults to true
	// when topics.productUpdates is set.
	// +optional
	Catalog *bool `json:"catalog,omitempty"`
}

// WindowType is the shape of a KPI window.
// +kubebuilder:validation:Enum=Tumbling;Hopping
type WindowType string

// Window types.
const (
	WindowTumbling WindowType = "Tumbling"
	WindowHopping  WindowType = "Hopping"
)

// KPIDimension is an attribute KPIs can be grouped by.
// +kubebuilder:validation:Enum=category;country;channel;payment_method
type KPIDimension string

// KPI dimensions.
const (
	DimensionCategory      KPIDimension = "category"
	DimensionCountry       KPIDimension = "country"
	DimensionChannel       KPIDimension = "channel"
	DimensionPaymentMethod KPIDimension = "payment_method"
)

// KPISpec declares event-time windowed KPIs: revenue, orders, units, average
// order value, margin and unique customers per window and dimension value.
type KPISpec struct {
	// topic receives one record per closed window and dimension value.
	// +required
	Topic TopicName `json:"topic"`
	// windows to compute.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	Windows []KPIWindow `json:"windows"`
	// dimensions to group by, besides the overall total.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	// +listType=set
	Dimensions []KPIDimension `json:"dimensions,omitempty"`
	// maxOutOfOrderness is how far behind the highest event time seen the
	// watermark trails. Defaults to 10s.
	// +optional
	// +kubebuilder:default="10s"
	MaxOutOfOrderness Duration `json:"maxOutOfOrderness,omitempty"`
	// allowedLateness keeps a window open this long after the watermark
	// passes its end; later events are counted as late and not aggregated.
	// Defaults to 1m.
	// +optional
	// +kubebuilder:default="1m"
	AllowedLateness Duration `json:"allowedLateness,omitempty"`
	// maxDimensionValues bounds the distinct values per dimension that get
	// their own series; the rest are folded into "other". Defaults to 50.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxDimensionValues int32 `json:"maxDimensionValues,omitempty"`
}

// KPIWindow is one window definition.
// +kubebuilder:validation:XValidation:rule="self.type == 'Hopping' ? has(self.advance) : !has(self.advance)",message="advance is required for Hopping windows and not allowed for Tumbling windows"
type KPIWindow struct {
	// name identifies the window in outputs and metrics, e.g. "1m".
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$`
	Name string `json:"name"`
	// type is Tumbling (back-to-back) or Hopping (overlapping).
	// +required
	Type WindowType `json:"type"`
	// size is the window length.
	// +required
	Size Duration `json:"size"`
	// advance is the hop between window starts (Hopping only); it must not
	// exceed size and size must be a multiple of it.
	// +optional
	Advance Duration `json:"advance,omitempty"`
}

// StateSpec tunes the per-customer state.
type StateSpec struct {
	// changelogTopic is the compacted topic the state is checkpointed to.
	// Defaults to "<pipeline>-changelog".
	// +optional
	ChangelogTopic TopicName `json:"changelogTopic,omitempty"`
	// checkpointInterval is how often state and offsets are checkpointed and
	// committed. Defaults to 5s.
	// +optional
	// +kubebuilder:default="5s"
	CheckpointInterval Duration `json:"checkpointInterval,omitempty"`
}

// SinksSpec declares the outputs of a Pipeline.
type SinksSpec struct {
	// alertsTopic receives fraud decisions above "allow", with explanations.
	// +optional
	AlertsTopic TopicName `json:"alertsTopic,omitempty"`
	// customerProfilesTopic is the compacted topic of customer profiles
	// (segment, RFM scores, P(alive), CLV) keyed by customer ID.
	// +optional
	CustomerProfilesTopic TopicName `json:"customerProfilesTopic,omitempty"`
	// enrichedTransactionsTopic receives enriched transactions.
	// +optional
	EnrichedTransactionsTopic TopicName `json:"enrichedTransactionsTopic,omitempty"`
	// lake writes datasets as Parquet to a governed data lake.
	// +optional
	Lake *LakeSink `json:"lake,omitempty"`
}

// LakeDataset is a dataset the lake sink can write.
// +kubebuilder:validation:Enum=transactions;user_events;fraud_decisions;kpis
type LakeDataset string

// Lake datasets.
const (
	DatasetTransactions   LakeDataset = "transactions"
	DatasetUserEvents     LakeDataset = "user_events"
	DatasetFraudDecisions LakeDataset = "fraud_decisions"
	DatasetKPIs           LakeDataset = "kpis"
)

// LakeSink writes Parquet files with Hive-style partitions and atomic
// manifest commits.
// +kubebuilder:validation:XValidation:rule="has(self.local) != has(self.s3)",message="exactly one of local or s3 must be set"
type LakeSink struct {
	// datasets to write.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	Datasets []LakeDataset `json:"datasets"`
	// local writes to a directory, usually on a PersistentVolumeClaim.
	// +optional
	Local *LocalLake `json:"local,omitempty"`
	// s3 writes to S3-compatible object storage.
	// +optional
	S3 *S3Lake `json:"s3,omitempty"`
	// commitInterval is how often open files are committed. Defaults to 1m.
	// +optional
	// +kubebuilder:default="1m"
	CommitInterval Duration `json:"commitInterval,omitempty"`
}

// LocalLake is a lake in a directory.
type LocalLake struct {
	// path of the lake root inside the runtime container.
	// +required
	// +kubebuilder:validation:Pattern=`^/.*`
	Path string `json:"path"`
	// claimName mounts this PersistentVolumeClaim at path.
	// +optional
	ClaimName string `json:"claimName,omitempty"`
}

// S3Lake is a lake in an S3-compatible bucket.
type S3Lake struct {
	// endpoint host[:port] of the object store.
	// +required
	// +kubebuilder:validation:MinLength=1
	Endpoint string `json:"endpoint"`
	// bucket name.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`
	Bucket string `json:"bucket"`
	// prefix of every object key.
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// region of the bucket.
	// +optional
	Region string `json:"region,omitempty"`
	// insecure uses plain HTTP.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// credentials locates the access key pair.
	// +required
	Credentials CredentialsSource `json:"credentials"`
}

// AutoscalingSpec configures a HorizontalPodAutoscaler for the runtime.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="minReplicas must not exceed maxReplicas"
type AutoscalingSpec struct {
	// minReplicas is the lower bound. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	MinReplicas int32 `json:"minReplicas,omitempty"`
	// maxReplicas is the upper bound; more replicas than input partitions
	// sit idle.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	MaxReplicas int32 `json:"maxReplicas"`
	// targetCPUUtilization is the average CPU utilisation, in percent of the
	// request, to scale at. Defaults to 70.
	// +optional
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilization int32 `json:"targetCPUUtilization,omitempty"`
}

// PipelineStatus is the observed state of a Pipeline.
type PipelineStatus struct {
	// observedGeneration is the generation last fully reconciled (or stalled).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled, DeploymentAvailable,
	// KafkaReachable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// replicas is the number of runtime pods desired.
	// +optional
	Replicas int32 `json:"replicas"`
	// readyReplicas is the number of runtime pods ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`
	// configMapName is the ConfigMap holding the resolved runtime config.
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`
	// configHash is the hash of the restart-relevant part of the runtime
	// config; the pods roll when it changes.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`
	// fraudRuleSets attached through their pipelineRef, with the generation
	// the runtime config carries.
	// +optional
	FraudRuleSets []AttachedObject `json:"fraudRuleSets,omitempty"`
	// segmentations attached through their pipelineRef.
	// +optional
	Segmentations []AttachedObject `json:"segmentations,omitempty"`
	// lag is the total consumer-group lag over the input topics, in records.
	// +optional
	Lag *int64 `json:"lag,omitempty"`
	// eventsPerSecond is the recent input rate, rounded.
	// +optional
	EventsPerSecond *int64 `json:"eventsPerSecond,omitempty"`
	// deadLettered is the number of events sent to the dead-letter topic.
	// +optional
	DeadLettered *int64 `json:"deadLettered,omitempty"`
	// watermark is the lowest event-time watermark over the runtime pods.
	// +optional
	Watermark *metav1.Time `json:"watermark,omitempty"`
	// lastProgressTime is the last time committed offsets advanced.
	// +optional
	LastProgressTime *metav1.Time `json:"lastProgressTime,omitempty"`
	// metricsTime is when lag, rate and dead-letter counts were gathered.
	// +optional
	MetricsTime *metav1.Time `json:"metricsTime,omitempty"`
}

// Pipeline declares a streaming analytics data plane on Kafka.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pl;pipe,categories=ecap
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Lag",type=integer,JSONPath=`.status.lag`
// +kubebuilder:printcolumn:name="Rate",type=integer,JSONPath=`.status.eventsPerSecond`,description="events per second"
// +kubebuilder:printcolumn:name="DLQ",type=integer,JSONPath=`.status.deadLettered`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=10
type Pipeline struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired data plane.
	// +required
	Spec PipelineSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status PipelineStatus `json:"status,omitempty"`
}

// PipelineList is a list of Pipelines.
// +kubebuilder:object:root=true
type PipelineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Pipeline `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Pipeline{}, &PipelineList{})
}

// ConsumerGroupID is the Kafka consumer group of the Pipeline's runtime:
// spec.kafka.consumerGroup or "ecap-<namespace>-<name>".
func ConsumerGroupID(namespace, name string, spec *PipelineSpec) string {
	if spec.Kafka.ConsumerGroup != "" {
		return spec.Kafka.ConsumerGroup
	}
	if namespace == "" {
		namespace = "default"
	}
	return "ecap-" + namespace + "-" + name
}
