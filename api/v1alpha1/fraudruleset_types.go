package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RuleMode says whether a rule's hits change the decision.
// +kubebuilder:validation:Enum=enforce;shadow
type RuleMode string

// Rule modes.
const (
	// RuleModeEnforce: the rule's score counts towards the outcome.
	RuleModeEnforce RuleMode = "enforce"
	// RuleModeShadow: hits are published and counted separately and never
	// change the outcome; use it to trial a rule on live traffic.
	RuleModeShadow RuleMode = "shadow"
)

// Severity ranks a rule's hits for analysts.
// +kubebuilder:validation:Enum=low;medium;high;critical
type Severity string

// Severities.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// FeatureAggregation is how a velocity feature aggregates transactions.
// +kubebuilder:validation:Enum=count;sum;distinct_count
type FeatureAggregation string

// Feature aggregations.
const (
	AggregationCount         FeatureAggregation = "count"
	AggregationSum           FeatureAggregation = "sum"
	AggregationDistinctCount FeatureAggregation = "distinct_count"
)

// FeatureKey is the entity a velocity feature is kept per.
// +kubebuilder:validation:Enum=customer;card;device;ip;merchant
type FeatureKey string

// Feature keys.
const (
	KeyCustomer FeatureKey = "customer"
	KeyCard     FeatureKey = "card"
	KeyDevice   FeatureKey = "device"
	KeyIP       FeatureKey = "ip"
	KeyMerchant FeatureKey = "merchant"
)

// FeatureField is a transaction attribute a feature sums or counts distinct
// values of.
// +kubebuilder:validation:Enum=amount;customer;card;device;ip;merchant;country
type FeatureField string

// AlertPriority ranks alerts for the analyst queue; P1 is the most urgent.
// +kubebuilder:validation:Enum=P1;P2;P3;P4
type AlertPriority string

// FraudRuleSetSpec declares fraud rules scored by the runtime of one Pipeline.
// +kubebuilder:validation:XValidation:rule="self.thresholds.review < self.thresholds.block",message="thresholds.review must be below thresholds.block"
type FraudRuleSetSpec struct {
	// pipelineRef names the Pipeline, in the same namespace, whose runtime
	// scores transactions with these rules. Rule changes are hot-reloaded by
	// that runtime without a restart.
	// +required
	PipelineRef LocalObjectReference `json:"pipelineRef"`
	// features declares velocity aggregates over sliding windows, exposed to
	// rules as features.<name>.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Features []VelocityFeature `json:"features,omitempty"`
	// rules are CEL expressions evaluated per transaction; each true rule adds
	// its score. Variables: txn (the enriched transaction), customer (the
	// customer's history), features (declared velocity aggregates) and
	// detectors (amount z-score, geo-velocity, first-seen device and country,
	// merchant risk) and merchant (the merchant's alert and fraud history).
	// See docs/fraud.md.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +listType=map
	// +listMapKey=name
	Rules []FraudRule `json:"rules"`
	// thresholds map the summed score of enforce-mode hits to an outcome.
	// +optional
	// +kubebuilder:default={review: 50, block: 100}
	Thresholds OutcomeThresholds `json:"thresholds,omitempty"`
	// priority maps outcomes to alert priorities.
	// +optional
	// +kubebuilder:default={review: P3, block: P1}
	Priority AlertPriorities `json:"priority,omitempty"`
	// costLimit bounds the CEL evaluation cost of one rule on one
	// transaction; a rule exceeding it counts as not hit and is reported.
	// Defaults to 10000.
	// +optional
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=10000000
	CostLimit int64 `json:"costLimit,omitempty"`
}

// VelocityFeature is a sliding-window aggregate kept per entity.
// +kubebuilder:validation:XValidation:rule="self.aggregation == 'count' ? !has(self.field) : has(self.field)",message="field is required for sum and distinct_count and not allowed for count"
// +kubebuilder:validation:XValidation:rule="self.aggregation != 'sum' || self.field == 'amount'",message="sum is only defined over field amount"
type VelocityFeature struct {
	// name of the feature, a CEL identifier: rules read features.<name>.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]{0,62}$`
	Name string `json:"name"`
	// aggregation is count, sum or distinct_count.
	// +required
	Aggregation FeatureAggregation `json:"aggregation"`
	// field is what sum adds up (amount) or what distinct_count counts.
	// +optional
	Field FeatureField `json:"field,omitempty"`
	// keyBy is the entity the aggregate is kept per.
	// +required
	KeyBy FeatureKey `json:"keyBy"`
	// window is the sliding window length, at most 7d.
	// +required
	Window Duration `json:"window"`
}

// FraudRule is one scored rule.
type FraudRule struct {
	// name identifies the rule in alerts, metrics and status.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9_]{0,61}[a-z0-9])?$`
	Name string `json:"name"`
	// description says what the rule catches, for analysts.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`
	// expression is a CEL expression that evaluates to a bool.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Expression string `json:"expression"`
	// score added to the transaction's total when the rule is true.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Score int32 `json:"score"`
	// severity of a hit. Defaults to medium.
	// +optional
	// +kubebuilder:default=medium
	Severity Severity `json:"severity,omitempty"`
	// enabled turns the rule on. Defaults to true.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// mode is enforce (counts towards the outcome) or shadow (published and
	// counted separately, never changes the outcome). Defaults to enforce.
	// +optional
	// +kubebuilder:default=enforce
	Mode RuleMode `json:"mode,omitempty"`
}

// IsEnabled reports whether the rule is on; unset means on.
func (r FraudRule) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }

// OutcomeThresholds map a summed score to allow, review or block.
type OutcomeThresholds struct {
	// review is the lowest score sent to manual review. Defaults to 50.
	// +optional
	// +kubebuilder:default=50
	// +kubebuilder:validation:Minimum=1
	Review int32 `json:"review,omitempty"`
	// block is the lowest score blocked. Defaults to 100.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	Block int32 `json:"block,omitempty"`
}

// AlertPriorities map outcomes to alert priorities.
type AlertPriorities struct {
	// review is the priority of review alerts.
	// +optional
	// +kubebuilder:default=P3
	Review AlertPriority `json:"review,omitempty"`
	// block is the priority of block alerts.
	// +optional
	// +kubebuilder:default=P1
	Block AlertPriority `json:"block,omitempty"`
}

// RuleStatus reports one rule's activity.
type RuleStatus struct {
	// name of the rule.
	Name string `json:"name"`
	// hits counts enforce-mode hits.
	// +optional
	Hits int64 `json:"hits"`
	// shadowHits counts shadow-mode hits.
	// +optional
	ShadowHits int64 `json:"shadowHits"`
	// lastHitTime is the time of the latest hit.
	// +optional
	LastHitTime *metav1.Time `json:"lastHitTime,omitempty"`
	// confirmedFraud counts hits that analysts labelled fraud.
	// +optional
	ConfirmedFraud int64 `json:"confirmedFraud,omitempty"`
	// confirmedLegit counts hits that analysts labelled legit.
	// +optional
	ConfirmedLegit int64 `json:"confirmedLegit,omitempty"`
	// precision is confirmedFraud / (confirmedFraud + confirmedLegit), as a
	// decimal string, once labels exist.
	// +optional
	Precision string `json:"precision,omitempty"`
}

// FraudRuleSetStatus is the observed state of a FraudRuleSet.
type FraudRuleSetStatus struct {
	// observedGeneration is the generation last fully reconciled (or stalled).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled, RulesCompiled,
	// PipelineResolved, ConfigApplied (every runtime replica scores with
	// this generation; ReloadFailed carries the runtime's error).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// compiledRules is the number of enabled rules that compiled.
	// +optional
	CompiledRules int32 `json:"compiledRules"`
	// appliedGeneration is the generation the Pipeline's runtime scores with.
	// +optional
	AppliedGeneration int64 `json:"appliedGeneration,omitempty"`
	// totalHits sums hits over all rules. Hits and labels are counted in
	// the runtime's checkpointed state, so they survive restarts.
	// +optional
	TotalHits int64 `json:"totalHits"`
	// rules reports activity per rule.
	// +optional
	// +listType=map
	// +listMapKey=name
	Rules []RuleStatus `json:"rules,omitempty"`
}

// FraudRuleSet declares CEL fraud rules for a Pipeline.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=frs;fraud,categories=ecap
// +kubebuilder:printcolumn:name="Pipeline",type=string,JSONPath=`.spec.pipelineRef.name`
// +kubebuilder:printcolumn:name="Rules",type=integer,JSONPath=`.status.compiledRules`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Hits",type=integer,JSONPath=`.status.totalHits`
// +kubebuilder:printcolumn:name="Applied",type=integer,JSONPath=`.status.appliedGeneration`,description="generation applied by the runtime"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=10
type FraudRuleSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the rule set.
	// +required
	Spec FraudRuleSetSpec `json:"spec"`
	// status is the observed state.
	// +optional
	Status FraudRuleSetStatus `json:"status,omitempty"`
}

// FraudRuleSetList is a list of FraudRuleSets.
// +kubebuilder:object:root=true
type FraudRuleSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FraudRuleSet `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FraudRuleSet{}, &FraudRuleSetList{})
}
