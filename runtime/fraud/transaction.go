package fraud

import (
	"math"
	"time"
)

// Transaction is the input of scoring: one payment, already decoded,
// validated and enriched. The runtime maps its event type onto it; fraud
// keeps its own type so that it does not follow every change of the event
// schema.
type Transaction struct {
	// ID identifies the payment; alert IDs are derived from it.
	ID string
	// EventTime is when the payment happened. Windows, history and
	// geo-velocity all use event time, never the time of processing.
	EventTime time.Time
	// CustomerID identifies the payer. State is kept per customer.
	CustomerID string
	// Amount charged, in major units of Currency. Non-finite amounts are
	// scored as given but never enter history, sums or averages.
	Amount float64
	// Currency is the ISO 4217 code.
	Currency string
	// PaymentMethod is card, paypal, apple_pay, ...
	PaymentMethod string
	// CardFingerprint identifies the card; empty for other methods.
	CardFingerprint string
	// DeviceID identifies the client device; empty if unknown.
	DeviceID string
	// IP is the client address in text form; empty if unknown.
	IP string
	// Country is the ISO 3166-1 alpha-2 code of where the payment came
	// from; empty if unknown.
	Country string
	// City where the payment came from; empty if unknown.
	City string
	// Lat and Lon are WGS84 degrees, meaningful only when HasGeo is set.
	Lat, Lon float64
	// HasGeo tells whether Lat and Lon are known.
	HasGeo bool
	// MerchantID identifies the seller; empty if unknown.
	MerchantID string
	// Channel is web, mobile_app, marketplace, store or call_center.
	Channel string
	// Lines is the number of order lines; Units the sum of their quantities.
	Lines, Units int64
	// Categories are the product categories of the lines, from enrichment.
	Categories []string
	// Margin is the order's gross margin from enrichment, in major units.
	Margin float64
}

// maxStatAmount bounds the amounts that enter history and sums. The event
// decoder already rejects amounts above 1e7; this bound only keeps the
// running moments finite whatever a caller passes in.
const maxStatAmount = 1e12

// statAmount reports whether the amount may enter history and sums.
func (t *Transaction) statAmount() bool {
	return !math.IsNaN(t.Amount) && math.Abs(t.Amount) <= maxStatAmount
}

// geo reports whether the transaction carries usable coordinates.
func (t *Transaction) geo() bool {
	return t.HasGeo && t.Lat >= -90 && t.Lat <= 90 && t.Lon >= -180 && t.Lon <= 180
}

// Times are kept as Unix nanoseconds. Go cannot represent times outside
// roughly the years 1678 to 2262 that way, so they are clamped: a garbage
// time must not wrap around into the far past or future.
var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}
