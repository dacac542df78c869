// Package retentionpolicy reconciles RetentionPolicies: it validates the
// schedule, selectors and durations, resolves spec.pipelineRef, and owns the
// CronJob (with its ServiceAccount, Role and RoleBinding) that runs
// `ecap retention` on the schedule. It also serves the validating webhook.
package retentionpolicy
