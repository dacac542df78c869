package generator

import (
	"fmt"
	"math"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

// fraudState paces fraud injection. Each pattern earns rate/1000 credit per
// legitimate transaction and fires an episode (a burst of its fraudulent
// transactions) once the credit covers the episode's size. Rates are thus
// honoured to within half an episode even on short runs, while the moments
// episodes fire stay random.
type fraudState struct {
	perLegit [5]float64
	credit   [5]float64
	size     [5]int
	// colluder is the merchant whose fake orders make up the
	// colluding_merchant pattern.
	colluder string
	// ringBIN is the BIN the colluding ring's cards share.
	ringBIN string
}

func newFraudState(g *Generator) fraudState {
	f := fraudState{
		colluder: merchantID(g.rng.IntN(merchantCount)),
		ringBIN:  fmt.Sprintf("4%05d", g.rng.IntN(100000)),
	}
	for k, p := range FraudPatterns {
		f.perLegit[k] = g.cfg.FraudRates[p] / 1000
		f.size[k] = episodeSize(g, k)
		f.credit[k] = float64(f.size[k]) / 2 // centre the rounding error
	}
	return f
}

// episodeSize draws the number of fraudulent transactions of one episode
// of pattern k (index into FraudPatterns).
func episodeSize(g *Generator, k int) int {
	switch FraudPatterns[k] {
	case PatternCardTesting:
		return 8 + g.rng.IntN(13) // 8-20 probes
	case PatternAccountTakeover:
		return 1 + g.rng.IntN(3)
	case PatternColludingMerchant:
		return 4 + g.rng.IntN(7)
	}
	return 1
}

// ColludingMerchant returns the merchant_id the colluding_merchant pattern
// uses.
func (g *Generator) ColludingMerchant() string { return g.fraud.colluder }

// afterLegitTransaction adds fraud credit for tx, made by c at its event
// time, and fires the episodes that are due.
func (g *Generator) afterLegitTransaction(c *customer, tx *events.Transaction) {
	f := &g.fraud
	t := tx.EventTime.UnixNano()
	for k, pattern := range FraudPatterns {
		if f.perLegit[k] == 0 {
			continue
		}
		f.credit[k] += f.perLegit[k]
		for f.credit[k] >= float64(f.size[k]) {
			n := f.size[k]
			f.credit[k] -= float64(n)
			f.size[k] = episodeSize(g, k)
			label := &events.Label{Fraud: true, Pattern: pattern}
			switch pattern {
			case PatternCardTesting:
				g.cardTesting(t, n, label)
			case PatternAccountTakeover:
				g.accountTakeover(c, t, n, label)
			case PatternImpossibleTravel:
				g.impossibleTravel(c, t, label)
			case PatternAmountAnomaly:
				g.amountAnomaly(c, t, label)
			case PatternColludingMerchant:
				g.colludingMerchant(t, n, label)
			}
		}
	}
}

// leadTime returns how long after its trigger an episode starts: uniform in
// [lo, hi) of natural time, compressed by Config.TimeScale like the rest of
// the population's activity. Only the wait before an episode is scaled; the
// timing inside it (probe spacing, minutes between orders, the travel gap)
// is the pattern itself and stays as it is.
func (g *Generator) leadTime(lo, hi time.Duration) int64 {
	return int64(float64(g.uniformDuration(lo, hi)) / g.cfg.TimeScale)
}

// uniformDuration returns a duration uniform in [lo, hi).
func (g *Generator) uniformDuration(lo, hi time.Duration) int64 {
	return int64(lo) + g.rng.Int64N(int64(hi-lo))
}

// linesFor returns one order line of category cat worth about target.
func (g *Generator) linesFor(cat int, target float64) []events.Line {
	p := &g.cat.products[g.cat.near(g.rng, cat, target)]
	q := int64(min(10, max(1, math.Round(target/p.price))))
	return []events.Line{{ProductID: p.id, Quantity: q, UnitPrice: p.price}}
}

func (g *Generator) devicePayload(d device) events.Device {
	return events.Device{ID: d.id, Type: d.typ, OS: d.os, UserAgent: d.ua}
}

// cardTesting: a new account probes a new card with n small gift-card
// orders, 5-40s apart, from one device and IP.
func (g *Generator) cardTesting(t int64, n int, label *events.Label) {
	id := g.newCustomerID()
	card := g.newCard()
	dev := g.devicePayload(g.newDevice())
	city := pick(g.rng, cityCum)
	ip := cityIP(g.rng, city)
	at := t + g.leadTime(10*time.Minute, 6*time.Hour)
	gift := g.cat.products[g.cat.giftCard].id
	for range n {
		amount := roundCents(0.5 + 4.5*g.rng.Float64())
		lines := []events.Line{{ProductID: gift, Quantity: 1, UnitPrice: amount}}
		g.push(at, id, g.transaction(id, at, lines, dev, ip, city, card, label))
		at += g.uniformDuration(5*time.Second, 40*time.Second)
	}
}

// accountTakeover: an established customer's account is used from a new
// device in another country, for n high-value orders a few minutes apart,
// mostly on the stored payment method.
func (g *Generator) accountTakeover(c *customer, t int64, n int, label *events.Label) {
	victim := c
	if victim.purchases < 2 {
		if v := g.randomEstablished(g.rng, 2, nil); v != nil {
			victim = v
		}
	}
	city := foreignCity(g.rng, victim.city, 1000)
	if city < 0 {
		city = (victim.city + len(Cities)/2) % len(Cities)
	}
	dev := g.devicePayload(g.newDevice())
	ip := cityIP(g.rng, city)
	pay := victim.payment
	if g.rng.Float64() < 0.3 {
		pay = g.newCard()
	}
	at := t + g.leadTime(30*time.Minute, 12*time.Hour)
	for range n {
		target := max(400, (5+5*g.rng.Float64())*victim.meanSpend(g.cfg.Model))
		lines := g.linesFor(0, target) // electronics resell best
		g.push(at, victim.id, g.transaction(victim.id, at, lines, dev, ip, city, pay, label))
		at += g.uniformDuration(2*time.Minute, 20*time.Minute)
	}
}

// impossibleTravel: 10-50 minutes after c's order at home, another order
// on c's account from a city at least 3000 km away.
func (g *Generator) impossibleTravel(c *customer, t int64, label *events.Label) {
	city := farCity(g.rng, c.city, 3000)
	if city < 0 {
		city = (c.city + len(Cities)/2) % len(Cities)
	}
	at := t + g.uniformDuration(10*time.Minute, 50*time.Minute)
	lines := g.linesFor(g.cat.randomCategory(g.rng), gamma(g.rng, g.cfg.Model.SpendP, c.spendRate))
	dev := g.devicePayload(c.devices[g.rng.IntN(len(c.devices))])
	g.push(at, c.id, g.transaction(c.id, at, lines, dev, cityIP(g.rng, city), city, c.payment, label))
}

// amountAnomaly: one order on c's usual device, address and payment, worth
// 8-15 times c's mean order value.
func (g *Generator) amountAnomaly(c *customer, t int64, label *events.Label) {
	at := t + g.leadTime(time.Hour, 48*time.Hour)
	target := max(300, (8+7*g.rng.Float64())*c.meanSpend(g.cfg.Model))
	lines := g.linesFor(g.cat.randomCategory(g.rng), target)
	dev := g.devicePayload(c.devices[0])
	g.push(at, c.id, g.transaction(c.id, at, lines, dev, c.ip, c.city, c.payment, label))
}

// colludingMerchant: n orders, 3-30 minutes apart, from fresh accounts
// whose cards share a BIN and whose IPs share a /24, all buying from the
// colluding merchant.
func (g *Generator) colludingMerchant(t int64, n int, label *events.Label) {
	city := pick(g.rng, cityCum)
	base := cityIP(g.rng, city).As4()
	at := t + g.leadTime(0, 6*time.Hour)
	for range n {
		id := g.newCustomerID()
		card := g.newCard()
		card.CardBIN = g.fraud.ringBIN
		ip := base
		ip[3] = byte(1 + g.rng.IntN(254))
		p := &g.cat.products[g.cat.ofMerchant(g.rng, g.fraud.colluder)]
		q := int64(1 + g.rng.IntN(3))
		lines := []events.Line{{ProductID: p.id, Quantity: q, UnitPrice: p.price}}
		dev := g.devicePayload(g.newDevice())
		tx := g.transaction(id, at, lines, dev, netipFrom4(ip), city, card, label)
		tx.MerchantID = g.fraud.colluder
		g.push(at, id, tx)
		at += g.uniformDuration(3*time.Minute, 30*time.Minute)
	}
}
