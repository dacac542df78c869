// Package enginetest generates realistic, deterministic input for the engine's
// tests and benchmarks, and computes the reference results the engine's output
// must equal.
package enginetest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

// Categories of the generated products; product i is in Categories[i%len].
var Categories = []string{"books", "toys", "garden", "electronics", "fashion"}

// Generator produces transactions for a fixed set of customers and products.
type Generator struct {
	rng       *rand.Rand
	Customers int
	Products  int
	Base      time.Time
	Step      time.Duration
	n         int
}

// NewGenerator returns a generator whose event times start at base and move
// on by step per event.
func NewGenerator(seed uint64, customers, products int, base time.Time, step time.Duration) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), Customers: customers, Products: products, Base: base.UTC(), Step: step}
}

// Txn is one generated transaction with its key.
type Txn struct {
	Key   []byte
	Value []byte
	// CustomerID, Amount and EventTime as encoded.
	CustomerID string
	EventID    string
	Amount     float64
	EventTime  time.Time
}

// ProductID names product i.
func ProductID(i int) string { return fmt.Sprintf("sku-%04d", i) }

// CustomerID names customer i.
func CustomerID(i int) string { return fmt.Sprintf("cus-%06d", i) }

// ProductUpdates returns one product_update per product.
func (g *Generator) ProductUpdates() [][2][]byte {
	out := make([][2][]byte, 0, g.Products)
	for i := range g.Products {
		price := float64(5 + i%40)
		cost := math.Round(price*0.6*100) / 100
		m := map[string]any{
			"event_id": fmt.Sprintf("pu-%d", i), "type": "product_update", "schema_version": 1,
			"event_time": g.Base.Add(-time.Hour).Format(time.RFC3339Nano), "product_id": ProductID(i),
			"name": "Product " + ProductID(i), "category": Categories[i%len(Categories)], "brand": fmt.Sprintf("brand-%d", i%7),
			"price": price, "cost": cost, "currency": "EUR", "stock": 100,
		}
		b, _ := json.Marshal(m)
		out = append(out, [2][]byte{[]byte(ProductID(i)), b})
	}
	return out
}

// Next returns the next transaction.
func (g *Generator) Next() Txn {
	i := g.n
	g.n++
	c := g.rng.IntN(g.Customers)
	cid := CustomerID(c)
	t := g.Base.Add(time.Duration(i) * g.Step)
	nl := 1 + g.rng.IntN(3)
	lines := make([]map[string]any, nl)
	var amount float64
	for j := range nl {
		p := g.rng.IntN(g.Products)
		q := 1 + g.rng.IntN(3)
		price := float64(5+p%40) + 0.99
		lines[j] = map[string]any{"product_id": ProductID(p), "quantity": q, "unit_price": price}
		amount += float64(q) * price
	}
	amount = math.Round(amount*100) / 100
	eid := fmt.Sprintf("evt-%08d", i)
	countries := []string{"DE", "FR", "US", "GB", "NL"}
	m := map[string]any{
		"event_id": eid, "type": "transaction", "schema_version": 1, "event_time": t.Format(time.RFC3339Nano),
		"transaction_id": fmt.Sprintf("txn-%08d", i), "customer_id": cid, "merchant_id": fmt.Sprintf("mer-%03d", g.rng.IntN(50)),
		"channel": "web", "lines": lines, "amount": amount, "currency": "EUR",
		"payment": map[string]any{"method": "card", "card_fingerprint": fmt.Sprintf("fp-%06d", c), "card_bin": "424242"},
		"device":  map[string]any{"id": fmt.Sprintf("dev-%06d", c), "type": "mobile", "os": "iOS"},
		"ip":      fmt.Sprintf("203.0.113.%d", c%250+1),
		"geo":     map[string]any{"country": countries[c%len(countries)], "city": "Somewhere", "lat": 50.0, "lon": 8.0},
	}
	b, _ := json.Marshal(m)
	return Txn{Key: []byte(cid), Value: b, CustomerID: cid, EventID: eid, Amount: amount, EventTime: t}
}

// BadEvent is an invalid transaction and the reason it must be rejected for.
type BadEvent struct {
	Reason string
	Key    []byte
	Value  []byte
}

// BadEvents returns one invalid transaction per rejection reason, derived
// from valid ones; now is the validator's clock.
func (g *Generator) BadEvents(now time.Time) []BadEvent {
	mutate := func(reason string, f func(m map[string]any)) BadEvent {
		t := g.Next()
		var m map[string]any
		_ = json.Unmarshal(t.Value, &m)
		m["event_id"] = "bad-" + reason
		f(m)
		b, _ := json.Marshal(m)
		return BadEvent{Reason: reason, Key: t.Key, Value: b}
	}
	out := []BadEvent{
		{Reason: events.ReasonMalformedJSON, Key: []byte("cus-bad"), Value: []byte(`{"event_id": "bad-json", `)},
		mutate(events.ReasonMissingField, func(m map[string]any) { delete(m, "customer_id") }),
		mutate(events.ReasonWrongType, func(m map[string]any) { m["amount"] = "12.50" }),
		mutate(events.ReasonOutOfRange, func(m map[string]any) {
			m["lines"] = []map[string]any{{"product_id": "sku-0001", "quantity": 0, "unit_price": 1.0}}
			m["amount"] = 0.0
		}),
		mutate(events.ReasonInvalidFormat, func(m map[string]any) { m["payment"].(map[string]any)["card_bin"] = "42x" }),
		mutate(events.ReasonInvalidCurrency, func(m map[string]any) { m["currency"] = "XYZ" }),
		mutate(events.ReasonInvalidCountry, func(m map[string]any) { m["geo"].(map[string]any)["country"] = "ZZ" }),
		mutate(events.ReasonInvalidEnum, func(m map[string]any) { m["channel"] = "telepathy" }),
		mutate(events.ReasonInvalidTimestamp, func(m map[string]any) { m["event_time"] = "yesterday" }),
		mutate(events.ReasonTimestampSkew, func(m map[string]any) { m["event_time"] = now.Add(48 * time.Hour).Format(time.RFC3339) }),
		mutate(events.ReasonUnsupportedSchemaVersion, func(m map[string]any) { m["schema_version"] = 99 }),
		mutate(events.ReasonTypeMismatch, func(m map[string]any) { m["type"] = "user_event" }),
		mutate(events.ReasonInconsistentAmount, func(m map[string]any) { m["amount"] = m["amount"].(float64) + 100 }),
		mutate(events.ReasonInvalidIP, func(m map[string]any) { m["ip"] = "999.1.1.1" }),
	}
	return out
}

// Aggregate is a customer's reference aggregate.
type Aggregate struct {
	Transactions int
	// Micros is the monetary total in millionths, summed exactly.
	Micros int64
}

// Reference accumulates the expected per-customer aggregates of accepted,
// first-seen transactions.
type Reference struct {
	Customers map[string]*Aggregate
	seen      map[string]bool
}

// NewReference returns an empty reference.
func NewReference() *Reference {
	return &Reference{Customers: map[string]*Aggregate{}, seen: map[string]bool{}}
}

// Add counts t unless its event ID was counted before; it reports whether
// it was new.
func (r *Reference) Add(t Txn) bool {
	if r.seen[t.EventID] {
		return false
	}
	r.seen[t.EventID] = true
	a := r.Customers[t.CustomerID]
	if a == nil {
		a = &Aggregate{}
		r.Customers[t.CustomerID] = a
	}
	a.Transactions++
	a.Micros += int64(math.Round(t.Amount * 1e6))
	return true
}
