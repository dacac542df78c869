package generator

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

// Bad-input reasons: Record.Bad and the keys of Stats.Bad.
const (
	// BadMalformedJSON: the payload is cut in half.
	BadMalformedJSON = "malformed_json"
	// BadMissingField: a required field (customer_id, session_id or
	// category) is empty.
	BadMissingField = "missing_field"
	// BadWrongType: schema_version is a string.
	BadWrongType = "wrong_type"
	// BadAbsurdValue: a quantity of millions, a latitude of 123 or a
	// negative price.
	BadAbsurdValue = "absurd_value"
	// BadDuplicate: a good record sent again, same bytes and event_id.
	BadDuplicate = "duplicate"
	// BadLate: a copy of a good event (new event_id) whose event_time is
	// 30 to 90 days in the past.
	BadLate = "late"
	// BadUnknownCurrency: a transaction or product in a currency that is not
	// an ISO 4217 code.
	BadUnknownCurrency = "unknown_currency"
)

// BadReasons lists the reasons in the order they are drawn (uniformly).
var BadReasons = []string{BadMalformedJSON, BadMissingField, BadWrongType, BadAbsurdValue,
	BadDuplicate, BadLate, BadUnknownCurrency}

// ExpectedRejection returns the events.Reason* code a validator gives a bad
// record of reason, or "" for duplicates: they are valid events, and only
// deduplication drops them. BadLate is refused as timestamp_skew by a
// validator whose clock is near the generator's (events.DefaultMaxAge is
// 7 days); a backfill with a larger MaxAge lets them through.
func ExpectedRejection(reason string) string {
	switch reason {
	case BadMalformedJSON:
		return events.ReasonMalformedJSON
	case BadMissingField:
		return events.ReasonMissingField
	case BadWrongType:
		return events.ReasonWrongType
	case BadAbsurdValue:
		return events.ReasonOutOfRange
	case BadLate:
		return events.ReasonTimestampSkew
	case BadUnknownCurrency:
		return events.ReasonInvalidCurrency
	}
	return ""
}

var unknownCurrencies = []string{"XYZ", "ABC", "BTC", "EURO"}

// badRecord derives a bad record from the latest good record of the same
// kind as the latest one emitted; false before any good record exists.
func (g *Generator) badRecord() (Record, bool) {
	base := g.lastGood[g.lastKind]
	if base == nil {
		return Record{}, false
	}
	reason := BadReasons[g.rng.IntN(len(BadReasons))]
	if reason == BadUnknownCurrency {
		// User events carry no currency: use the latest transaction or
		// product instead.
		if _, ok := base.event.(*events.UserEvent); ok {
			if base = g.lastGood[kindIndex(events.KindTransaction)]; base == nil {
				base = g.lastGood[kindIndex(events.KindProductUpdate)]
			}
		}
	}
	rec := Record{Topic: base.event.Kind(), Key: []byte(base.key), EventTime: base.event.Time(), Bad: reason}
	switch reason {
	case BadMalformedJSON:
		rec.Value = slices.Clone(base.value[:len(base.value)/2])
	case BadWrongType:
		rec.Value = bytes.Replace(base.value, []byte(`"schema_version":1`), []byte(`"schema_version":"1"`), 1)
	case BadDuplicate:
		rec.Value = slices.Clone(base.value)
	default:
		ev := g.mutate(base.event, reason)
		value, err := events.Encode(ev)
		if err != nil {
			panic("generator: failed to encode a bad " + string(ev.Kind()) + ": " + err.Error())
		}
		rec.Value, rec.EventTime = value, ev.Time()
	}
	return rec, true
}

// mutate returns a copy of ev with a new event_id, spoilt for reason
// (missing_field, absurd_value, late or unknown_currency).
func (g *Generator) mutate(ev events.Event, reason string) events.Event {
	id := uuid(g.rng)
	lateBy := time.Duration(30+g.rng.IntN(61)) * 24 * time.Hour
	switch e := ev.(type) {
	case *events.Transaction:
		c := *e
		c.EventID = id
		c.Lines = slices.Clone(e.Lines)
		switch reason {
		case BadMissingField:
			c.CustomerID = ""
		case BadAbsurdValue:
			c.Lines[0].Quantity = 5_000_000
		case BadLate:
			c.EventTime = c.EventTime.Add(-lateBy)
		case BadUnknownCurrency:
			c.Currency = pickString(g.rng, unknownCurrencies)
		}
		return &c
	case *events.UserEvent:
		c := *e
		c.EventID = id
		switch reason {
		case BadMissingField:
			c.SessionID = ""
		case BadAbsurdValue:
			lat, lon := 123.4, 0.0
			if e.Geo.Lon != nil {
				lon = *e.Geo.Lon
			}
			c.Geo.Lat, c.Geo.Lon = &lat, &lon
		case BadLate:
			c.EventTime = c.EventTime.Add(-lateBy)
		}
		return &c
	case *events.ProductUpdate:
		c := *e
		c.EventID = id
		switch reason {
		case BadMissingField:
			c.Category = ""
		case BadAbsurdValue:
			price := -99.0
			c.Price = &price
		case BadLate:
			c.EventTime = c.EventTime.Add(-lateBy)
		case BadUnknownCurrency:
			c.Currency = pickString(g.rng, unknownCurrencies)
		}
		return &c
	}
	panic("generator: unknown event type")
}

func pickString(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }
