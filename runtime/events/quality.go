package events

import "sync"

// optionalFields names, per kind, the optional fields whose completeness
// Quality tracks, indexed by kindIndex. The order matches the bits of each
// type's optionalMask.
var optionalFields = [...][]string{
	{ // transaction
		"merchant_id", "channel", "payment", "payment.card_bin", "ip", "label",
		"device", "device.id", "device.type", "device.os", "device.user_agent",
		"geo", "geo.country", "geo.city", "geo.lat", "geo.lon",
	},
	{ // user_event
		"customer_id", "product_id", "query", "order_id", "transaction_id",
		"page", "url", "referrer", "utm", "utm.source", "utm.medium", "utm.campaign",
		"channel",
		"device", "device.id", "device.type", "device.os", "device.user_agent",
		"geo", "geo.country", "geo.city", "geo.lat", "geo.lon",
	},
	{ // product_update
		"name", "brand", "price", "cost", "currency", "stock",
	},
}

// OptionalFields returns the optional fields of kind that Quality tracks.
func OptionalFields(kind Kind) []string {
	if i := kindIndex(kind); i < len(optionalFields) {
		return append([]string(nil), optionalFields[i]...)
	}
	return nil
}

// kindIndex numbers the kinds; anything else gets the last index.
func kindIndex(k Kind) int {
	switch k {
	case KindTransaction:
		return 0
	case KindUserEvent:
		return 1
	case KindProductUpdate:
		return 2
	}
	return 3
}

// mask packs flags into bits, the first flag in bit 0.
func mask(flags ...bool) uint64 {
	var m uint64
	for i, f := range flags {
		if f {
			m |= 1 << i
		}
	}
	return m
}

func (d *Device) mask() uint64 {
	return mask(*d != Device{}, d.ID != "", d.Type != "", d.OS != "", d.UserAgent != "")
}

func (g *Geo) mask() uint64 {
	return mask(*g != Geo{}, g.Country != "", g.City != "", g.Lat != nil, g.Lon != nil)
}

func (t *Transaction) optionalMask() uint64 {
	return mask(t.MerchantID != "", t.Channel != "", t.Payment != Payment{}, t.Payment.CardBIN != "",
		t.IP.IsValid(), t.Label != nil) |
		t.Device.mask()<<6 | t.Geo.mask()<<11
}

func (u *UserEvent) optionalMask() uint64 {
	return mask(u.CustomerID != "", u.ProductID != "", u.Query != "", u.OrderID != "", u.TransactionID != "",
		u.Page != "", u.URL != "", u.Referrer != "", u.UTM != UTM{}, u.UTM.Source != "", u.UTM.Medium != "",
		u.UTM.Campaign != "", u.Channel != "") |
		u.Device.mask()<<13 | u.Geo.mask()<<18
}

func (p *ProductUpdate) optionalMask() uint64 {
	return mask(p.Name != "", p.Brand != "", p.Price != nil, p.Cost != nil, p.Currency != "", p.Stock != nil)
}

// Quality counts, per event kind, accepted events, how often each optional
// field was filled in, and rejections by reason. It is safe for concurrent
// use; the zero value is ready.
type Quality struct {
	mu    sync.Mutex
	kinds [4]kindCounts // by kindIndex; the last is for unknown kinds
}

type kindCounts struct {
	accepted uint64
	present  [64]uint64
	rejected map[string]uint64
}

// Observe counts an accepted event and the optional fields it carries.
func (q *Quality) Observe(e Event) {
	var m uint64
	switch e := e.(type) {
	case *Transaction:
		m = e.optionalMask()
	case *UserEvent:
		m = e.optionalMask()
	case *ProductUpdate:
		m = e.optionalMask()
	default:
		return
	}
	q.mu.Lock()
	c := &q.kinds[kindIndex(e.Kind())]
	c.accepted++
	for i := 0; m != 0; i, m = i+1, m>>1 {
		if m&1 != 0 {
			c.present[i]++
		}
	}
	q.mu.Unlock()
}

// Reject counts a rejected event. kind is the topic's kind; an empty or
// unknown kind is counted apart, under Kind("").
func (q *Quality) Reject(kind Kind, r *Rejection) {
	q.mu.Lock()
	c := &q.kinds[kindIndex(kind)]
	if c.rejected == nil {
		c.rejected = make(map[string]uint64)
	}
	c.rejected[r.Reason]++
	q.mu.Unlock()
}

// KindQuality is a snapshot of one kind's counts.
type KindQuality struct {
	Kind Kind
	// Accepted counts events passed to Observe.
	Accepted uint64
	// Rejected counts rejections by reason.
	Rejected map[string]uint64
	// Fields gives the completeness of each optional field over Accepted
	// events, in OptionalFields order.
	Fields []FieldCompleteness
}

// FieldCompleteness says how many accepted events carried a field.
type FieldCompleteness struct {
	Field   string
	Present uint64
	Total   uint64
}

// Ratio is Present/Total, or 0 when there were no events.
func (f FieldCompleteness) Ratio() float64 {
	if f.Total == 0 {
		return 0
	}
	return float64(f.Present) / float64(f.Total)
}

// Snapshot returns a copy of the counts: one entry per kind in Kinds order,
// followed by one for Kind("") if unknown kinds were rejected.
func (q *Quality) Snapshot() []KindQuality {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]KindQuality, 0, len(q.kinds))
	for i, c := range q.kinds {
		var kind Kind
		if i < len(Kinds) {
			kind = Kinds[i]
		} else if len(c.rejected) == 0 {
			continue
		}
		kq := KindQuality{Kind: kind, Accepted: c.accepted, Rejected: make(map[string]uint64, len(c.rejected))}
		for r, n := range c.rejected {
			kq.Rejected[r] = n
		}
		if i < len(optionalFields) {
			for j, f := range optionalFields[i] {
				kq.Fields = append(kq.Fields, FieldCompleteness{Field: f, Present: c.present[j], Total: c.accepted})
			}
		}
		out = append(out, kq)
	}
	return out
}
