package generator

import "time"

// hourWeights is the relative traffic by local hour: a trough at 3-5am, a
// lunchtime shoulder and the evening peak at 20-21h. Mean 1.
var hourWeights = normalize([]float64{
	0.35, 0.2, 0.12, 0.08, 0.08, 0.12, 0.3, 0.55, // 0-7
	0.8, 0.95, 1.0, 1.1, 1.3, 1.2, 1.05, 1.0, // 8-15
	1.05, 1.2, 1.45, 1.75, 2.0, 2.0, 1.6, 0.9, // 16-23
})

// weekdayWeights is the relative traffic by local weekday, Sunday first:
// Sunday and Monday evenings are the busiest, Saturday the quietest. Mean 1.
var weekdayWeights = normalize([]float64{1.15, 1.1, 1.02, 1.0, 0.95, 0.88, 0.9})

// monthWeights is the seasonality by month, January first: a post-holiday
// dip and the November/December uplift. Mean 1.
var monthWeights = normalize([]float64{0.85, 0.8, 0.9, 0.92, 0.95, 0.9, 0.88, 0.92, 0.97, 1.0, 1.35, 1.55})

func normalize(w []float64) []float64 {
	s := 0.0
	for _, x := range w {
		s += x
	}
	for i := range w {
		w[i] *= float64(len(w)) / s
	}
	return w
}

func maxOf(w []float64) float64 {
	m := w[0]
	for _, x := range w {
		m = max(m, x)
	}
	return m
}

// Promotions. A promo day raises traffic, raises add-to-cart and checkout
// conversion, and discounts every order line.
const (
	// PromoTrafficUplift multiplies the session rate on promo days.
	PromoTrafficUplift = 1.6
	// PromoCartUplift multiplies the product_view -> add_to_cart rate.
	PromoCartUplift = 1.5
	// PromoCheckoutUplift multiplies the add_to_cart -> checkout_start rate.
	PromoCheckoutUplift = 1.2
	// PromoDiscount is the share taken off unit prices on promo days.
	PromoDiscount = 0.20
)

// calendar holds the temporal pattern of one run.
type calendar struct {
	promoEveryDays int
	maxMultiplier  float64
}

func newCalendar(promoEveryDays int) calendar {
	return calendar{
		promoEveryDays: promoEveryDays,
		maxMultiplier:  maxOf(hourWeights) * maxOf(weekdayWeights) * maxOf(monthWeights) * PromoTrafficUplift,
	}
}

// multiplier is the traffic multiplier at t for a customer utcOffset hours
// from UTC. Its long-run mean is about 1 (slightly above, for promo days).
func (c calendar) multiplier(t time.Time, utcOffset int) float64 {
	local := t.Add(time.Duration(utcOffset) * time.Hour)
	m := hourWeights[local.Hour()] * weekdayWeights[local.Weekday()] * monthWeights[local.Month()-1]
	if c.isPromoDay(t) {
		m *= PromoTrafficUplift
	}
	return m
}

// isPromoDay reports whether t falls on a promo day (UTC): every
// promoEveryDays-th day counted from the Unix epoch, plus Black Friday and
// Cyber Monday.
func (c calendar) isPromoDay(t time.Time) bool {
	t = t.UTC()
	if c.promoEveryDays > 0 && (t.Unix()/86400)%int64(c.promoEveryDays) == 0 {
		return true
	}
	if t.Month() == time.November && t.Weekday() == time.Friday && t.Day() >= 22 && t.Day() <= 28 {
		return true // Black Friday: the fourth Friday
	}
	if t.Weekday() == time.Monday {
		bf := t.AddDate(0, 0, -3)
		return bf.Month() == time.November && bf.Day() >= 22 && bf.Day() <= 28
	}
	return false
}
