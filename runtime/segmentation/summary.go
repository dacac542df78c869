package segmentation

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
	"time"
)

// windowDays is how many days up to a customer's last purchase day a
// Summary remembers individually; see Summary.RecentDays.
const windowDays = 64

// dayOf returns the UTC calendar day of t as days since 1970-01-01.
func dayOf(t time.Time) int32 {
	sec := t.Unix()
	d := sec / 86400
	if sec%86400 < 0 {
		d--
	}
	return int32(d)
}

// dayTime returns midnight UTC of a day number.
func dayTime(d int32) time.Time {
	return time.Unix(int64(d)*86400, 0).UTC()
}

// Summary is the compact per-customer purchase state, 40 bytes. Purchases are
// counted per UTC calendar day: several purchases on one day are one
// transaction whose value is the sum of their amounts.
//
// The zero Summary has no purchases.
type Summary struct {
	// RecentDays has bit i set when the customer purchased on day LastDay-i,
	// for i < 64. It lets purchases that arrive out of order, up to 63 days
	// before the latest purchase day, be recognised as belonging to a day
	// already counted.
	RecentDays uint64 `json:"recentDays"`
	// FirstDayValue is the summed amount of the first purchase day.
	FirstDayValue float64 `json:"firstDayValue"`
	// RepeatValue is the summed amount of all later purchase days.
	RepeatValue float64 `json:"repeatValue"`
	// FirstDay is the first purchase day, in days since 1970-01-01 UTC.
	FirstDay int32 `json:"firstDay"`
	// LastDay is the last purchase day, in days since 1970-01-01 UTC.
	LastDay int32 `json:"lastDay"`
	// PurchaseDays is the number of distinct purchase days; 0 means empty.
	PurchaseDays uint32 `json:"purchaseDays"`
}

// FirstPurchase returns midnight UTC of the first purchase day.
func (s *Summary) FirstPurchase() time.Time { return dayTime(s.FirstDay) }

// LastPurchase returns midnight UTC of the last purchase day.
func (s *Summary) LastPurchase() time.Time { return dayTime(s.LastDay) }

// Frequency returns the number of repeat purchase days (x in the BG/NBD).
func (s *Summary) Frequency() int {
	if s.PurchaseDays == 0 {
		return 0
	}
	return int(s.PurchaseDays) - 1
}

// knows reports whether day d is a purchase day that s remembers: the first
// day or a marked day of the window.
func (s *Summary) knows(d int32) bool {
	if s.PurchaseDays == 0 || d > s.LastDay || d < s.FirstDay {
		return false
	}
	if d == s.FirstDay {
		return true
	}
	off := int64(s.LastDay) - int64(d)
	return off < windowDays && s.RecentDays&(1<<uint(off)) != 0
}

// add records a purchase of amount on day d. It returns true when the day
// lies before the remembered window and after the first day, so it cannot
// be told apart from an already counted day; it is then counted as a new
// purchase day.
func (s *Summary) add(d int32, amount float64) (unsure bool) {
	switch {
	case s.PurchaseDays == 0:
		*s = Summary{RecentDays: 1, FirstDayValue: amount, FirstDay: d, LastDay: d, PurchaseDays: 1}
	case d == s.FirstDay:
		s.FirstDayValue += amount
	case d > s.LastDay:
		shift := int64(d) - int64(s.LastDay)
		if shift >= windowDays {
			s.RecentDays = 0
		} else {
			s.RecentDays <<= uint(shift)
		}
		s.RecentDays |= 1
		s.LastDay = d
		s.PurchaseDays++
		s.RepeatValue += amount
	case d < s.FirstDay:
		// The old first day becomes a repeat day.
		s.RepeatValue += s.FirstDayValue
		s.FirstDayValue = amount
		s.FirstDay = d
		s.PurchaseDays++
		if off := int64(s.LastDay) - int64(d); off < windowDays {
			s.RecentDays |= 1 << uint(off)
		}
	default: // FirstDay < d <= LastDay
		s.RepeatValue += amount
		off := int64(s.LastDay) - int64(d)
		if off >= windowDays {
			s.PurchaseDays++
			return true
		}
		if s.RecentDays&(1<<uint(off)) == 0 {
			s.RecentDays |= 1 << uint(off)
			s.PurchaseDays++
		}
	}
	return false
}

// Merge folds o, a summary of the same customer built from other purchases
// (another replica, another batch), into s. It is exact when every purchase
// day the two sides share is remembered by both (a first day, or within 64
// days of that side's last purchase day); a shared day older than that is
// counted twice, as add does.
func (s *Summary) Merge(o Summary) {
	if o.PurchaseDays == 0 {
		return
	}
	if s.PurchaseDays == 0 {
		*s = o
		return
	}
	// Count the days both sides know, each side's known set being its first
	// day plus its window.
	shared := uint32(0)
	for w := s.RecentDays; w != 0; w &= w - 1 {
		d := s.LastDay - int32(bits.TrailingZeros64(w))
		if o.knows(d) {
			shared++
		}
	}
	if int64(s.LastDay)-int64(s.FirstDay) >= windowDays && o.knows(s.FirstDay) {
		shared++
	}

	total := s.PurchaseDays + o.PurchaseDays - shared
	last := max(s.LastDay, o.LastDay)
	window := shiftWindow(s.RecentDays, last-s.LastDay) | shiftWindow(o.RecentDays, last-o.LastDay)
	out := Summary{FirstDay: min(s.FirstDay, o.FirstDay), LastDay: last, PurchaseDays: total, RecentDays: window}
	switch {
	case s.FirstDay == o.FirstDay:
		out.FirstDayValue = s.FirstDayValue + o.FirstDayValue
		out.RepeatValue = s.RepeatValue + o.RepeatValue
	case s.FirstDay < o.FirstDay:
		out.FirstDayValue = s.FirstDayValue
		out.RepeatValue = s.RepeatValue + (o.FirstDayValue + o.RepeatValue)
	default:
		out.FirstDayValue = o.FirstDayValue
		out.RepeatValue = o.RepeatValue + (s.FirstDayValue + s.RepeatValue)
	}
	*s = out
}

func shiftWindow(w uint64, by int32) uint64 {
	if by >= windowDays {
		return 0
	}
	return w << uint(by)
}

// Customer is one customer's calibration-period summary in a time unit: the
// per-customer input of the models.
type Customer struct {
	// ID is the customer ID.
	ID string `json:"customer_id"`
	// Frequency is the number of repeat purchase days, x.
	Frequency int `json:"frequency"`
	// Recency is the time from the first to the last purchase day, t_x.
	Recency float64 `json:"recency"`
	// T is the time from the first purchase day to the calibration end day.
	T float64 `json:"T"`
	// Monetary is the mean value of the repeat purchase days (0 when
	// Frequency is 0).
	Monetary float64 `json:"monetary"`
	// Spend is the total value of all purchase days, the first included.
	Spend float64 `json:"spend"`
}

// AccumulatorStats counts what an Accumulator did with its observations.
type AccumulatorStats struct {
	// Observations is the number of observations added.
	Observations int64 `json:"observations"`
	// AfterCalibration is the number dropped for lying after the
	// calibration end day.
	AfterCalibration int64 `json:"afterCalibration"`
	// Unsure is the number that arrived more than 63 days before their
	// customer's latest purchase day (and after the first): counted as a new
	// purchase day, which is wrong if that day already had a purchase.
	Unsure int64 `json:"unsure"`
}

// Accumulator builds per-customer summaries from (customer, time, amount)
// observations, in any order as long as a customer's purchases arrive no
// more than 63 days behind that customer's latest purchase day (see
// Summary). Observations on days after the calibration end day are dropped:
// the models are fitted on the calibration period only.
//
// An Accumulator is not safe for concurrent use; give each goroutine its
// own and Merge them.
type Accumulator struct {
	end   int32
	index map[string]int32
	sums  []Summary
	stats AccumulatorStats
}

// NewAccumulator returns an empty Accumulator whose calibration period ends
// with the UTC calendar day of calibrationEnd, that day included.
func NewAccumulator(calibrationEnd time.Time) *Accumulator {
	return &Accumulator{end: dayOf(calibrationEnd), index: make(map[string]int32)}
}

// CalibrationEnd returns midnight UTC of the calibration end day.
func (a *Accumulator) CalibrationEnd() time.Time { return dayTime(a.end) }

// Len returns the number of customers.
func (a *Accumulator) Len() int { return len(a.sums) }

// Stats returns the observation counters.
func (a *Accumulator) Stats() AccumulatorStats { return a.stats }

// ErrBadAmount is returned for an amount that is negative, NaN or infinite.
var ErrBadAmount = errors.New("amount must be a finite number >= 0")

// Add records one purchase. It fails only for an empty customer ID or a bad
// amount.
func (a *Accumulator) Add(customerID string, t time.Time, amount float64) error {
	if customerID == "" {
		return errors.New("empty customer ID")
	}
	if !(amount >= 0) || math.IsInf(amount, 1) {
		return fmt.Errorf("customer %q: %w, got %v", customerID, ErrBadAmount, amount)
	}
	a.stats.Observations++
	d := dayOf(t)
	if d > a.end {
		a.stats.AfterCalibration++
		return nil
	}
	if a.summaryFor(customerID).add(d, amount) {
		a.stats.Unsure++
	}
	return nil
}

func (a *Accumulator) summaryFor(id string) *Summary {
	i, ok := a.index[id]
	if !ok {
		if len(a.sums) == math.MaxInt32 {
			panic("segmentation: too many customers in one Accumulator")
		}
		i = int32(len(a.sums))
		// Clone so that the key does not pin the caller's buffer.
		a.index[strings.Clone(id)] = i
		a.sums = append(a.sums, Summary{})
	}
	return &a.sums[i]
}

// Summary returns the summary of one customer.
func (a *Accumulator) Summary(customerID string) (Summary, bool) {
	i, ok := a.index[customerID]
	if !ok {
		return Summary{}, false
	}
	return a.sums[i], true
}

// Merge folds o into a. The two may cover disjoint customers (replicas that
// own different customers) or overlap (a customer's history split between
// two builders; see Summary.Merge). Both must have the same calibration end.
func (a *Accumulator) Merge(o *Accumulator) error {
	if a.end != o.end {
		return fmt.Errorf("failed to merge accumulators: calibration ends differ (%s and %s)",
			a.CalibrationEnd().Format(time.DateOnly), o.CalibrationEnd().Format(time.DateOnly))
	}
	for id, j := range o.index {
		a.summaryFor(id).Merge(o.sums[j])
	}
	a.stats.Observations += o.stats.Observations
	a.stats.AfterCalibration += o.stats.AfterCalibration
	a.stats.Unsure += o.stats.Unsure
	return nil
}

// Customers returns every customer's summary in unit u, sorted by ID.
func (a *Accumulator) Customers(u Unit) ([]Customer, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	out := make([]Customer, 0, len(a.sums))
	for id, i := range a.index {
		out = append(out, a.customer(id, &a.sums[i], u))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (a *Accumulator) customer(id string, s *Summary, u Unit) Customer {
	c := Customer{
		ID:        id,
		Frequency: s.Frequency(),
		Recency:   u.fromDays(s.LastDay - s.FirstDay),
		T:         u.fromDays(a.end - s.FirstDay),
		Spend:     s.FirstDayValue + s.RepeatValue,
	}
	if c.Frequency > 0 {
		c.Monetary = s.RepeatValue / float64(c.Frequency)
	}
	return c
}
