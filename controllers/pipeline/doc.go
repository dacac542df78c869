// Package pipeline reconciles Pipelines into a running data plane.
//
// It owns, per Pipeline: the runtime ConfigMap (the resolved RuntimeConfig of
// the Pipeline and every FraudRuleSet and Segmentation whose pipelineRef names
// it), the runtime Deployment running `ecap runtime`, a Service for the admin
// port (metrics, health, query API), a ServiceAccount with a read-only Role
// and its RoleBinding, and an optional HorizontalPodAutoscaler.
//
// Only restart-relevant changes (the Pipeline itself, the image) change the
// config hash on the pod template and roll the pods; rule-set and
// segmentation changes only rewrite the ConfigMap and are hot-reloaded by the
// runtime. Children are written only when their desired spec hash changes, so
// a steady state makes no API writes.
//
// The package also serves the Pipeline validating webhook: the checks that the
// OpenAPI schema cannot express (window arithmetic, topic clashes) run both
// at admission and in the reconciler, which marks Stalled what slipped past.
package pipeline
