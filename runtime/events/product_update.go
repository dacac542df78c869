package events

import "fmt"

// ProductUpdate is the current state of a catalogue product: kind
// "product_update". The topic is compacted by product_id, so each update
// replaces the previous one whole; deleted marks a tombstone.
type ProductUpdate struct {
	Envelope
	// product_id identifies the product. Required.
	ProductID string `json:"product_id"`
	// name is the display name. Optional.
	Name string `json:"name,omitempty"`
	// category is the catalogue category. Required.
	Category string `json:"category"`
	// brand is the brand name. Optional.
	Brand string `json:"brand,omitempty"`
	// price is the list price in major units of currency, 0 to MaxAmount.
	// Optional; absent means unknown, not free.
	Price *float64 `json:"price,omitempty"`
	// cost is what the seller pays for one unit, 0 to MaxAmount. Optional.
	Cost *float64 `json:"cost,omitempty"`
	// currency is an active ISO 4217 code for price and cost. Optional.
	Currency string `json:"currency,omitempty"`
	// stock is the number of units available, 0 or more. Optional; absent
	// means unknown, not sold out.
	Stock *int64 `json:"stock,omitempty"`
	// deleted marks the product as removed from the catalogue; consumers
	// drop it and ignore the other fields. Optional, default false.
	Deleted bool `json:"deleted,omitempty"`
}

// Kind returns KindProductUpdate.
func (*ProductUpdate) Kind() Kind { return KindProductUpdate }

// The member names of a product update, numbered for fieldTable; the
// first four are the envelope's.
const (
	puProductID = iota + 5
	puName
	puCategory
	puBrand
	puPrice
	puCost
	puCurrency
	puStock
	puDeleted
)

var productUpdateFields = newFieldTable(envelopeName(0), envelopeName(1), envelopeName(2), envelopeName(3),
	"product_id", "name", "category", "brand", "price", "cost", "currency", "stock", "deleted")

// decode reads a product update; stock is storage for the stock count.
func (p *ProductUpdate) decode(s *scanner, stock *int64) error {
	if err := s.root(); err != nil {
		return err
	}
	var seen presence
	for first := true; ; first = false {
		field, ok, err := s.nextField(first, productUpdateFields)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		switch field {
		case envEventID, envType, envSchemaVersion, envEventTime:
			err = s.envelopeField(field, KindProductUpdate, &p.Envelope, &seen)
		case puProductID:
			p.ProductID, err = s.str("product_id")
		case puName:
			p.Name, err = s.str("name")
		case puCategory:
			p.Category, err = s.str("category")
		case puBrand:
			p.Brand, err = s.str("brand")
		case puPrice:
			p.Price, err = s.optFloat("price")
		case puCost:
			p.Cost, err = s.optFloat("cost")
		case puCurrency:
			p.Currency, err = s.str("currency")
		case puStock:
			var n int64
			var present bool
			if n, present, err = s.integer("stock"); present {
				*stock, p.Stock = n, stock
			}
		case puDeleted:
			p.Deleted, err = s.boolean("deleted")
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
	}
	return s.finish(seen)
}

func (v *Validator) validateProductUpdate(p *ProductUpdate) error {
	if err := v.validateEnvelope(&p.Envelope, KindProductUpdate); err != nil {
		return err
	}
	if err := requireID("product_id", p.ProductID); err != nil {
		return err
	}
	if p.Category == "" {
		return reject(ReasonMissingField, "category", "category is required")
	}
	if p.Price != nil {
		if err := checkMoney("price", *p.Price); err != nil {
			return err
		}
	}
	if p.Cost != nil {
		if err := checkMoney("cost", *p.Cost); err != nil {
			return err
		}
	}
	if p.Currency != "" {
		if _, ok := currencyExponent(p.Currency); !ok {
			return reject(ReasonInvalidCurrency, "currency", fmt.Sprintf("%q is not an active ISO 4217 currency code", p.Currency))
		}
	}
	if p.Stock != nil && *p.Stock < 0 {
		return reject(ReasonOutOfRange, "stock", fmt.Sprintf("stock %d is negative", *p.Stock))
	}
	return nil
}
