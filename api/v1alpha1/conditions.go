package v1alpha1

// Condition types shared by every kind. They follow the kstatus conventions:
// Ready is the summary, Reconciling is True while the controller works towards
// the latest generation, Stalled is True when it cannot progress without a
// change to the spec or to the environment.
const (
	// ConditionReady is True when the object is fully reconciled and healthy.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is making progress
	// towards the desired state (abnormal-true, kstatus).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when reconciliation cannot progress; the
	// reason and message say why (abnormal-true, kstatus).
	ConditionStalled = "Stalled"
)

// Domain condition types.
const (
	// ConditionRulesCompiled reports whether every rule of a FraudRuleSet
	// compiled against the declared variable environment.
	ConditionRulesCompiled = "RulesCompiled"
	// ConditionPipelineResolved reports whether spec.pipelineRef names an
	// existing Pipeline.
	ConditionPipelineResolved = "PipelineResolved"
	// ConditionKafkaReachable reports whether the Pipeline's brokers answered
	// the last metadata and consumer-group lag query.
	ConditionKafkaReachable = "KafkaReachable"
	// ConditionDeploymentAvailable reports whether the runtime Deployment has
	// the desired number of available, updated replicas.
	ConditionDeploymentAvailable = "DeploymentAvailable"
	// ConditionConfigApplied reports whether the runtime pods run the latest
	// resolved configuration generation.
	ConditionConfigApplied = "ConfigApplied"
	// ConditionScheduled reports whether the CronJob that enforces a
	// RetentionPolicy exists and matches the spec.
	ConditionScheduled = "Scheduled"
	// ConditionCalibrationExact reports, for a Segmentation with
	// spec.calibrationEnd, whether the last run had every customer's
	// summary at that day. It is False when customers had purchased on
	// both sides of the day before the runtime tracked it (the day was
	// set or changed after their purchases were consumed): they are left
	// out of the fit.
	ConditionCalibrationExact = "CalibrationExact"
	// ConditionLastRunSucceeded reports whether the last "ecap retention"
	// run of a RetentionPolicy enforced every target. The job owns it; the
	// controller folds a False into Stalled.
	ConditionLastRunSucceeded = "LastRunSucceeded"
	// ConditionLakeWritable reports whether the runtime replicas of a
	// Pipeline with spec.sinks.lake write and commit to the lake.
	ConditionLakeWritable = "LakeWritable"
)

// Condition reasons. Reasons are CamelCase and stable: alerts and scripts may
// match on them.
const (
	// ReasonSucceeded: the object is reconciled.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: the controller is rolling out a change.
	ReasonProgressing = "Progressing"
	// ReasonWaitingForRuntime: the Pipeline's runtime has not applied the
	// current generation yet.
	ReasonWaitingForRuntime = "WaitingForRuntime"
	// ReasonRuntimeRejected: the Pipeline's runtime refused the current
	// generation; the message gives its reason.
	ReasonRuntimeRejected = "RuntimeRejected"
	// ReasonSuspended: spec.suspend is true; the object is intentionally idle.
	ReasonSuspended = "Suspended"
	// ReasonInvalidSpec: the spec is invalid in a way the schema could not
	// catch; the message names the field.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonCompileFailed: a fraud rule did not compile; the message names
	// the rule and carries the compiler's message.
	ReasonCompileFailed = "CompileFailed"
	// ReasonCompiled: every rule compiled.
	ReasonCompiled = "Compiled"
	// ReasonPipelineNotFound: spec.pipelineRef names a Pipeline that does not
	// exist in the namespace.
	ReasonPipelineNotFound = "PipelineNotFound"
	// ReasonPipelineFound: spec.pipelineRef resolves.
	ReasonPipelineFound = "PipelineFound"
	// ReasonDeploymentUnavailable: the runtime Deployment has fewer available
	// replicas than desired.
	ReasonDeploymentUnavailable = "DeploymentUnavailable"
	// ReasonDeploymentAvailable: the runtime Deployment is available.
	ReasonDeploymentAvailable = "DeploymentAvailable"
	// ReasonReconcileError: a transient error occurred; it is retried with
	// back-off.
	ReasonReconcileError = "ReconcileError"
	// ReasonLagNotDecreasing: consumer lag stayed above zero without any
	// committed progress for longer than spec.stallAfter.
	ReasonLagNotDecreasing = "LagNotDecreasing"
	// ReasonKafkaUnreachable: the brokers did not answer.
	ReasonKafkaUnreachable = "KafkaUnreachable"
	// ReasonKafkaReachable: the brokers answered.
	ReasonKafkaReachable = "KafkaReachable"
	// ReasonLakeUnavailable: a runtime replica failed to write or commit to
	// the lake; it keeps the data staged and retries. The message has the
	// object store's error.
	ReasonLakeUnavailable = "LakeUnavailable"
	// ReasonLakeWritable: every answering replica writes to the lake.
	ReasonLakeWritable = "LakeWritable"
	// ReasonCronJobReady: the enforcement CronJob is in place.
	ReasonCronJobReady = "CronJobReady"
	// ReasonApplied: every runtime replica runs the object's generation.
	ReasonApplied = "Applied"
	// ReasonReloadFailed: the runtime could not load the generation (it
	// keeps the previous one); the message has the runtime's error.
	ReasonReloadFailed = "ReloadFailed"
	// ReasonRuntimeNotRunning: no runtime replica answered.
	ReasonRuntimeNotRunning = "RuntimeNotRunning"
	// ReasonSummariesFrozen: every customer's summary at the calibration
	// end was kept.
	ReasonSummariesFrozen = "SummariesFrozen"
	// ReasonSummariesUnknown: some customers' summaries at the calibration
	// end are unknown; the message counts them.
	ReasonSummariesUnknown = "SummariesUnknown"
	// ReasonRunFailed: a retention run could not enforce a target; the
	// message says which and why.
	ReasonRunFailed = "RunFailed"
	// ReasonRuntimeNotAcknowledged: the runtime did not acknowledge every
	// retention request within the job's wait.
	ReasonRuntimeNotAcknowledged = "RuntimeNotAcknowledged"
)

// Well-known annotations and labels.
const (
	// AnnotationRunNow triggers an on-demand run of a Segmentation or
	// RetentionPolicy when its value changes (any value, e.g. a timestamp).
	AnnotationRunNow = "analytics.ecap.dev/run-now"
	// AnnotationConfigHash is set on the runtime pod template; its change
	// rolls the pods.
	AnnotationConfigHash = "analytics.ecap.dev/config-hash"
	// AnnotationSpecHash is set on children; the controller updates a child
	// only when its desired spec hash differs.
	AnnotationSpecHash = "analytics.ecap.dev/spec-hash"
	// LabelPipeline names the Pipeline a child object belongs to.
	LabelPipeline = "analytics.ecap.dev/pipeline"
	// LabelComponent names the role of a child object (runtime, retention).
	LabelComponent = "app.kubernetes.io/component"
)
