package state

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

var day0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func at(days int, clock time.Duration) time.Time {
	return day0.AddDate(0, 0, days).Add(clock)
}

func TestSameDayPurchasesAreOneTransactionValue(t *testing.T) {
	var c Customer
	c.Apply(at(0, 9*time.Hour), 10, "d1", "DE")
	c.Apply(at(0, 23*time.Hour+59*time.Minute), 5.5, "d1", "DE")
	c.Apply(at(0, time.Minute), 1.25, "d2", "FR") // earlier the same day
	if c.PurchaseDays() != 1 || c.Transactions() != 3 || c.RepeatDays() != 0 || c.RepeatValue() != 0 {
		t.Fatalf("days %d txns %d repeat %d/%v", c.PurchaseDays(), c.Transactions(), c.RepeatDays(), c.RepeatValue())
	}
	if c.FirstDayValue() != 16.75 || c.MonetaryTotal() != 16.75 {
		t.Fatalf("first-day value %v, total %v", c.FirstDayValue(), c.MonetaryTotal())
	}
	if !c.FirstPurchase().Equal(at(0, time.Minute)) || !c.LastPurchase().Equal(at(0, 23*time.Hour+59*time.Minute)) {
		t.Fatalf("first %v last %v", c.FirstPurchase(), c.LastPurchase())
	}
	// The next day is a repeat day.
	c.Apply(at(1, 0), 2, "", "")
	if c.PurchaseDays() != 2 || c.RepeatDays() != 1 || c.RepeatValue() != 2 {
		t.Fatalf("after day 1: days %d repeat %d/%v", c.PurchaseDays(), c.RepeatDays(), c.RepeatValue())
	}
}

func TestOutOfOrderPurchases(t *testing.T) {
	var c Customer
	c.Apply(at(10, 0), 1, "", "")
	c.Apply(at(12, 0), 2, "", "")
	c.Apply(at(11, 0), 4, "", "")         // a new day between the two
	c.Apply(at(12, time.Hour), 8, "", "") // a known day
	c.Apply(at(5, 0), 16, "", "")         // before the first purchase
	if c.PurchaseDays() != 4 || c.FirstDay() != c.LastDay()-7 {
		t.Fatalf("days %d first %d last %d", c.PurchaseDays(), c.FirstDay(), c.LastDay())
	}
	// Day 5 is the first day now; day 10 became a repeat day.
	if c.FirstDayValue() != 16 || c.RepeatValue() != 1+2+4+8 || c.RepeatDays() != 3 {
		t.Fatalf("first %v repeat %v over %d days", c.FirstDayValue(), c.RepeatValue(), c.RepeatDays())
	}
	if !c.FirstPurchase().Equal(at(5, 0)) || !c.LastPurchase().Equal(at(12, time.Hour)) {
		t.Fatalf("first %v last %v", c.FirstPurchase(), c.LastPurchase())
	}
	// More than 63 days behind the last day and after the first: unsure.
	c.Apply(at(100, 0), 1, "", "")
	if c.Apply(at(20, 0), 1, "", "") != true {
		t.Fatal("a purchase 80 days back should be unsure")
	}
	if c.Apply(at(5, time.Hour), 1, "", "") {
		t.Fatal("the first day is always known")
	}
}

// TestDaySummaryMatchesReference compares random out-of-order purchase
// sequences, within the 64-day window, against exact bookkeeping.
func TestDaySummaryMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		var c Customer
		byDay := map[int]int64{} // ten-thousandths
		var first, last time.Time
		n := 1 + rng.IntN(40)
		for i := range n {
			d := rng.IntN(60)
			ts := at(d, time.Duration(rng.Int64N(int64(24*time.Hour))))
			units := rng.Int64N(1_000_000)
			if c.Apply(ts, float64(units)/amountScale, "", "") {
				t.Fatalf("trial %d: unsure inside the window", trial)
			}
			byDay[d] += units
			if i == 0 || ts.Before(first) {
				first = ts
			}
			if i == 0 || ts.After(last) {
				last = ts
			}
		}
		minDay := 1 << 30
		var total int64
		for d, v := range byDay {
			minDay = min(minDay, d)
			total += v
		}
		if c.PurchaseDays() != len(byDay) || c.Transactions() != n ||
			c.FirstDayValue() != fromUnits(byDay[minDay]) || c.RepeatValue() != fromUnits(total-byDay[minDay]) ||
			c.MonetaryTotal() != fromUnits(total) ||
			!c.FirstPurchase().Equal(first.Truncate(time.Millisecond)) || !c.LastPurchase().Equal(last.Truncate(time.Millisecond)) {
			t.Fatalf("trial %d: state %+v disagrees with reference days %v", trial, c, byDay)
		}
	}
}

// TestVelocityMatchesReference checks the bucket counters against a
// direct count: a purchase counts while its bucket is within the ring that
// ends at the latest purchase's bucket when it arrives and at query time.
func TestVelocityMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		var c Customer
		type ev struct {
			ms                int64
			headMin, headHour int64
		}
		var evs []ev
		clock := day0.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
		for range 1 + rng.IntN(60) {
			clock = clock.Add(time.Duration(rng.Int64N(int64(20 * time.Minute))))
			ts := clock.Add(-time.Duration(rng.Int64N(int64(90 * time.Minute))))
			headMin, headHour := floorDiv(ts.UnixMilli(), msPerMinute5), floorDiv(ts.UnixMilli(), msPerHour)
			if c.Transactions() > 0 {
				headMin = max(headMin, floorDiv(c.lastPurchase, msPerMinute5))
				headHour = max(headHour, floorDiv(c.lastPurchase, msPerHour))
			}
			evs = append(evs, ev{ts.UnixMilli(), headMin, headHour})
			c.Apply(ts, 1, "", "")
		}
		for _, q := range []time.Duration{0, time.Minute, 30 * time.Minute, 2 * time.Hour, 20 * time.Hour, 30 * time.Hour} {
			now := c.LastPurchase().Add(q)
			nowMin, nowHour := floorDiv(now.UnixMilli(), msPerMinute5), floorDiv(now.UnixMilli(), msPerHour)
			wantHour, wantDay := 0, 0
			for _, e := range evs {
				if b := floorDiv(e.ms, msPerMinute5); b > nowMin-minuteSlots && b > e.headMin-minuteSlots {
					wantHour++
				}
				if b := floorDiv(e.ms, msPerHour); b > nowHour-hourSlots && b > e.headHour-hourSlots {
					wantDay++
				}
			}
			if got := c.TxnsLastHour(now); got != wantHour {
				t.Fatalf("trial %d, now +%v: last hour %d, want %d", trial, q, got, wantHour)
			}
			if got := c.TxnsLast24h(now); got != wantDay {
				t.Fatalf("trial %d, now +%v: last 24h %d, want %d", trial, q, got, wantDay)
			}
		}
	}
}

func TestDevicesAndCountriesKeepTheMostRecent(t *testing.T) {
	var c Customer
	for i := range 10 {
		c.Apply(at(0, time.Duration(i)*time.Minute), 1, fmt.Sprintf("device-%d", i), "")
	}
	if c.Devices() != MaxDevices {
		t.Fatalf("%d devices", c.Devices())
	}
	for i := range 10 {
		if want := i >= 10-MaxDevices; c.SeenDevice(fmt.Sprintf("device-%d", i)) != want {
			t.Fatalf("device-%d seen = %v, want %v", i, !want, want)
		}
	}
	// Seeing device-2 again makes it the most recent; the next new device
	// then pushes out device-3.
	c.Apply(at(0, time.Hour), 1, "device-2", "")
	c.Apply(at(0, time.Hour), 1, "device-new", "")
	if !c.SeenDevice("device-2") || c.SeenDevice("device-3") || !c.SeenDevice("device-new") {
		t.Fatal("the least recently seen device should have been dropped")
	}
	for _, cc := range []string{"DE", "FR", "DE", "US", "GB", "NL"} {
		c.Apply(at(1, 0), 1, "", cc)
	}
	// DE was seen again after FR, so FR is the one dropped.
	if c.Countries() != MaxCountries || !c.SeenCountry("DE") || !c.SeenCountry("NL") || c.SeenCountry("FR") {
		t.Fatalf("countries %d: DE %v NL %v FR %v", c.Countries(), c.SeenCountry("DE"), c.SeenCountry("NL"), c.SeenCountry("FR"))
	}
	if c.SeenCountry("") || c.SeenDevice("") {
		t.Fatal("empty IDs are never seen")
	}
}

func randomCustomer(rng *rand.Rand) *Customer {
	c := new(Customer)
	base := at(rng.IntN(300), 0)
	for range 1 + rng.IntN(30) {
		ts := base.Add(time.Duration(rng.Int64N(int64(200 * 24 * time.Hour))))
		c.Apply(ts, float64(rng.IntN(100_000))/100, fmt.Sprintf("dev-%d", rng.IntN(12)), []string{"DE", "FR", "US", "GB", "Narnia", "NL"}[rng.IntN(6)])
	}
	c.nextOffset = rng.Int64N(1 << 40)
	return c
}

func TestEncodingRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		c := randomCustomer(rng)
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeCustomer(b)
		if err != nil {
			t.Fatalf("decode: %v\n%+v", err, c)
		}
		if !reflect.DeepEqual(d, c) {
			t.Fatalf("round trip:\n got  %+v\n want %+v", d, c)
		}
		for i := range len(b) {
			if _, err := DecodeCustomer(b[:i]); err == nil {
				t.Fatalf("a %d-byte prefix of a %d-byte encoding decoded", i, len(b))
			}
		}
	}
}

// typicalCustomer has a year of history, five devices and two countries.
func typicalCustomer(rng *rand.Rand) *Customer {
	c := new(Customer)
	base := at(0, 0)
	for i := range 12 {
		ts := base.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
		c.Apply(ts, float64(500+rng.IntN(20000))/100, fmt.Sprintf("device-%08x", i%5), []string{"DE", "AT"}[i%2])
	}
	c.nextOffset = 1 + rng.Int64N(50_000_000)
	return c
}

func TestTypicalEncodingSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	total := 0
	for range 1000 {
		b, _ := typicalCustomer(rng).MarshalBinary()
		if len(b) > 128 {
			t.Fatalf("typical customer encodes to %d bytes", len(b))
		}
		total += len(b)
	}
	t.Logf("typical customer: %.1f bytes on the wire", float64(total)/1000)
}

// TestCustomerSize guards the in-memory budget: 192 bytes fill the
// 192-byte size class (168 before the activity months and the frozen
// summaries' pointer); growing past it costs 16 bytes per customer.
func TestCustomerSize(t *testing.T) {
	if size := unsafe.Sizeof(Customer{}); size > 192 {
		t.Fatalf("Customer is %d bytes, over the 192-byte size class", size)
	}
}
