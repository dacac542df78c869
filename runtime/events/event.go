package events

import "time"

// Kind names an event type; it is the value of the JSON "type" field.
type Kind string

const (
	KindTransaction   Kind = "transaction"
	KindUserEvent     Kind = "user_event"
	KindProductUpdate Kind = "product_update"
)

// Kinds lists the event kinds, in a fixed order.
var Kinds = []Kind{KindTransaction, KindUserEvent, KindProductUpdate}

// SchemaVersion is the newest schema_version this build understands.
const SchemaVersion = 1

// MaxIDLength bounds event_id and every other identifier field, in bytes.
const MaxIDLength = 128

// Event is one decoded event: a *Transaction, *UserEvent or *ProductUpdate.
type Event interface {
	// Kind is the event's kind, fixed by its Go type.
	Kind() Kind
	// ID is the event_id, the key for deduplication.
	ID() string
	// Time is the event_time.
	Time() time.Time
}

var (
	_ Event = (*Transaction)(nil)
	_ Event = (*UserEvent)(nil)
	_ Event = (*ProductUpdate)(nil)
)

// Envelope holds the fields every event carries. It is embedded, so its
// fields sit at the top level of the JSON object.
type Envelope struct {
	// event_id identifies the event; producers reuse it when they retry, so
	// it is what deduplication keys on. Required, at most MaxIDLength bytes.
	EventID string `json:"event_id"`
	// type is the event kind. Required; Decode fills it in.
	Type Kind `json:"type"`
	// schema_version is the version of the event's schema. Required, an
	// integer from 1 to SchemaVersion.
	SchemaVersion int `json:"schema_version"`
	// event_time is when the event happened at the source: RFC 3339 with
	// optional fractional seconds, any offset. Decode stores it in UTC.
	// Required.
	EventTime time.Time `json:"event_time"`
}

// ID returns the event_id.
func (e *Envelope) ID() string { return e.EventID }

// Time returns the event_time.
func (e *Envelope) Time() time.Time { return e.EventTime }

// Channel is the sales channel an event came through.
type Channel string

const (
	ChannelWeb         Channel = "web"
	ChannelMobileApp   Channel = "mobile_app"
	ChannelMarketplace Channel = "marketplace"
	ChannelStore       Channel = "store"
	ChannelCallCenter  Channel = "call_center"
)

// Valid reports whether c is one of the Channel constants.
func (c Channel) Valid() bool {
	switch c {
	case ChannelWeb, ChannelMobileApp, ChannelMarketplace, ChannelStore, ChannelCallCenter:
		return true
	}
	return false
}

// DeviceType is the class of device an event came from.
type DeviceType string

const (
	DeviceDesktop DeviceType = "desktop"
	DeviceMobile  DeviceType = "mobile"
	DeviceTablet  DeviceType = "tablet"
	DeviceOther   DeviceType = "other"
)

// Valid reports whether d is one of the DeviceType constants.
func (d DeviceType) Valid() bool {
	switch d {
	case DeviceDesktop, DeviceMobile, DeviceTablet, DeviceOther:
		return true
	}
	return false
}

// Device describes the client device. All fields are optional.
type Device struct {
	// id is a stable device identifier (cookie or app install ID).
	ID string `json:"id,omitempty"`
	// type is one of desktop, mobile, tablet, other.
	Type DeviceType `json:"type,omitempty"`
	// os is the operating system name, free text.
	OS string `json:"os,omitempty"`
	// user_agent is the raw User-Agent header.
	UserAgent string `json:"user_agent,omitempty"`
}

// Geo is where the event came from. All fields are optional, but lat and lon
// come together.
type Geo struct {
	// country is an ISO 3166-1 alpha-2 code, upper case.
	Country string `json:"country,omitempty"`
	// city is free text.
	City string `json:"city,omitempty"`
	// lat is the latitude in degrees, -90 to 90.
	Lat *float64 `json:"lat,omitempty"`
	// lon is the longitude in degrees, -180 to 180.
	Lon *float64 `json:"lon,omitempty"`
}

// Channels lists the Channel values.
var Channels = []Channel{ChannelWeb, ChannelMobileApp, ChannelMarketplace, ChannelStore, ChannelCallCenter}

// DeviceTypes lists the DeviceType values.
var DeviceTypes = []DeviceType{DeviceDesktop, DeviceMobile, DeviceTablet, DeviceOther}

// RequiredFields returns the JSON paths that kind always requires: top-level
// names, "parent.name" for members required whenever their optional parent
// object is present, and "list[].name" for members of list elements.
// Requirements that depend on other values (card_fingerprint for card
// payments, product_id for some actions) are not listed. docs/schemas holds
// the same lists; a test keeps them in step.
func RequiredFields(kind Kind) []string {
	envelope := []string{"event_id", "type", "schema_version", "event_time"}
	switch kind {
	case KindTransaction:
		return append(envelope, "transaction_id", "customer_id", "lines", "amount", "currency",
			"lines[].product_id", "lines[].quantity", "lines[].unit_price", "payment.method")
	case KindUserEvent:
		return append(envelope, "session_id", "action")
	case KindProductUpdate:
		return append(envelope, "product_id", "category")
	}
	return nil
}
