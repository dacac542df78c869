package events

import (
	"fmt"
	"strconv"
	"time"
)

const (
	// DefaultMaxFutureSkew is how far ahead of the validator's clock an
	// event_time may be when ValidatorConfig.MaxFutureSkew is zero.
	DefaultMaxFutureSkew = 5 * time.Minute
	// DefaultMaxAge is how far behind the validator's clock an event_time may
	// be when ValidatorConfig.MaxAge is zero: Kafka's default retention, so
	// anything a consumer can still read from a topic passes.
	DefaultMaxAge = 7 * 24 * time.Hour
)

// ValidatorConfig configures a Validator.
type ValidatorConfig struct {
	// Now returns the current time. Nil means time.Now; tests pass a fake.
	Now func() time.Time
	// MaxFutureSkew is how far event_time may be ahead of Now. Zero means
	// DefaultMaxFutureSkew; negative turns the check off.
	MaxFutureSkew time.Duration
	// MaxAge is how far event_time may be behind Now. Zero means
	// DefaultMaxAge; negative turns the check off. A backfill of old events
	// needs a larger value.
	MaxAge time.Duration
}

// Validator applies the semantic rules of the event schemas. It is safe for
// concurrent use.
type Validator struct {
	now           func() time.Time
	maxFutureSkew time.Duration
	maxAge        time.Duration
}

// NewValidator returns a Validator for cfg, with defaults filled in.
func NewValidator(cfg ValidatorConfig) *Validator {
	v := &Validator{now: cfg.Now, maxFutureSkew: cfg.MaxFutureSkew, maxAge: cfg.MaxAge}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxFutureSkew == 0 {
		v.maxFutureSkew = DefaultMaxFutureSkew
	}
	if v.maxAge == 0 {
		v.maxAge = DefaultMaxAge
	}
	return v
}

// Decode decodes data as an event of the given kind (see Decode) and
// validates it. This is the data plane's entry point for every record.
func (v *Validator) Decode(kind Kind, data []byte) (Event, error) {
	return v.validate(Decode(kind, data))
}

// DecodeOwned is Decode with DecodeOwned: data is handed over and must not
// be modified afterwards.
func (v *Validator) DecodeOwned(kind Kind, data []byte) (Event, error) {
	return v.validate(DecodeOwned(kind, data))
}

// DecodeTransactionInto is DecodeOwned for a transaction, decoded into b:
// the transaction is b's, valid until the next decode into b, and its
// strings point into data.
func (v *Validator) DecodeTransactionInto(b *TransactionBlock, data []byte) (*Transaction, error) {
	ev, err := v.validate(decode(KindTransaction, data, true, b))
	if err != nil {
		return nil, err
	}
	return ev.(*Transaction), nil
}

func (v *Validator) validate(ev Event, err error) (Event, error) {
	if err != nil {
		return nil, err
	}
	if err := v.Validate(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// Validate checks e against its schema's rules and returns the first
// violation as a *Rejection. It also checks events built in Go, except that
// it cannot tell an absent amount, unit_price or quantity from zero.
func (v *Validator) Validate(e Event) error {
	switch e := e.(type) {
	case *Transaction:
		return v.validateTransaction(e)
	case *UserEvent:
		return v.validateUserEvent(e)
	case *ProductUpdate:
		return v.validateProductUpdate(e)
	case nil:
		return fmt.Errorf("events: nil event")
	default:
		return fmt.Errorf("events: unknown event type %T", e)
	}
}

func (v *Validator) validateEnvelope(e *Envelope, kind Kind) error {
	if err := requireID("event_id", e.EventID); err != nil {
		return err
	}
	switch {
	case e.Type == "":
		return reject(ReasonMissingField, "type", "type is required")
	case e.Type.known() && e.Type != kind:
		return typeMismatch(kind, e.Type)
	case e.Type != kind:
		return invalidEnum("type", string(e.Type))
	}
	if e.SchemaVersion < 1 || e.SchemaVersion > SchemaVersion {
		return unsupportedVersion(int64(e.SchemaVersion))
	}
	if e.EventTime.IsZero() {
		return reject(ReasonMissingField, "event_time", "event_time is required")
	}
	// The bounds as instants, compared with After and Before: the same
	// answers as comparing Sub's durations (exact, and saturated Sub
	// results are far beyond any bound), without Sub's overflow checks on
	// every record. The durations are only computed for the message.
	now := v.now()
	if v.maxFutureSkew > 0 && e.EventTime.After(now.Add(v.maxFutureSkew)) {
		return reject(ReasonTimestampSkew, "event_time",
			fmt.Sprintf("event_time is %s ahead of now, more than the allowed %s", e.EventTime.Sub(now), v.maxFutureSkew))
	}
	if v.maxAge > 0 && e.EventTime.Before(now.Add(-v.maxAge)) {
		return reject(ReasonTimestampSkew, "event_time",
			fmt.Sprintf("event_time is %s old, more than the allowed %s", now.Sub(e.EventTime), v.maxAge))
	}
	return nil
}

func requireID(field, id string) error {
	if id == "" {
		return reject(ReasonMissingField, field, field+" is required")
	}
	return optionalID(field, id)
}

func optionalID(field, id string) error {
	if len(id) > MaxIDLength {
		return tooLong(field, len(id))
	}
	return nil
}

func tooLong(field string, n int) error {
	return reject(ReasonOutOfRange, field, fmt.Sprintf("%d bytes long, more than %d", n, MaxIDLength))
}

func invalidEnum(field, value string) error {
	return reject(ReasonInvalidEnum, field, fmt.Sprintf("%q is not an allowed value", value))
}

// checkMoney checks a price or amount: finite, 0 to MaxAmount.
func checkMoney(field string, x float64) error {
	if !moneyOK(x) {
		return moneyError(field, x)
	}
	return nil
}

func moneyOK(x float64) bool { return x >= 0 && x <= MaxAmount } // false for NaN

func moneyError(field string, x float64) error {
	return reject(ReasonOutOfRange, field, fmt.Sprintf("%s is outside 0 to %s", formatFloat(x), formatFloat(MaxAmount)))
}

func formatFloat(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}

func validateDevice(d *Device) error {
	if d.Type != "" && !d.Type.Valid() {
		return invalidEnum("device.type", string(d.Type))
	}
	return optionalID("device.id", d.ID)
}

func validateGeo(g *Geo) error {
	const field = "geo"
	if g.Country != "" && !validCountry(g.Country) {
		return reject(ReasonInvalidCountry, field+".country", fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 code", g.Country))
	}
	switch {
	case g.Lat == nil && g.Lon == nil:
		return nil
	case g.Lat == nil:
		return reject(ReasonMissingField, field+".lat", "lat is required with lon")
	case g.Lon == nil:
		return reject(ReasonMissingField, field+".lon", "lon is required with lat")
	}
	if lat := *g.Lat; !(lat >= -90 && lat <= 90) {
		return reject(ReasonOutOfRange, field+".lat", fmt.Sprintf("latitude %s is outside -90 to 90", formatFloat(lat)))
	}
	if lon := *g.Lon; !(lon >= -180 && lon <= 180) {
		return reject(ReasonOutOfRange, field+".lon", fmt.Sprintf("longitude %s is outside -180 to 180", formatFloat(lon)))
	}
	return nil
}
