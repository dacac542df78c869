package events

import "fmt"

// UserEvent is one step of a shopper's session: kind "user_event".
type UserEvent struct {
	Envelope
	// session_id identifies the browsing session. Required.
	SessionID string `json:"session_id"`
	// customer_id identifies a signed-in customer; empty for anonymous
	// sessions. Optional.
	CustomerID string `json:"customer_id,omitempty"`
	// action is what the shopper did, one of the Action values. Required.
	Action Action `json:"action"`
	// product_id is the product acted on. Required for product_view,
	// add_to_cart and remove_from_cart.
	ProductID string `json:"product_id,omitempty"`
	// query is the search text. Required for search.
	Query string `json:"query,omitempty"`
	// order_id is the order placed. For purchase, order_id or
	// transaction_id is required.
	OrderID string `json:"order_id,omitempty"`
	// transaction_id links a purchase to its transaction event.
	TransactionID string `json:"transaction_id,omitempty"`
	// page is the logical page name, such as "home" or "cart". Optional.
	Page string `json:"page,omitempty"`
	// url is the full page URL. Optional.
	URL string `json:"url,omitempty"`
	// referrer is the referring URL. Optional.
	Referrer string `json:"referrer,omitempty"`
	// utm holds the campaign parameters of the landing URL. Optional.
	UTM UTM `json:"utm,omitzero"`
	// device is the client device. Optional.
	Device Device `json:"device,omitzero"`
	// geo is where the shopper is. Optional.
	Geo Geo `json:"geo,omitzero"`
	// channel is one of web, mobile_app, marketplace, store, call_center.
	// Optional.
	Channel Channel `json:"channel,omitempty"`
}

// Kind returns KindUserEvent.
func (*UserEvent) Kind() Kind { return KindUserEvent }

// Action is what a shopper did.
type Action string

const (
	ActionPageView       Action = "page_view"
	ActionProductView    Action = "product_view"
	ActionSearch         Action = "search"
	ActionAddToCart      Action = "add_to_cart"
	ActionRemoveFromCart Action = "remove_from_cart"
	ActionCheckoutStart  Action = "checkout_start"
	ActionPurchase       Action = "purchase"
)

// Valid reports whether a is one of the Action constants.
func (a Action) Valid() bool {
	switch a {
	case ActionPageView, ActionProductView, ActionSearch, ActionAddToCart,
		ActionRemoveFromCart, ActionCheckoutStart, ActionPurchase:
		return true
	}
	return false
}

// UTM holds the utm_* campaign parameters. All fields are optional.
type UTM struct {
	Source   string `json:"source,omitempty"`
	Medium   string `json:"medium,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	Term     string `json:"term,omitempty"`
	Content  string `json:"content,omitempty"`
}

// The member names of a user event, numbered for fieldTable; the first
// four are the envelope's.
const (
	ueSessionID = iota + 5
	ueCustomerID
	ueAction
	ueProductID
	ueQuery
	ueOrderID
	ueTransactionID
	uePage
	ueURL
	ueReferrer
	ueUTM
	ueDevice
	ueGeo
	ueChannel
)

var userEventFields = newFieldTable(envelopeName(0), envelopeName(1), envelopeName(2), envelopeName(3),
	"session_id", "customer_id", "action", "product_id", "query", "order_id", "transaction_id",
	"page", "url", "referrer", "utm", "device", "geo", "channel")

func (u *UserEvent) decode(s *scanner) error {
	if err := s.root(); err != nil {
		return err
	}
	var seen presence
	for first := true; ; first = false {
		field, ok, err := s.nextField(first, userEventFields)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		var v string
		switch field {
		case envEventID, envType, envSchemaVersion, envEventTime:
			err = s.envelopeField(field, KindUserEvent, &u.Envelope, &seen)
		case ueSessionID:
			u.SessionID, err = s.str("session_id")
		case ueCustomerID:
			u.CustomerID, err = s.str("customer_id")
		case ueAction:
			v, err = s.str("action")
			u.Action = Action(v)
		case ueProductID:
			u.ProductID, err = s.str("product_id")
		case ueQuery:
			u.Query, err = s.str("query")
		case ueOrderID:
			u.OrderID, err = s.str("order_id")
		case ueTransactionID:
			u.TransactionID, err = s.str("transaction_id")
		case uePage:
			u.Page, err = s.str("page")
		case ueURL:
			u.URL, err = s.str("url")
		case ueReferrer:
			u.Referrer, err = s.str("referrer")
		case ueUTM:
			err = s.utm(&u.UTM)
		case ueDevice:
			err = s.device("device", &u.Device)
		case ueGeo:
			err = s.geo("geo", &u.Geo)
		case ueChannel:
			v, err = s.str("channel")
			u.Channel = Channel(v)
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
	return s.finish(seen)
}

// The member names of UTM parameters, numbered for fieldTable.
const (
	utmSource = iota + 5
	utmMedium
	utmCampaign
	utmTerm
	utmContent
)

var utmFields = newFieldTable(envelopeName(0), envelopeName(1), envelopeName(2), envelopeName(3),
	"source", "medium", "campaign", "term", "content")

func (s *scanner) utm(u *UTM) error {
	if ok, err := s.object("utm"); !ok || err != nil {
		return err
	}
	for first := true; ; first = false {
		field, ok, err := s.nextField(first, utmFields)
		if err != nil || !ok {
			return err
		}
		switch field {
		case utmSource:
			u.Source, err = s.str("utm.source")
		case utmMedium:
			u.Medium, err = s.str("utm.medium")
		case utmCampaign:
			u.Campaign, err = s.str("utm.campaign")
		case utmTerm:
			u.Term, err = s.str("utm.term")
		case utmContent:
			u.Content, err = s.str("utm.content")
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (v *Validator) validateUserEvent(u *UserEvent) error {
	if err := v.validateEnvelope(&u.Envelope, KindUserEvent); err != nil {
		return err
	}
	if err := requireID("session_id", u.SessionID); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, id string }{
		{"customer_id", u.CustomerID},
		{"product_id", u.ProductID},
		{"order_id", u.OrderID},
		{"transaction_id", u.TransactionID},
	} {
		if err := optionalID(f.name, f.id); err != nil {
			return err
		}
	}
	if u.Action == "" {
		return reject(ReasonMissingField, "action", "action is required")
	}
	if !u.Action.Valid() {
		return invalidEnum("action", string(u.Action))
	}
	switch u.Action {
	case ActionProductView, ActionAddToCart, ActionRemoveFromCart:
		if u.ProductID == "" {
			return reject(ReasonMissingField, "product_id", fmt.Sprintf("product_id is required for %s", u.Action))
		}
	case ActionSearch:
		if u.Query == "" {
			return reject(ReasonMissingField, "query", "query is required for search")
		}
	case ActionPurchase:
		if u.OrderID == "" && u.TransactionID == "" {
			return reject(ReasonMissingField, "transaction_id", "order_id or transaction_id is required for purchase")
		}
	}
	if u.Channel != "" && !u.Channel.Valid() {
		return invalidEnum("channel", string(u.Channel))
	}
	if err := validateDevice(&u.Device); err != nil {
		return err
	}
	return validateGeo(&u.Geo)
}

// Actions lists the Action values.
var Actions = []Action{ActionPageView, ActionProductView, ActionSearch, ActionAddToCart,
	ActionRemoveFromCart, ActionCheckoutStart, ActionPurchase}
