// Package retention is the Kafka side of an `ecap retention` run: the
// targets a RetentionPolicy enforces through a Pipeline's runtime and
// topics, and the control channel they use.
//
// A run enforces a list of Targets. Each Target has a kind and a name (the
// status and audit identity) and one method, Enforce, which does the work
// (or, in a dry run, counts it) and returns an Outcome. This package has
// two kinds:
//
//   - Erasure: one EraseCustomer request per customer on the Pipeline's
//     control topic (keyed by the customer ID, so it reaches the partition
//     that owns the customer); once acknowledged, tombstones for the
//     customers in the compacted customer-profile topics.
//   - CustomerState: one ForgetInactive request per control partition with
//     the cutoff now - inactiveAfter.
//
// Lake datasets (expiry, archival, erasure by rewrite) are one more
// Target implementation, built from spec.lake by the lake package and
// appended to the run's list; nothing else changes.
//
// Acknowledgements are the runtime's audit records: every applied request
// writes one, keyed by the request ID, so all of a run's acknowledgements
// of one target land on one audit partition, which the Channel reads from
// the offset it had before the requests were sent, for at most the ack
// timeout. A run that times out reports the counts acknowledged so far;
// the requests stay in the control topic and the runtime applies them when
// it comes back.
package retention
