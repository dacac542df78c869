package events

import "strings"

// Rejection reasons. Each is a stable snake_case code: it is written to the
// ecap-dlq-reason header of a dead-lettered record and used as a metric
// label, so renaming one is a breaking change.
const (
	// ReasonMalformedJSON: the payload is not a single well-formed JSON value
	// encoded as UTF-8 (syntax error, trailing data, invalid UTF-8, nesting
	// deeper than 32).
	ReasonMalformedJSON = "malformed_json"
	// ReasonMissingField: a required field is absent, null or empty, or a
	// field that another field makes required (payment.card_fingerprint for
	// card payments, product_id for product views) is.
	ReasonMissingField = "missing_field"
	// ReasonWrongType: a field holds a JSON type other than the schema's, for
	// example a string quantity or a fractional integer.
	ReasonWrongType = "wrong_type"
	// ReasonOutOfRange: a number is outside its bounds, not finite, or a
	// string or list is too long or too short.
	ReasonOutOfRange = "out_of_range"
	// ReasonInvalidFormat: a string does not match its pattern (card_bin).
	ReasonInvalidFormat = "invalid_format"
	// ReasonInvalidCurrency: currency is not an active ISO 4217 code.
	ReasonInvalidCurrency = "invalid_currency"
	// ReasonInvalidCountry: geo.country is not an ISO 3166-1 alpha-2 code.
	ReasonInvalidCountry = "invalid_country"
	// ReasonInvalidEnum: a field that takes a fixed set of values has another.
	ReasonInvalidEnum = "invalid_enum"
	// ReasonInvalidTimestamp: event_time is not an RFC 3339 timestamp.
	ReasonInvalidTimestamp = "invalid_timestamp"
	// ReasonTimestampSkew: event_time is further ahead of the validator's
	// clock than the allowed future skew, or older than the maximum age.
	ReasonTimestampSkew = "timestamp_skew"
	// ReasonUnsupportedSchemaVersion: schema_version is newer than this build
	// understands (or below 1). Such events are dead-lettered, not guessed
	// at, so that they can be replayed after an upgrade.
	ReasonUnsupportedSchemaVersion = "unsupported_schema_version"
	// ReasonTypeMismatch: the event's type is a known kind, but not the kind
	// the topic carries.
	ReasonTypeMismatch = "type_mismatch"
	// ReasonInconsistentAmount: a transaction's amount differs from the sum
	// of its lines by more than one minor currency unit per line.
	ReasonInconsistentAmount = "inconsistent_amount"
	// ReasonInvalidIP: ip is not a textual IPv4 or IPv6 address without zone.
	ReasonInvalidIP = "invalid_ip"
)

// Reasons lists every rejection reason, in a fixed order.
var Reasons = []string{
	ReasonMalformedJSON,
	ReasonMissingField,
	ReasonWrongType,
	ReasonOutOfRange,
	ReasonInvalidFormat,
	ReasonInvalidCurrency,
	ReasonInvalidCountry,
	ReasonInvalidEnum,
	ReasonInvalidTimestamp,
	ReasonTimestampSkew,
	ReasonUnsupportedSchemaVersion,
	ReasonTypeMismatch,
	ReasonInconsistentAmount,
	ReasonInvalidIP,
}

// Rejection says why an event was refused. Decode and Validate return it as
// their error; use errors.As to get at it.
type Rejection struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Field is the JSON path of the offending field, such as
	// "lines[2].quantity"; empty when the problem is the whole payload.
	Field string
	// Detail is a human-readable explanation. Its wording may change.
	Detail string
}

func (r *Rejection) Error() string {
	var b strings.Builder
	b.WriteString("event rejected: ")
	b.WriteString(r.Reason)
	if r.Field != "" {
		b.WriteString(" at ")
		b.WriteString(r.Field)
	}
	if r.Detail != "" {
		b.WriteString(": ")
		b.WriteString(r.Detail)
	}
	return b.String()
}

func reject(reason, field, detail string) *Rejection {
	return &Rejection{Reason: reason, Field: field, Detail: detail}
}
