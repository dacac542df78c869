// Package events defines the three event kinds that enter ECAP (transaction,
// user_event, product_update), and decodes, validates and encodes them.
//
// The hot path is Validator.Decode: a strict, schema-specific JSON reader
// (no reflection, one copy of the payload) followed by the semantic checks.
// Every refusal is a *Rejection with a stable reason code and the JSON path
// of the field at fault, ready to be written as dead-letter headers with
// DeadLetterHeaders. Quality keeps per-kind counts of optional-field
// completeness and rejections.
//
// Unknown fields are ignored, so producers may add fields before consumers
// know them; a schema_version above SchemaVersion is refused.
//
// The package has no Kafka or Prometheus dependency: the readers, writers
// and metrics live elsewhere and use the plain types here.
package events
