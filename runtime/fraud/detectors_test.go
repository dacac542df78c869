package fraud

import (
	"math"
	"testing"
	"time"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f ± %g", name, got, want, tol)
	}
}

func TestHaversine(t *testing.T) {
	oneDegree := earthRadiusKm * math.Pi / 180 // 111.195 km of arc
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want                   float64
	}{
		{"same place", 52.52, 13.405, 52.52, 13.405, 0},
		{"one degree along the equator", 0, 10, 0, 11, oneDegree},
		// 179.5°E to 179.5°W is 1°, not 359°.
		{"equator across the antimeridian", 0, 179.5, 0, -179.5, oneDegree},
		{"antimeridian, the other way", 0, -179.5, 0, 179.5, oneDegree},
		// Suva, Fiji to Apia, Samoa: Δλ = 360 - 178.4419 - 171.7667 =
		// 9.7914°; the spherical law of cosines with that Δλ gives
		// 1150.70 km.
		{"Fiji to Samoa", -18.1416, 178.4419, -13.8333, -171.7667, 1150.70},
		{"pole to pole", 90, 0, -90, 0, math.Pi * earthRadiusKm},
		{"antipodes on the equator", 0, 0, 0, 180, math.Pi * earthRadiusKm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			near(t, "distance", haversineKm(tt.lat1, tt.lon1, tt.lat2, tt.lon2), tt.want, 0.01)
		})
	}
}

func TestGeoVelocity(t *testing.T) {
	oneDegree := earthRadiusKm * math.Pi / 180
	prev := func(lat, lon float64, at time.Time) *CustomerState {
		return &CustomerState{Count: 1, HasGeo: true, Lat: lat, Lon: lon, GeoTime: at.UnixNano(), First: at.UnixNano(), Last: at.UnixNano()}
	}
	txn := func(lat, lon float64, at time.Time) *Transaction {
		return &Transaction{EventTime: at, Lat: lat, Lon: lon, HasGeo: true}
	}
	tests := []struct {
		name    string
		c       *CustomerState
		t       *Transaction
		kmh, km float64
	}{
		{"antimeridian, one hour", prev(0, 179.5, t0), txn(0, -179.5, t0.Add(time.Hour)), oneDegree, oneDegree},
		{"Fiji to Samoa in 30 minutes", prev(-18.1416, 178.4419, t0), txn(-13.8333, -171.7667, t0.Add(30*time.Minute)), 2 * 1150.70, 1150.70},
		{"same place, same second", prev(52.52, 13.405, t0), txn(52.52, 13.405, t0), 0, 0},
		// A zero interval is floored at one minute: 111.195 km / (1/60 h).
		{"zero time delta", prev(0, 179.5, t0), txn(0, -179.5, t0), 60 * oneDegree, oneDegree},
		// A late transaction is compared with |Δt|.
		{"late transaction", prev(0, 10, t0), txn(0, 11, t0.Add(-2*time.Hour)), oneDegree / 2, oneDegree},
		{"no previous geo", &CustomerState{Count: 3}, txn(0, 10, t0), 0, 0},
		{"new customer", nil, txn(0, 10, t0), 0, 0},
		{"transaction without geo", prev(0, 10, t0), &Transaction{EventTime: t0.Add(time.Hour), Lat: 50, Lon: 50}, 0, 0},
		{"invalid coordinates", prev(0, 10, t0), txn(91, 10, t0.Add(time.Hour)), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := unixNano(tt.t.EventTime)
			kmh, km := geoVelocity(tt.c, tt.t, at)
			near(t, "km/h", kmh, tt.kmh, 0.05)
			near(t, "km", km, tt.km, 0.01)
		})
	}
}

func TestAmountZScore(t *testing.T) {
	observe := func(amounts ...float64) *CustomerState {
		c := new(CustomerState)
		for i, a := range amounts {
			txn := Transaction{EventTime: t0.Add(time.Duration(i) * time.Hour), Amount: a}
			c.observe(&txn, unixNano(txn.EventTime))
		}
		return c
	}
	tests := []struct {
		name   string
		c      *CustomerState
		amount float64
		want   float64
	}{
		{"new customer", nil, 500, 0},
		{"four earlier amounts are too few", observe(10, 20, 30, 40), 500, 0},
		// mean 30, sample variance (400+100+0+100+400)/4 = 250,
		// sd 15.8114; (100-30)/15.8114 = 4.42719.
		{"known history", observe(10, 20, 30, 40, 50), 100, 70 / math.Sqrt(250)},
		{"below the mean", observe(10, 20, 30, 40, 50), 14.1886, -1},
		// Constant history: sd 0 is floored at 5% of the mean, 0.5.
		{"constant history", observe(10, 10, 10, 10, 10), 20, 20},
		// Free orders: mean 0, the floor is 0.01.
		{"all zero", observe(0, 0, 0, 0, 0), 1, 100},
		{"NaN amount", observe(10, 20, 30, 40, 50), math.NaN(), 0},
		{"infinite amount", observe(10, 20, 30, 40, 50), math.Inf(1), 0},
		// Non-finite amounts never enter the history.
		{"history with NaN and Inf", observe(10, math.NaN(), 20, math.Inf(1), 30, 40, 50), 100, 70 / math.Sqrt(250)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			near(t, "z", amountZScore(tt.c, tt.amount), tt.want, 1e-4)
		})
	}
}

func TestNovelty(t *testing.T) {
	c := new(CustomerState)
	first := Transaction{EventTime: t0, DeviceID: "d1", Country: "DE"}
	if newDevice(c, &first) || newCountry(c, &first) {
		t.Error("a customer's first transaction must not count as a new device or country")
	}
	c.observe(&first, unixNano(t0))
	tests := []struct {
		name                 string
		device, country      string
		newDev, newCountryOK bool
	}{
		{"known device and country", "d1", "DE", false, false},
		{"new device", "d2", "DE", true, false},
		{"new country", "d1", "FR", false, true},
		{"both new", "d3", "BR", true, true},
		{"unknown device and country", "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txn := Transaction{EventTime: t0.Add(time.Hour), DeviceID: tt.device, Country: tt.country}
			if got := newDevice(c, &txn); got != tt.newDev {
				t.Errorf("new device = %v, want %v", got, tt.newDev)
			}
			if got := newCountry(c, &txn); got != tt.newCountryOK {
				t.Errorf("new country = %v, want %v", got, tt.newCountryOK)
			}
		})
	}

	// The sets remember the 16 most recently used entries.
	for i := range 20 {
		txn := Transaction{EventTime: t0.Add(time.Duration(i+2) * time.Hour), DeviceID: "x" + string(rune('a'+i)), Country: "DE"}
		c.observe(&txn, unixNano(txn.EventTime))
	}
	if c.Devices() != maxSeen {
		t.Errorf("devices = %d, want %d", c.Devices(), maxSeen)
	}
	if _, ok := c.SeenDevice("d1"); ok {
		t.Error("d1 should have been forgotten after 20 newer devices")
	}
	if first, ok := c.SeenCountry("DE"); !ok || first != t0.Unix() {
		t.Errorf("DE first seen = %d, %v; want %d", first, ok, t0.Unix())
	}
}

func TestMerchantRisk(t *testing.T) {
	tests := []struct {
		name string
		m    *MerchantState
		want float64
	}{
		{"unknown merchant", nil, 0.01},
		{"clean history", &MerchantState{Transactions: 900}, 1.0 / 1000},
		// precision (0+1)/(0+0+2) = 0.5; expected 0 + 0.5*10 = 5;
		// (5 + 1) / (50 + 100) = 0.04.
		{"unlabelled alerts", &MerchantState{Transactions: 50, Alerts: 10}, 0.04},
		// precision 11/17; expected 10 + 11/17*35 = 32.647; (33.647)/1100.
		{"labelled alerts", &MerchantState{Transactions: 1000, Alerts: 50, ConfirmedFraud: 10, ConfirmedLegit: 5}, (10 + 11.0/17*35 + 1) / 1100},
		{"all alerts legit", &MerchantState{Transactions: 100, Alerts: 20, ConfirmedLegit: 20}, 1.0 / 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			near(t, "risk", tt.m.Risk(), tt.want, 1e-9)
		})
	}
}
