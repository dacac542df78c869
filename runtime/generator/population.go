package generator

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"

	"github.com/ecap-dev/ecap/runtime/events"
)

// customer is one member of the population.
type customer struct {
	id            string
	candidateRate float64 // candidate sessions per second, before thinning
	dropout       float64 // p: probability of dropping out after a purchase
	spendRate     float64 // ν: an order's spend is Gamma(SpendP, ν)
	city          int
	favourite     int // preferred category
	devices       []device
	ip            netip.Addr
	payment       events.Payment
	purchases     int
	alive         bool
}

type device struct {
	id  string
	typ events.DeviceType
	os  string
	ua  string
}

// meanSpend is the customer's expected order value, SpendP/ν.
func (c *customer) meanSpend(m Model) float64 { return m.SpendP / c.spendRate }

// acquire adds a customer to the population at t.
func (g *Generator) acquire(t int64) {
	m := g.cfg.Model
	lambda := gamma(g.rng, m.R, m.Alpha) // purchases per week
	c := &customer{
		id:        g.newCustomerID(),
		dropout:   beta(g.rng, m.A, m.B),
		spendRate: gamma(g.rng, m.SpendQ, m.SpendGamma),
		city:      pick(g.rng, cityCum),
		favourite: g.cat.randomCategory(g.rng),
		alive:     true,
	}
	// A purchase needs SessionConversion sessions on average, so sessions
	// arrive at λ/SessionConversion; thinning by the calendar multiplier
	// needs candidates at the peak rate.
	c.candidateRate = lambda / SessionConversion / secondsPerWeek * g.cfg.TimeScale * g.cal.maxMultiplier
	c.devices = append(c.devices, g.newDevice())
	if g.rng.Float64() < 0.35 {
		c.devices = append(c.devices, g.newDevice())
	}
	c.ip = cityIP(g.rng, c.city)
	c.payment = g.newPayment()
	idx := int32(len(g.customers))
	g.customers = append(g.customers, c)
	g.stats.Customers++
	g.stats.ActiveCustomers++
	if at := g.after(t, c.candidateRate); at != never {
		g.schedule.push(at, 0, idx)
	}
}

// newCustomerID numbers customers and fraudsters' accounts alike, so that
// IDs give nothing away.
func (g *Generator) newCustomerID() string {
	g.nextID++
	return fmt.Sprintf("C%07d", g.nextID)
}

var deviceTypeCum = cumulative([]float64{0.55, 0.35, 0.10}) // mobile, desktop, tablet

func (g *Generator) newDevice() device {
	d := device{id: hexID(g.rng, "d-", 16)}
	switch pick(g.rng, deviceTypeCum) {
	case 0:
		d.typ = events.DeviceMobile
		if g.rng.IntN(2) == 0 {
			d.os, d.ua = "iOS", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
		} else {
			d.os, d.ua = "Android", "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
		}
	case 1:
		d.typ = events.DeviceDesktop
		switch g.rng.IntN(3) {
		case 0:
			d.os, d.ua = "Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
		case 1:
			d.os, d.ua = "macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15"
		default:
			d.os, d.ua = "Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
		}
	default:
		d.typ = events.DeviceTablet
		d.os, d.ua = "iPadOS", "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
	}
	return d
}

var paymentCum = cumulative([]float64{0.60, 0.20, 0.10, 0.07, 0.03})

func (g *Generator) newPayment() events.Payment {
	switch pick(g.rng, paymentCum) {
	case 0:
		return g.newCard()
	case 1:
		return events.Payment{Method: events.PaymentPayPal}
	case 2:
		return events.Payment{Method: events.PaymentApplePay}
	case 3:
		return events.Payment{Method: events.PaymentGooglePay}
	default:
		return events.Payment{Method: events.PaymentBankTransfer}
	}
}

// newCard returns a card never seen before: a fresh fingerprint and a
// Visa (4) or Mastercard (5) BIN.
func (g *Generator) newCard() events.Payment {
	return events.Payment{
		Method:          events.PaymentCard,
		CardFingerprint: hexID(g.rng, "fp_", 16),
		CardBIN:         strconv.Itoa(4+g.rng.IntN(2)) + fmt.Sprintf("%05d", g.rng.IntN(100000)),
	}
}

func geoOf(city int) events.Geo {
	c := &Cities[city]
	lat, lon := c.Lat, c.Lon
	return events.Geo{Country: c.Country, City: c.Name, Lat: &lat, Lon: &lon}
}

// productUpdate returns the catalogue state of product i at t.
func (g *Generator) productUpdate(i int, t int64) *events.ProductUpdate {
	p := &g.cat.products[i]
	price, cost := p.price, p.cost
	return &events.ProductUpdate{
		Envelope:  g.envelope(events.KindProductUpdate, t),
		ProductID: p.id,
		Name:      p.name,
		Category:  Categories[p.category].Name,
		Brand:     p.brand,
		Price:     &price,
		Cost:      &cost,
		Currency:  g.cfg.Currency,
	}
}

// changePrice moves one product's list price by 5-15% either way (cost
// stays) and emits the update.
func (g *Generator) changePrice(t int64) {
	i := g.rng.IntN(len(g.cat.products))
	p := &g.cat.products[i]
	f := 1 + (0.05+0.10*g.rng.Float64())*float64(1-2*g.rng.IntN(2))
	p.price = roundCents(max(p.price*f, p.cost*1.02, 0.5))
	g.cat.sortCategory(p.category)
	g.push(t, p.id, g.productUpdate(i, t))
}

// randomEstablished returns an established customer (at least minPurchases
// purchases, still active) other than except, or nil after a few tries.
func (g *Generator) randomEstablished(r *rand.Rand, minPurchases int, except *customer) *customer {
	for range 64 {
		c := g.customers[r.IntN(len(g.customers))]
		if c != except && c.alive && c.purchases >= minPurchases {
			return c
		}
	}
	return nil
}
