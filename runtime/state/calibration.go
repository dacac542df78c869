package state

import (
	"math/bits"
	"slices"
	"time"
)

// MaxCalibrationDays bounds the calibration end days a Store keeps frozen
// summaries for, and so the frozen summaries of one customer.
const MaxCalibrationDays = 4

// monthBits is how many months from its first purchase month a customer's
// activity mask covers.
const monthBits = 128

// monthMask has bit k set for a purchase in the k-th month after a base
// month (the customer's first purchase month).
type monthMask [2]uint64

// mark returns the mask with month m set, base being its base month
// before the change; a month before base becomes the new base and the
// marks shift up. Months monthBits or more after the base are not kept.
func (mm monthMask) mark(base, m int32) monthMask {
	if m < base {
		mm = mm.shift(int(base - m))
		base = m
	}
	if k := int(m - base); k < monthBits {
		mm[k/64] |= 1 << uint(k%64)
	}
	return mm
}

// shift moves every mark n months up.
func (mm monthMask) shift(n int) monthMask {
	switch {
	case n >= monthBits:
		return monthMask{}
	case n >= 64:
		return monthMask{0, mm[0] << uint(n-64)}
	case n == 0:
		return mm
	}
	return monthMask{mm[0] << uint(n), mm[1]<<uint(n) | mm[0]>>uint(64-n)}
}

// has reports whether month k after the base is marked.
func (mm monthMask) has(k int) bool {
	return k >= 0 && k < monthBits && mm[k/64]&(1<<uint(k%64)) != 0
}

// monthOfDay returns the UTC calendar month of a day number (days since
// 1970-01-01) as months since year 0 (proleptic Gregorian), with integer
// arithmetic only: it runs for every purchase. The algorithm is the
// civil-from-days one of H. Hinnant, "chrono-Compatible Low-Level Date
// Algorithms".
func monthOfDay(d int32) int32 {
	z := int64(d) + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], March = 0
	y := yoe + era*400
	m := mp + 2 // months since January of year y, 2..13
	if m >= 12 {
		m -= 12
		y++
	}
	return int32(y*12 + m)
}

// frozen is a customer's purchase-day summary over the purchases on or
// before a calibration end day, kept once the customer has purchases on
// both sides of it.
type frozen struct {
	end      int32 // calibration end day
	firstDay int32
	lastDay  int32
	dayTally
	months monthMask // base: the month of firstDay
}

// frozenSet is a customer's frozen summaries, sorted by end day.
type frozenSet struct {
	entries []frozen
}

func (c *Customer) frozenAt(end int32) *frozen {
	if c.frozen == nil {
		return nil
	}
	for i := range c.frozen.entries {
		if c.frozen.entries[i].end == end {
			return &c.frozen.entries[i]
		}
	}
	return nil
}

func (c *Customer) addFrozen(f frozen) {
	if c.frozen == nil {
		c.frozen = &frozenSet{}
	}
	i, _ := slices.BinarySearchFunc(c.frozen.entries, f.end, func(e frozen, end int32) int { return int(e.end) - int(end) })
	c.frozen.entries = slices.Insert(c.frozen.entries, i, f)
}

// applyCalibration keeps the frozen summaries of the calibration end days
// ends (sorted) up to date for a purchase of amount on day d, before the
// purchase is applied to the customer itself. Summaries of ends no longer
// tracked are dropped.
//
// For an end day E the invariant is: while the customer's purchases are
// all on or before E, or all after it, the summary at E needs no storage
// (it is the customer's own, or empty); once they lie on both sides, the
// frozen entry for E holds the summary of those on or before E. The entry
// is made when a purchase crosses E, from the customer's summary, which is
// then exactly the one at E. A customer who crossed E before E was tracked
// has no entry, and its summary at E is unknown (see AsOf).
func (c *Customer) applyCalibration(d int32, amount int64, ends []int32) {
	if c.frozen != nil {
		c.frozen.entries = slices.DeleteFunc(c.frozen.entries, func(f frozen) bool {
			_, tracked := slices.BinarySearch(ends, f.end)
			return !tracked
		})
		if len(c.frozen.entries) == 0 {
			c.frozen = nil
		}
	}
	if c.transactions == 0 {
		return // a first purchase: nothing lies on the other side yet
	}
	first, last := c.FirstDay(), c.LastDay()
	for _, end := range ends {
		f := c.frozenAt(end)
		switch {
		case f != nil:
			if d <= end {
				f.months = f.months.mark(monthOfDay(f.firstDay), monthOfDay(d))
				f.dayTally.add(f.firstDay, f.lastDay, d, amount)
				f.firstDay, f.lastDay = min(f.firstDay, d), max(f.lastDay, d)
			}
		case d > end && last <= end:
			// Crossing: everything so far is on or before the end.
			c.addFrozen(frozen{end: end, firstDay: first, lastDay: last, dayTally: c.dayTally, months: c.months})
		case d <= end && first > end:
			// Crossing backwards: everything so far is after the end, so
			// the summary at the end is this purchase alone.
			f := frozen{end: end, firstDay: d, lastDay: d, months: monthMask{1, 0}}
			f.dayTally.add(d, d, d, amount)
			c.addFrozen(f)
		}
	}
}

// PeriodSummary is a customer's purchase-day summary over the purchases on
// or before some day.
type PeriodSummary struct {
	// FirstDay and LastDay are days since 1970-01-01 UTC; both are 0 when
	// PurchaseDays is 0 (no purchase in the period).
	FirstDay, LastDay int32
	// PurchaseDays counts distinct purchase days, Transactions purchases.
	PurchaseDays, Transactions int
	// RecentDays has bit i set for a purchase on day LastDay-i.
	RecentDays uint64
	// FirstDayValue and RepeatValue sum the amounts of the first day and
	// of the later days.
	FirstDayValue, RepeatValue float64

	months monthMask // base: the month of FirstDay
}

// ActiveMonth reports whether the period has a purchase in the k-th UTC
// calendar month after the month of FirstDay (k < 128).
func (s *PeriodSummary) ActiveMonth(k int) bool { return s.months.has(k) }

// FirstMonth returns the month of FirstDay, as months since year 0.
func (s *PeriodSummary) FirstMonth() int32 { return monthOfDay(s.FirstDay) }

// ActiveMonths returns the number of months with a purchase.
func (s *PeriodSummary) ActiveMonths() int {
	return bits.OnesCount64(s.months[0]) + bits.OnesCount64(s.months[1])
}

// AsOf returns the summary of the customer's purchases on or before day
// end (days since 1970-01-01 UTC). known is false when the customer has
// purchases on both sides of end and end was not tracked (see
// Store.SetCalibrationDays) when the first of them crossed it: the state
// then cannot split its summary at end.
func (c *Customer) AsOf(end int32) (s PeriodSummary, known bool) {
	switch {
	case c.transactions == 0 || c.FirstDay() > end:
		return PeriodSummary{}, true
	case c.LastDay() <= end:
		return periodOf(c.FirstDay(), c.LastDay(), &c.dayTally, c.months), true
	}
	if f := c.frozenAt(end); f != nil {
		return periodOf(f.firstDay, f.lastDay, &f.dayTally, f.months), true
	}
	return PeriodSummary{}, false
}

func periodOf(first, last int32, t *dayTally, m monthMask) PeriodSummary {
	return PeriodSummary{FirstDay: first, LastDay: last, PurchaseDays: int(t.purchaseDays), Transactions: int(t.transactions),
		RecentDays: t.recentDays, FirstDayValue: fromUnits(t.firstDayValue), RepeatValue: fromUnits(t.repeatValue), months: m}
}

// FrozenSummaries returns how many frozen summaries the customer keeps.
func (c *Customer) FrozenSummaries() int {
	if c.frozen == nil {
		return 0
	}
	return len(c.frozen.entries)
}

// DayOf returns the UTC calendar day of t in days since 1970-01-01.
func DayOf(t time.Time) int32 { return int32(floorDiv(t.UnixMilli(), msPerDay)) }

// normalizeDays returns the distinct days of ends, sorted, at most
// MaxCalibrationDays of them (the earliest).
func normalizeDays(ends []int32) []int32 {
	out := slices.Clone(ends)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxCalibrationDays {
		out = out[:MaxCalibrationDays]
	}
	return out
}
