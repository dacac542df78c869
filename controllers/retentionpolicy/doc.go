// Package retentionpolicy reconciles RetentionPolicies: it validates the
// schedule, selectors and durations, resolves spec.pipelineRef, and owns the
// CronJob (with its ServiceAccount, Role and RoleBinding) that runs
// `ecap retention` on the schedule. It applies spec.topics itself: the
// retention configs of the selected Kafka topics are set through the admin
// API and re-checked periodically to correct drift, each change leaving an
// audit record (topics.go, audit.go). It also serves the validating webhook.
package retentionpolicy
