package fraud

import (
	"math"
	"time"
)

// Detector constants. They are part of the rule language's meaning and
// documented in docs/fraud.md; changing one changes what rules see.
const (
	// MinZScoreHistory is the number of earlier amounts the z-score needs.
	// With fewer, a customer's spread is unknown and the z-score is 0.
	MinZScoreHistory = 5
	// minSigmaFraction and minSigma floor the standard deviation of the
	// z-score, so that a customer who always paid the same amount gets a
	// large but finite score for a different one: sigma is at least 5% of
	// the mean and at least 0.01 currency units.
	minSigmaFraction = 0.05
	minSigma         = 0.01
	// MinGeoInterval floors the time between two transactions in the
	// geo-velocity. Event times are often only precise to the second and
	// two payments in the same second are common (a basket split in two);
	// the floor keeps the speed finite and makes "same place" 0 km/h.
	MinGeoInterval = time.Minute
	// earthRadiusKm is the mean Earth radius (IUGG).
	earthRadiusKm = 6371.0088
)

// haversineKm is the great-circle distance between two points given in
// degrees. The formula depends on the longitude difference only through
// sin²(Δλ/2), whose period is 360°, so it is correct across the
// antimeridian without normalising longitudes: 179°E to 179°W is 2°.
func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	sΔφ := math.Sin((lat2 - lat1) * rad / 2)
	sΔλ := math.Sin((lon2 - lon1) * rad / 2)
	h := sΔφ*sΔφ + math.Cos(φ1)*math.Cos(φ2)*sΔλ*sΔλ
	// Rounding can push h a hair above 1 for antipodes.
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(1, max(0, h))))
}

// geoVelocity is the speed, in km/h, needed to travel from the customer's
// latest located transaction to this one, and the distance in km. Both are
// 0 if either has no coordinates. The interval is |Δt| floored at
// MinGeoInterval, so a late transaction is compared in the right direction
// and a zero interval is finite.
func geoVelocity(c *CustomerState, t *Transaction, at int64) (kmh, km float64) {
	if c == nil || !c.HasGeo || !t.geo() {
		return 0, 0
	}
	km = haversineKm(c.Lat, c.Lon, t.Lat, t.Lon)
	dt := math.Abs(float64(at)-float64(c.GeoTime)) / float64(time.Hour)
	dt = max(dt, MinGeoInterval.Hours())
	return km / dt, km
}

// amountZScore is (amount - mean) / sigma over the customer's amounts
// before this transaction, with sigma the sample standard deviation floored
// as described at minSigmaFraction. It is 0 with fewer than
// MinZScoreHistory earlier amounts, and for a non-finite amount.
func amountZScore(c *CustomerState, amount float64) float64 {
	if c == nil || c.AmountCount < MinZScoreHistory || math.IsNaN(amount) || math.IsInf(amount, 0) {
		return 0
	}
	sigma := max(c.stddev(), minSigmaFraction*math.Abs(c.AmountMean), minSigma)
	return (amount - c.AmountMean) / sigma
}

// newDevice reports whether the transaction's device is not among those
// the customer used recently. It is false for a customer without history
// (novelty needs something to be new against) and without a device ID.
func newDevice(c *CustomerState, t *Transaction) bool {
	return c != nil && c.Count > 0 && t.DeviceID != "" && !c.devices.contains(hashString(t.DeviceID))
}

// newCountry is newDevice for the country.
func newCountry(c *CustomerState, t *Transaction) bool {
	return c != nil && c.Count > 0 && t.Country != "" && !c.countries.contains(countryKey(t.Country))
}

// CustomerFeatures is the customer's history as rules see it, before the
// transaction being scored.
type CustomerFeatures struct {
	TxnCount     int64   `json:"txn_count"`
	TotalAmount  float64 `json:"total_amount"`
	AvgAmount    float64 `json:"avg_amount"`
	StddevAmount float64 `json:"stddev_amount"`
	// DaysSinceFirst is fractional days since the first transaction, 0
	// for a new customer.
	DaysSinceFirst float64 `json:"days_since_first"`
	// SecondsSinceLast is +Inf for a new customer, so that "recent
	// activity" comparisons are false for it.
	SecondsSinceLast float64 `json:"seconds_since_last"`
	Devices          int64   `json:"devices"`
	Countries        int64   `json:"countries"`
	IsNew            bool    `json:"is_new"`
}

func customerFeatures(c *CustomerState, at int64) CustomerFeatures {
	if c == nil || c.Count == 0 {
		return CustomerFeatures{SecondsSinceLast: math.Inf(1), IsNew: true}
	}
	return CustomerFeatures{
		TxnCount:         int64(min(c.Count, math.MaxInt64)),
		TotalAmount:      c.Total,
		AvgAmount:        c.AmountMean,
		StddevAmount:     c.stddev(),
		DaysSinceFirst:   max(0, (float64(at)-float64(c.First))/float64(24*time.Hour)),
		SecondsSinceLast: max(0, (float64(at)-float64(c.Last))/float64(time.Second)),
		Devices:          int64(len(c.devices)),
		Countries:        int64(len(c.countries)),
	}
}

// Detectors are the built-in detectors' values for one transaction.
type Detectors struct {
	AmountZScore   float64 `json:"amount_zscore"`
	GeoVelocityKmh float64 `json:"geo_velocity_kmh"`
	GeoDistanceKm  float64 `json:"geo_distance_km"`
	NewDevice      bool    `json:"new_device"`
	NewCountry     bool    `json:"new_country"`
	MerchantRisk   float64 `json:"merchant_risk"`
}

// detectors computes the detectors of t for customer c (nil for one never
// seen), the activation's: the customer is not looked up a second time.
func detectors(st *State, c *CustomerState, t *Transaction, at int64) Detectors {
	kmh, km := geoVelocity(c, t, at)
	return Detectors{
		AmountZScore:   amountZScore(c, t.Amount),
		GeoVelocityKmh: kmh,
		GeoDistanceKm:  km,
		NewDevice:      newDevice(c, t),
		NewCountry:     newCountry(c, t),
		MerchantRisk:   merchantRisk(st, t),
	}
}

func merchantRisk(st *State, t *Transaction) float64 {
	if t.MerchantID == "" {
		return 0
	}
	return st.merchants[t.MerchantID].Risk()
}
