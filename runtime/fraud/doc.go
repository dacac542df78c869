// Package fraud scores transactions with the CEL rules of a FraudRuleSet.
// It is pure Go: no Kafka, no Kubernetes client. The runtime maps each
// decoded transaction event onto a Transaction, keeps one State per Kafka
// partition and publishes the Decisions; the admission webhook and the
// controller call ValidateSpec.
//
// # Data flow
//
//	FraudRuleSetSpec ──Compile──► *RuleSet ──Holder.Swap/Update──► Holder (atomic pointer)
//	                                                                  │ one load per transaction
//	Transaction ──► RuleSet.Evaluate(txn, state) ──► Decision ──► alerts topic (JSON)
//	                 (pure: reads state as it was      │
//	                  before this transaction)         ▼
//	                RuleSet.Observe(txn, state, &decision)   updates history, windows,
//	                                                         merchant counters, alert log, Stats
//	Feedback ──► State.ApplyFeedback(fb, stats) ──► merchant confirmed counts, rule precision
//	State ──FlushChanges──► changelog records ──Restore──► State  (checkpointing)
//
// Evaluate before Observe is what makes the detectors honest: the amount
// z-score, novelty of device and country and geo-velocity compare the
// transaction with the history before it. Velocity features, on the other
// hand, count the transaction being scored ("the 5th payment on this card in
// 10 minutes" includes this one).
//
// # Rules
//
// Each rule is a CEL expression over qualified variables: txn.*,
// customer.*, detectors.*, merchant.* and features.<name>. Every field is
// its own typed declaration, so the checker rejects unknown fields and
// undeclared features with the rule's name and the position, and the
// evaluator computes only what the enabled rules read, once per
// transaction, through a lazy activation. A rule set is compiled once per
// generation; evaluation is bounded by the spec's cost limit per rule.
//
// # State
//
// State holds, per partition, customer histories (Welford moments, first
// and last times, the latest geo fix, the last 16 devices and countries),
// merchant counters, velocity windows per card, device, IP, merchant or
// customer (bucketed sliding windows, K-minimum-values sketches for distinct
// counts) and the alerts awaiting feedback. All of it is bounded per key,
// serialised compactly and emitted as keyed changelog records. Keys other
// than the customer are approximations when the entity spans partitions;
// see docs/fraud.md.
//
// docs/fraud.md is the user-facing reference: variables, detector
// formulas, windows, outcomes, shadow mode, hot reload, feedback, a sample
// rule set and benchmark figures.
package fraud
