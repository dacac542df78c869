package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Schedule is a standard five-field cron expression ("0 * * * *"), a
// descriptor such as "@hourly", or an interval "@every 15m". The validating
// webhook parses it and names the field when it is malformed.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=128
type Schedule string

// TimeUnit is the unit of recency, tenure and horizons in customer models.
// +kubebuilder:validation:Enum=day;week
type TimeUnit string

// Time units.
const (
	UnitDay  TimeUnit = "day"
	UnitWeek TimeUnit = "week"
)

// SegmentationSpec declares customer scoring for one Pipeline: RFM segments,
// BG/NBD churn risk, Gamma-Gamma lifetime value and cohort retention.
type SegmentationSpec struct {
	// pipelineRef names the Pipeline, in the same namespace, whose runtime
	// keeps the customer summaries and runs the scoring.
	// +required
	PipelineRef LocalObjectReference `json:"pipelineRef"`
	// schedule of scoring runs. Changing the annotation
	// analytics.ecap.dev/run-now triggers a run on demand. Defaults to
	// "@every 15m".
	// +optional
	// +kubebuilder:default="@every 15m"
	Schedule Schedule `json:"schedule,omitempty"`
	// timeUnit of frequency, recency, tenure and horizons. Defaults to week.
	// +optional
	// +kubebuilder:default=week
	TimeUnit TimeUnit `json:"timeUnit,omitempty"`
	// calibrationEnd fixes the end of the observation period, for
	// reproducible backfills. Defaults to the time of each run.
	// +optional
	CalibrationEnd *metav1.Time `json:"calibrationEnd,omitempty"`
	// rfm configures recency/frequency/monetary scoring and named segments.
	// +optional
	RFM RFMSpec `json:"rfm,omitempty"`
	// churn configures the BG/NBD model (P(alive), expected purchases).
	// +optional
	Churn ChurnSpec `json:"churn,omitempty"`
	// clv configures the Gamma-Gamma monetary model and lifetime value.
	// +optional
	CLV CLVSpec `json:"clv,omitempty"`
	// cohorts configures the retention matrix by acquisition month.
	// +optional
	Cohorts CohortSpec `json:"cohorts,omitempty"`
	// outputTopic is the compacted customer-profile topic, keyed by customer
	// ID. Defaults to the Pipeline's sinks.customerProfilesTopic.
	// +optional
	OutputTopic TopicName `json:"outputTopic,omitempty"`
}

// RFMSpec configures RFM scoring.
type RFMSpec struct {
	// bins is the number of quantile scores per dimension (1..bins).
	// Defaults to 5.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=10
	Bins int32 `json:"bins,omitempty"`
	// segments are named by score ranges; the first match wins. Empty uses
	// the built-in table (Champions, Loyal, Potential Loyalist, New, At Risk,
	// Cannot Lose, Hibernating, Lost); see docs/segmentation.md.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	Segments []SegmentRule `json:"segments,omitempty"`
	// defaultSegment names customers no rule matches. Defaults to "Other".
	// +optional
	// +kubebuilder:default=Other
	// +kubebuilder:validation:MaxLength=63
	DefaultSegment string `json:"defaultSegment,omitempty"`
}

// SegmentRule names the customers whose scores fall in all given ranges.
type SegmentRule struct {
	// name of the segment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// recency score range; unset matches any.
	// +optional
	Recency *ScoreRange `json:"recency,omitempty"`
	// frequency score range; unset matches any.
	// +optional
	Frequency *ScoreRange `json:"frequency,omitempty"`
	// monetary score range; unset matches any.
	// +optional
	Monetary *ScoreRange `json:"monetary,omitempty"`
}

// ScoreRange is an inclusive range of scores.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="min must not exceed max"
type ScoreRange struct {
	// min score, inclusive.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Min int32 `json:"min"`
	// max score, inclusive.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Max int32 `json:"max"`
}

// ChurnSpec configures the BG/NBD model.
type ChurnSpec struct {
	// disabled turns churn scoring off.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// horizon, in timeUnits, of the expected-purchases forecast.
	// Defaults to 52.
	// +optional
	// +kubebuilder:default=52
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=520
	Horizon int32 `json:"horizon,omitempty"`
	// minCustomers is the fewest customers a fit is attempted on.
	// Defaults to 100.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=10
	MinCustomers int32 `json:"minCustomers,omitempty"`
}

// CLVSpec configures customer lifetime value.
type CLVSpec struct {
	// disabled turns CLV off.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// horizon, in timeUnits, of the lifetime value. Defaults to 52.
	// +optional
	// +kubebuilder:default=52
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=520
	Horizon int32 `json:"horizon,omitempty"`
	// annualDiscountPercent discounts future value, in percent per year.
	// Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	AnnualDiscountPercent int32 `json:"annualDiscountPercent,omitempty"`
}

// CohortSpec configures the cohort retention matrix.
type CohortSpec struct {
	// disabled turns cohorts off.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// months is the number of acquisition months kept. Defaults to 12.
	// +optional
	// +kubebuilder:default=12
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=120
	Months int32 `json:"months,omitempty"`
}

// SegmentCount is the number of customers in one segment.
type SegmentCount struct {
	// name of the segment.
	Name string `json:"name"`
	// count of customers.
	Count int64 `json:"count"`
}

// BGNBDParameters are the fitted BG/NBD parameters, as decimal strings.
type BGNBDParameters struct {
	R             string `json:"r"`
	Alpha         string `json:"alpha"`
	A             string `json:"a"`
	B             string `json:"b"`
	LogLikelihood string `json:"logLikelihood"`
}

// GammaGammaParameters are the fitted Gamma-Gamma parameters, as decimal
// strings.
type GammaGammaParameters struct {
	P             string `json:"p"`
	Q             string `json:"q"`
	V             string `json:"v"`
	LogLikelihood string `json:"logLikelihood,omitempty"`
}

// ModelStatus reports the fitted models.
type ModelStatus struct {
	// bgnbd parameters of the churn model.
	// +optional
	BGNBD *BGNBDParameters `json:"bgnbd,omitempty"`
	// gammaGamma parameters of the monetary model.
	// +optional
	GammaGamma *GammaGammaParameters `json:"gammaGamma,omitempty"`
}

// CohortStatus is the retention of the customers acquired in one month.
type CohortStatus struct {
	// month of acquisition (the first purchase), YYYY-MM, UTC.
	Month string `json:"month"`
	// size is the number of customers acquired that month.
	Size int64 `json:"size"`
	// active[k] is how many of them purchased in the k-th month after
	// acquisition (active[0] = size), up to the calibration end's month.
	// +listType=atomic
	Active []int64 `json:"active"`
}

// SegmentationStatus is the observed state of a Segmentation.
type SegmentationStatus struct {
	// observedGeneration is the generation last fully reconciled (or stalled).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled, PipelineResolved and, with
	// spec.calibrationEnd, CalibrationExact.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// appliedGeneration is the generation the Pipeline's runtime scores with.
	// +optional
	AppliedGeneration int64 `json:"appliedGeneration,omitempty"`
	// customersScored in the last run.
	// +optional
	CustomersScored int64 `json:"customersScored"`
	// segments counts customers per segment in the last run.
	// +optional
	// +listType=map
	// +listMapKey=name
	Segments []SegmentCount `json:"segments,omitempty"`
	// model reports the fitted parameters of the last run.
	// +optional
	Model *ModelStatus `json:"model,omitempty"`
	// cohorts is the retention matrix of the last run: one entry per
	// acquisition month with customers, among the spec.cohorts.months
	// months ending with the calibration end's month.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=120
	Cohorts []CohortStatus `json:"cohorts,omitempty"`
	// lastRunTime is when the last run finished.
	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
	// lastRunDuration is how long the last run took, e.g. "1.2s".
	// +optional
	LastRunDuration string `json:"lastRunDuration,omitempty"`
	// nextRunTime is when the next scheduled run is due.
	// +optional
	NextRunTime *metav1.Time `json:"nextRunTime,omitempty"`
	// lastRunNowValue is the analytics.ecap.dev/run-now annotation value that
	// the last on-demand run answered.
	// +optional
	LastRunNowValue string `json:"lastRunNowValue,omitempty"`
}

// Segmentation declares customer scoring (RFM, churn, CLV, cohorts) for a
// Pipeline.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=seg,categories=ecap
// +kubebuilder:printcolumn:name="Pipeline",type=string,JSONPath=`.spec.pipelineRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Customers",type=integer,JSONPath=`.status.customersScored`
// +kubebuilder:printcolumn:name="Segments",type=string,JSONPath=`.status.segments[*].name`,priority=10
// +kubebuilder:printcolumn:name="Last Run",type=date,JSONPath=`.status.lastRunTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=10
type Segmentation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the scoring configuration.
	// +required
	Spec SegmentationSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status SegmentationStatus `json:"status,omitempty"`
}

// SegmentationList is a list of Segmentations.
// +kubebuilder:object:root=true
type SegmentationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Segmentation `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Segmentation{}, &SegmentationList{})
}
