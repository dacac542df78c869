package state

import (
	"math"
	"math/bits"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Capacities of the per-customer device and country lists.
const (
	MaxDevices   = 8
	MaxCountries = 4
)

// windowDays is how many days up to the last purchase day a Customer
// remembers individually (one bit each).
const windowDays = 64

const (
	msPerDay     = 24 * 60 * 60 * 1000
	msPerHour    = 60 * 60 * 1000
	msPerMinute5 = 5 * 60 * 1000
	minuteSlots  = 12 // 5-minute buckets: the last hour
	hourSlots    = 24 // hourly buckets: the last day
)

// maxTimeMs bounds event times (about 31,700 years either side of 1970) so
// that day numbers fit in an int32.
const maxTimeMs = 1e15

// amountScale is the number of stored units per currency unit.
const amountScale = 10_000

// MaxAmount bounds one purchase amount, in currency units, so that sums of
// ten-thousandths cannot overflow.
const MaxAmount = 1e11

// Customer is the state of one customer. The zero Customer has no purchases.
//
// Its purchase days follow the rules of a BG/NBD summary: several purchases
// on one UTC calendar day are one transaction whose value is their sum. The
// latest 64 days up to the last purchase day are remembered one bit each,
// so a purchase arriving out of order is recognised as belonging to a day
// already counted; the first purchase day is always remembered. A purchase
// earlier than the first one makes its day the new first day and turns the
// old first day into a repeat day. A purchase on a day more than 63 days
// before the last purchase day and after the first cannot be told apart
// from one already counted and is counted as a new purchase day ("unsure";
// the event validation's maxEventAge, 30 days by default, keeps this away).
type Customer struct {
	firstPurchase int64 // unix ms
	lastPurchase  int64 // unix ms
	// nextOffset is one past the largest input offset applied, 0 for none.
	nextOffset int64
	dayTally
	// months has bit k set when there was a purchase in the k-th UTC
	// calendar month from the month of firstPurchase (k < 128): the
	// customer's cohort activity.
	months monthMask
	// frozen holds the summaries frozen at calibration ends (see
	// calibration.go); nil for most customers.
	frozen *frozenSet
	// minutes[b%12] counts purchases in 5-minute bucket b, hours[h%24] in
	// hour h, for the buckets up to the one of lastPurchase.
	minutes    [minuteSlots]uint8
	hours      [hourSlots]uint16
	devices    [MaxDevices]uint32
	countries  [MaxCountries]uint32
	nDevices   uint8
	nCountries uint8
	// listed is the generation of the Store's change list that holds the
	// customer, 0 for none (see Store.StartCheckpoint).
	listed uint8
	// gone is set when the Store removes the customer: a link to it
	// (Store.ApplyLinked) no longer counts. It fills padding: a Customer
	// stays 192 bytes.
	gone bool
}

// Apply records a purchase of amount (in currency units, >= 0) at
// eventTime from deviceID in country; empty IDs are not recorded. It
// returns true when the purchase day was "unsure" (see Customer). Purchases
// may arrive in any order: first and last purchase are the minimum and
// maximum event time, sums and day counts do not depend on order, and the
// velocity buckets count a late purchase if its bucket is still within the
// hour or day before the latest purchase. Device and country lists are kept
// most recently seen first, by arrival.
func (c *Customer) Apply(eventTime time.Time, amount float64, deviceID, country string) (unsure bool) {
	return c.apply(eventTime.UnixMilli(), toUnits(amount), deviceHash(deviceID), countryID(country))
}

func (c *Customer) apply(ms, amount int64, device, country uint32) (unsure bool) {
	day := int32(floorDiv(ms, msPerDay))
	if c.transactions == 0 {
		*c = Customer{firstPurchase: ms, lastPurchase: ms, nextOffset: c.nextOffset, listed: c.listed, gone: c.gone, frozen: c.frozen}
		c.dayTally.add(day, day, day, amount)
		c.months = monthMask{1, 0}
		c.bumpVelocity(ms, ms)
	} else {
		c.months = c.months.mark(monthOfDay(c.FirstDay()), monthOfDay(day))
		unsure = c.dayTally.add(c.FirstDay(), c.LastDay(), day, amount)
		c.bumpVelocity(ms, c.lastPurchase)
		c.firstPurchase = min(c.firstPurchase, ms)
		c.lastPurchase = max(c.lastPurchase, ms)
	}
	if device != 0 {
		c.nDevices = remember(c.devices[:], c.nDevices, device)
	}
	if country != 0 {
		c.nCountries = remember(c.countries[:], c.nCountries, country)
	}
	return unsure
}

// dayTally is a purchase-day summary whose first and last purchase days
// are kept by its owner: a Customer, or a summary frozen at a calibration
// end.
type dayTally struct {
	firstDayValue int64 // ten-thousandths
	repeatValue   int64 // ten-thousandths
	// recentDays has bit i set when there was a purchase on the day
	// last-i.
	recentDays   uint64
	transactions uint32
	purchaseDays uint32
}

// add counts a purchase of amount on day d into a tally whose first and
// last purchase days are first and last (ignored while the tally is
// empty); the owner then moves its first and last day to include d.
func (t *dayTally) add(first, last, d int32, amount int64) (unsure bool) {
	if t.transactions == 0 {
		*t = dayTally{firstDayValue: amount, recentDays: 1, purchaseDays: 1, transactions: 1}
		return false
	}
	t.transactions = satAdd32(t.transactions)
	switch {
	case d == first:
		t.firstDayValue += amount
	case d > last:
		if shift := int64(d) - int64(last); shift >= windowDays {
			t.recentDays = 0
		} else {
			t.recentDays <<= uint(shift)
		}
		t.recentDays |= 1
		t.purchaseDays++
		t.repeatValue += amount
	case d < first:
		// The old first day becomes a repeat day.
		t.repeatValue += t.firstDayValue
		t.firstDayValue = amount
		t.purchaseDays++
		if off := int64(last) - int64(d); off < windowDays {
			t.recentDays |= 1 << uint(off)
		}
	default: // first < d <= last
		t.repeatValue += amount
		off := int64(last) - int64(d)
		if off >= windowDays {
			t.purchaseDays++
			return true
		}
		if t.recentDays&(1<<uint(off)) == 0 {
			t.recentDays |= 1 << uint(off)
			t.purchaseDays++
		}
	}
	return false
}

// bumpVelocity counts a purchase at ms into the buckets, whose head is the
// bucket of head (the latest purchase before this one).
func (c *Customer) bumpVelocity(ms, head int64) {
	b, h := floorDiv(ms, msPerMinute5), floorDiv(head, msPerMinute5)
	if b > h {
		for i := h + 1; i <= b && i <= h+minuteSlots; i++ {
			c.minutes[floorMod(i, minuteSlots)] = 0
		}
	}
	if b > h-minuteSlots {
		if s := &c.minutes[floorMod(b, minuteSlots)]; *s < math.MaxUint8 {
			*s++
		}
	}
	b, h = floorDiv(ms, msPerHour), floorDiv(head, msPerHour)
	if b > h {
		for i := h + 1; i <= b && i <= h+hourSlots; i++ {
			c.hours[floorMod(i, hourSlots)] = 0
		}
	}
	if b > h-hourSlots {
		if s := &c.hours[floorMod(b, hourSlots)]; *s < math.MaxUint16 {
			*s++
		}
	}
}

// remember puts id first in the most-recently-seen list of n entries,
// dropping the least recently seen one when the list is full.
func remember(list []uint32, n uint8, id uint32) uint8 {
	i := 0
	for i < int(n) && list[i] != id {
		i++
	}
	if i == int(n) {
		if int(n) < len(list) {
			n++
		} else {
			i = len(list) - 1
		}
	}
	copy(list[1:i+1], list[:i])
	list[0] = id
	return n
}

// FirstPurchase returns the time of the earliest purchase.
func (c *Customer) FirstPurchase() time.Time { return time.UnixMilli(c.firstPurchase).UTC() }

// LastPurchase returns the time of the latest purchase, which is also the
// latest event time in the state.
func (c *Customer) LastPurchase() time.Time { return time.UnixMilli(c.lastPurchase).UTC() }

// FirstDay returns the first purchase day in days since 1970-01-01 UTC.
func (c *Customer) FirstDay() int32 { return int32(floorDiv(c.firstPurchase, msPerDay)) }

// LastDay returns the last purchase day in days since 1970-01-01 UTC.
func (c *Customer) LastDay() int32 { return int32(floorDiv(c.lastPurchase, msPerDay)) }

// RecentDays returns the day bitmap: bit i is set when there was a purchase
// on day LastDay()-i.
func (c *Customer) RecentDays() uint64 { return c.recentDays }

// Transactions returns the number of purchases.
func (c *Customer) Transactions() int { return int(c.transactions) }

// PurchaseDays returns the number of distinct UTC days with a purchase.
func (c *Customer) PurchaseDays() int { return int(c.purchaseDays) }

// RepeatDays returns the number of purchase days after the first: the
// BG/NBD frequency and the Gamma-Gamma transaction count.
func (c *Customer) RepeatDays() int { return max(int(c.purchaseDays)-1, 0) }

// RepeatValue returns the summed amounts of the repeat days; divided by
// RepeatDays it is the mean repeat transaction value.
func (c *Customer) RepeatValue() float64 { return fromUnits(c.repeatValue) }

// FirstDayValue returns the summed amounts of the first purchase day.
func (c *Customer) FirstDayValue() float64 { return fromUnits(c.firstDayValue) }

// MonetaryTotal returns the summed amounts of all purchases.
func (c *Customer) MonetaryTotal() float64 { return fromUnits(c.firstDayValue + c.repeatValue) }

// LastOffset returns the largest input offset applied through a Store, -1
// when none was.
func (c *Customer) LastOffset() int64 { return c.nextOffset - 1 }

// TxnsLastHour returns the purchases in the twelve 5-minute buckets up to
// and including the one of now: between the last 55 and 60 minutes. Counts
// saturate at 255 per bucket.
func (c *Customer) TxnsLastHour(now time.Time) int {
	return countBuckets(c, c.minutes[:], now.UnixMilli(), msPerMinute5)
}

// TxnsLast24h returns the purchases in the 24 hourly buckets up to and
// including the one of now: between the last 23 and 24 hours. Counts
// saturate at 65535 per bucket.
func (c *Customer) TxnsLast24h(now time.Time) int {
	return countBuckets(c, c.hours[:], now.UnixMilli(), msPerHour)
}

// countBuckets sums the buckets that lie both in the ring, which ends with
// the bucket of the last purchase, and in the len(slots) buckets ending
// with the one of nowMs.
func countBuckets[T uint8 | uint16](c *Customer, slots []T, nowMs, width int64) int {
	if c.transactions == 0 {
		return 0
	}
	nowB, head := floorDiv(nowMs, width), floorDiv(c.lastPurchase, width)
	k := int64(len(slots))
	n := 0
	for b := max(nowB, head) - k + 1; b <= min(nowB, head); b++ {
		n += int(slots[floorMod(b, k)])
	}
	return n
}

// SeenDevice reports whether deviceID is among the devices remembered. Two
// devices share a 32-bit hash with probability 2^-32, so a new device is
// mistaken for a known one with probability at most MaxDevices/2^32
// (about 2 in a billion).
func (c *Customer) SeenDevice(deviceID string) bool {
	h := deviceHash(deviceID)
	for _, d := range c.devices[:c.nDevices] {
		if d == h {
			return true
		}
	}
	return false
}

// Devices returns the number of devices remembered, at most MaxDevices.
func (c *Customer) Devices() int { return int(c.nDevices) }

// SeenCountry reports whether country is among the countries remembered.
// Codes of up to four bytes (ISO 3166 alpha-2 and alpha-3) are stored
// exactly; longer names are hashed like devices.
func (c *Customer) SeenCountry(country string) bool {
	id := countryID(country)
	for _, x := range c.countries[:c.nCountries] {
		if x == id {
			return true
		}
	}
	return false
}

// Countries returns the number of countries remembered, at most
// MaxCountries.
func (c *Customer) Countries() int { return int(c.nCountries) }

// deviceHash maps a device ID to a non-zero 32-bit ID; 0 is "none".
func deviceHash(id string) uint32 {
	if id == "" {
		return 0
	}
	h := uint32(xxhash.Sum64String(id))
	if h == 0 {
		h = 1
	}
	return h
}

// countryID packs codes of one to four bytes exactly (no byte of a code is
// 0 in practice) and hashes longer ones; 0 is "none".
func countryID(country string) uint32 {
	if country == "" {
		return 0
	}
	if len(country) <= 4 {
		var id uint32
		for i := 0; i < len(country); i++ {
			id = id<<8 | uint32(country[i])
		}
		if id != 0 {
			return id
		}
	}
	return deviceHash(country)
}

func toUnits(amount float64) int64 {
	return int64(math.Round(amount * amountScale))
}

func fromUnits(v int64) float64 { return float64(v) / amountScale }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func satAdd32(v uint32) uint32 {
	if v == math.MaxUint32 {
		return v
	}
	return v + 1
}

// popcount is used by the decoder's consistency checks.
func popcount(v uint64) int { return bits.OnesCount64(v) }
