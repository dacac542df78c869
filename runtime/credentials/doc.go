// Package credentials supplies the runtime with username/password pairs
// (Kafka SASL users, object-storage access keys) that may change while it
// runs.
//
// A Source answers "what are the credentials now?" thread-safely and
// reports a Status for /v1/status and /readyz. Two sources exist: Static,
// for a pair read once from the environment (a Kubernetes Secret mapped onto
// env vars), and Vault, which logs in with the Kubernetes auth method,
// reads a KV version 2 secret, keeps its token alive and re-reads the
// secret periodically to pick up rotations.
//
// Secret values never leave this package in printable form: a password is
// a Secret, whose String, GoString, LogValue, MarshalJSON and MarshalText
// all print "[redacted]". Only Reveal returns the value, for the one caller
// that must send it (the SASL handshake).
package credentials
