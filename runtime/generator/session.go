package generator

import (
	"math"
	"net/netip"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

// Funnel conversion rates outside promo days: the share of sessions that
// reached one step and go on to the next.
const (
	// RateProductView is page_view -> product_view.
	RateProductView = 0.60
	// RateAddToCart is product_view -> add_to_cart.
	RateAddToCart = 0.25
	// RateCheckout is add_to_cart -> checkout_start.
	RateCheckout = 0.60
	// RatePurchase is checkout_start -> purchase.
	RatePurchase = 0.70
	// SessionConversion is the share of sessions that end in a purchase.
	SessionConversion = RateProductView * RateAddToCart * RateCheckout * RatePurchase
	// RateSearch is the share of sessions with a search after landing.
	RateSearch = 0.35
	// RateRemoveFromCart is the share of carts where the shopper adds an
	// extra product and removes it again.
	RateRemoveFromCart = 0.15
	// RateNewDevice is the chance a session comes from a device the
	// customer has not used before.
	RateNewDevice = 0.02
)

// meanRecordsPerSession is the mean number of user events plus
// transactions per session, measured on the default configuration; it
// only serves NaturalRate.
const meanRecordsPerSession = 3.4

const shopURL = "https://shop.example.com"

// touchpoint is a marketing source that brings a session in.
type touchpoint struct {
	utm      events.UTM
	referrer string
}

var touchpointCum = cumulative([]float64{0.30, 0.15, 0.15, 0.40})

var (
	searchCampaigns = []string{"brand_search", "generic_search", "shopping_feed"}
	socialCampaigns = []string{"prospecting", "retargeting", "lookalike"}
)

// touchpoint draws the session's source: google/cpc, facebook/paid_social,
// newsletter/email or direct (no UTM). Promo days run their own email and
// social campaigns.
func (g *Generator) touchpoint(t time.Time, promo bool) touchpoint {
	promoCampaign := "promo_" + t.Format("20060102")
	switch pick(g.rng, touchpointCum) {
	case 0:
		return touchpoint{events.UTM{Source: "google", Medium: "cpc", Campaign: searchCampaigns[g.rng.IntN(len(searchCampaigns))]},
			"https://www.google.com/"}
	case 1:
		c := socialCampaigns[g.rng.IntN(len(socialCampaigns))]
		if promo {
			c = promoCampaign
		}
		return touchpoint{events.UTM{Source: "facebook", Medium: "paid_social", Campaign: c}, "https://l.facebook.com/"}
	case 2:
		c := "weekly_digest"
		if promo {
			c = promoCampaign
		}
		return touchpoint{utm: events.UTM{Source: "newsletter", Medium: "email", Campaign: c}}
	}
	return touchpoint{}
}

func (tp touchpoint) landingURL() string {
	if tp.utm.Source == "" {
		return shopURL + "/"
	}
	return shopURL + "/?utm_source=" + tp.utm.Source + "&utm_medium=" + tp.utm.Medium + "&utm_campaign=" + tp.utm.Campaign
}

// session simulates one browsing session of c starting at t and schedules
// its events.
func (g *Generator) session(c *customer, t int64) {
	g.stats.Sessions++
	start := time.Unix(0, t).UTC()
	promo := g.cal.isPromoDay(start)
	if g.rng.Float64() < RateNewDevice {
		c.devices = append(c.devices, g.newDevice())
	}
	dev := c.devices[g.rng.IntN(len(c.devices))]
	channel := events.ChannelWeb
	if dev.typ == events.DeviceMobile && g.rng.IntN(2) == 0 {
		channel = events.ChannelMobileApp
	}
	s := sessionState{
		g: g, c: c, t: t,
		id:      hexID(g.rng, "s-", 16),
		device:  events.Device{ID: dev.id, Type: dev.typ, OS: dev.os, UserAgent: dev.ua},
		geo:     geoOf(c.city),
		channel: channel,
	}
	tp := g.touchpoint(start, promo)
	landing := s.event(events.ActionPageView)
	landing.Page, landing.URL, landing.Referrer, landing.UTM = "home", tp.landingURL(), tp.referrer, tp.utm
	s.emit(landing)
	g.stats.Funnel[0]++

	// The basket the shopper has in mind: an order value from the
	// customer's Gamma-Gamma spend, split over one to three products.
	target := gamma(g.rng, g.cfg.Model.SpendP, c.spendRate)
	items := 1 + pick(g.rng, basketSizeCum)
	basket := make([]events.Line, items)
	for i := range basket {
		cat := c.favourite
		if g.rng.Float64() < 0.4 {
			cat = g.cat.randomCategory(g.rng)
		}
		share := target / float64(items)
		p := g.cat.near(g.rng, cat, share)
		price := g.cat.products[p].price
		basket[i] = events.Line{ProductID: g.cat.products[p].id, Quantity: int64(min(5, max(1, math.Round(share/price)))), UnitPrice: price}
	}

	if g.rng.Float64() < RateSearch {
		ev := s.event(events.ActionSearch)
		p := &g.cat.products[g.cat.indexOf(basket[0].ProductID)]
		ev.Query = searchQuery(g, p)
		ev.Page, ev.URL = "search", shopURL+"/search"
		s.emit(ev)
	}
	if g.rng.Float64() >= RateProductView {
		return
	}
	g.stats.Funnel[1]++
	distractors := g.rng.IntN(3)
	views := make([]string, 0, items+distractors)
	for _, ln := range basket {
		views = append(views, ln.ProductID)
	}
	for range distractors {
		views = append(views, g.cat.products[g.rng.IntN(len(g.cat.products))].id)
	}
	g.rng.Shuffle(len(views), func(i, j int) { views[i], views[j] = views[j], views[i] })
	for _, id := range views {
		ev := s.event(events.ActionProductView)
		ev.ProductID, ev.Page, ev.URL = id, "product", shopURL+"/p/"+id
		s.emit(ev)
	}

	cartRate, checkoutRate := RateAddToCart, RateCheckout
	if promo {
		cartRate *= PromoCartUplift
		checkoutRate *= PromoCheckoutUplift
	}
	if g.rng.Float64() >= cartRate {
		return
	}
	g.stats.Funnel[2]++
	for _, ln := range basket {
		ev := s.event(events.ActionAddToCart)
		ev.ProductID, ev.Page = ln.ProductID, "product"
		s.emit(ev)
	}
	if g.rng.Float64() < RateRemoveFromCart {
		extra := views[g.rng.IntN(len(views))]
		add := s.event(events.ActionAddToCart)
		add.ProductID, add.Page = extra, "product"
		s.emit(add)
		rm := s.event(events.ActionRemoveFromCart)
		rm.ProductID, rm.Page = extra, "cart"
		s.emit(rm)
	}
	if g.rng.Float64() >= checkoutRate {
		return
	}
	g.stats.Funnel[3]++
	co := s.event(events.ActionCheckoutStart)
	co.Page, co.URL = "checkout", shopURL+"/checkout"
	s.emit(co)
	if g.rng.Float64() >= RatePurchase {
		return
	}
	g.stats.Funnel[4]++
	if promo {
		for i := range basket {
			basket[i].UnitPrice = roundCents(basket[i].UnitPrice * (1 - PromoDiscount))
		}
	}
	s.advance()
	tx := g.transaction(c.id, s.t, basket, s.device, c.ip, c.city, c.payment, nil)
	tx.Channel = channel
	if dev.typ == events.DeviceMobile && g.rng.Float64() < 0.3 {
		tx.IP = cityIP(g.rng, c.city) // carrier-grade NAT: mobile IPs move
	}
	buy := s.event(events.ActionPurchase)
	buy.OrderID, buy.TransactionID, buy.Page, buy.URL = tx.TransactionID, tx.TransactionID, "confirmation", shopURL+"/order/"+tx.TransactionID
	g.push(s.t, c.id, buy)
	g.push(s.t, c.id, tx)
	c.purchases++
	// BG/NBD: after each purchase the customer drops out for good with
	// probability p.
	if g.rng.Float64() < c.dropout {
		c.alive = false
	}
	g.afterLegitTransaction(c, tx)
}

var basketSizeCum = cumulative([]float64{0.6, 0.25, 0.15})

func searchQuery(g *Generator, p *product) string {
	cat := &Categories[p.category]
	switch g.rng.IntN(3) {
	case 0:
		return p.brand
	case 1:
		return cat.Nouns[g.rng.IntN(len(cat.Nouns))]
	}
	return p.brand + " " + cat.Name
}

// sessionState carries what every event of one session shares.
type sessionState struct {
	g       *Generator
	c       *customer
	t       int64
	id      string
	device  events.Device
	geo     events.Geo
	channel events.Channel
}

// advance moves the session clock by a think time: 5s plus an exponential
// with a 40s mean.
func (s *sessionState) advance() {
	s.t += int64((5 + 40*s.g.rng.ExpFloat64()) * 1e9)
}

// event returns a user event of the session at its next step.
func (s *sessionState) event(a events.Action) *events.UserEvent {
	if a != events.ActionPageView {
		s.advance()
	}
	return &events.UserEvent{
		Envelope:   s.g.envelope(events.KindUserEvent, s.t),
		SessionID:  s.id,
		CustomerID: s.c.id,
		Action:     a,
		Device:     s.device,
		Geo:        s.geo,
		Channel:    s.channel,
	}
}

func (s *sessionState) emit(ev *events.UserEvent) { s.g.push(s.t, s.c.id, ev) }

// legit is the label of every legitimate transaction: the generated data
// set is fully labelled.
var legit = events.Label{Fraud: false}

// transaction builds a transaction at t; label nil means legitimate. The
// merchant is the seller of the first line.
func (g *Generator) transaction(customerID string, t int64, lines []events.Line, dev events.Device, ip netip.Addr, city int, pay events.Payment, label *events.Label) *events.Transaction {
	amount := 0.0
	for _, ln := range lines {
		amount += float64(ln.Quantity) * ln.UnitPrice
	}
	if label == nil {
		l := legit
		label = &l
	}
	return &events.Transaction{
		Envelope:      g.envelope(events.KindTransaction, t),
		TransactionID: hexID(g.rng, "o-", 16),
		CustomerID:    customerID,
		MerchantID:    g.cat.products[g.cat.indexOf(lines[0].ProductID)].merchant,
		Channel:       events.ChannelWeb,
		Lines:         lines,
		Amount:        roundCents(amount),
		Currency:      g.cfg.Currency,
		Payment:       pay,
		Device:        dev,
		IP:            ip,
		Geo:           geoOf(city),
		Label:         label,
	}
}
