package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// customerVersion is the first byte of every customer encoding. A change of
// layout gets a new version and the decoder keeps reading the old ones.
// Version 1 is written whenever it holds everything (no frozen summaries,
// activity only in the first and last purchase month), so such records are
// byte-identical to those of earlier releases.
const (
	customerVersion   = 1
	customerVersionV2 = 2
)

// maxEncodedDaySpan bounds day offsets in frozen summaries.
const maxEncodedDaySpan = 1 << 30

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt customer state")

// AppendBinary appends c's encoding to b. Layout, version 1 (uvarint and
// varint are LEB128, varint zig-zag):
//
//	byte    1 (version)
//	varint  first purchase, unix ms
//	uvarint last purchase - first purchase, ms
//	uvarint last input offset + 1 (0: none)
//	uvarint transactions
//	uvarint purchase days
//	uvarint first-day value, ten-thousandths
//	uvarint repeat value, ten-thousandths
//	uvarint recent-days bitmap
//	uvarint velocity mask: bit i for 5-minute slot i (0-11), bit 12+j for
//	        hour slot j (0-23), set for the non-zero slots
//	uvarint the count of each set slot, in bit order
//	byte    devices<<4 | countries
//	4 bytes per device, little endian, most recent first
//	uvarint per country, most recent first
//
// Version 2 is version 1 followed by:
//
//	uvarint x2  activity months (low, high 64 bits; bit k: k months after
//	            the first purchase month)
//	byte        number of frozen summaries (<= MaxCalibrationDays), then
//	            each, by increasing end day:
//	varint      end day (days since 1970-01-01)
//	uvarint     end day - first day
//	uvarint     last day - first day
//	uvarint     transactions, purchase days, first-day value, repeat value,
//	            recent-days bitmap, activity months (low, high)
func (c *Customer) AppendBinary(b []byte) ([]byte, error) {
	v2 := c.frozen != nil || c.months != defaultMonths(c.FirstDay(), c.LastDay())
	if v2 {
		b = append(b, customerVersionV2)
	} else {
		b = append(b, customerVersion)
	}
	b = binary.AppendVarint(b, c.firstPurchase)
	b = binary.AppendUvarint(b, uint64(c.lastPurchase-c.firstPurchase))
	b = binary.AppendUvarint(b, uint64(c.nextOffset))
	b = binary.AppendUvarint(b, uint64(c.transactions))
	b = binary.AppendUvarint(b, uint64(c.purchaseDays))
	b = binary.AppendUvarint(b, uint64(c.firstDayValue))
	b = binary.AppendUvarint(b, uint64(c.repeatValue))
	b = binary.AppendUvarint(b, c.recentDays)
	var mask uint64
	for i, v := range c.minutes {
		if v != 0 {
			mask |= 1 << i
		}
	}
	for j, v := range c.hours {
		if v != 0 {
			mask |= 1 << (minuteSlots + j)
		}
	}
	b = binary.AppendUvarint(b, mask)
	for _, v := range c.minutes {
		if v != 0 {
			b = binary.AppendUvarint(b, uint64(v))
		}
	}
	for _, v := range c.hours {
		if v != 0 {
			b = binary.AppendUvarint(b, uint64(v))
		}
	}
	b = append(b, c.nDevices<<4|c.nCountries)
	for _, d := range c.devices[:c.nDevices] {
		b = binary.LittleEndian.AppendUint32(b, d)
	}
	for _, x := range c.countries[:c.nCountries] {
		b = binary.AppendUvarint(b, uint64(x))
	}
	if !v2 {
		return b, nil
	}
	b = binary.AppendUvarint(b, c.months[0])
	b = binary.AppendUvarint(b, c.months[1])
	var entries []frozen
	if c.frozen != nil {
		entries = c.frozen.entries
	}
	b = append(b, byte(len(entries)))
	for i := range entries {
		f := &entries[i]
		b = binary.AppendVarint(b, int64(f.end))
		b = binary.AppendUvarint(b, uint64(int64(f.end)-int64(f.firstDay)))
		b = binary.AppendUvarint(b, uint64(int64(f.lastDay)-int64(f.firstDay)))
		for _, v := range [...]uint64{uint64(f.transactions), uint64(f.purchaseDays), uint64(f.firstDayValue),
			uint64(f.repeatValue), f.recentDays, f.months[0], f.months[1]} {
			b = binary.AppendUvarint(b, v)
		}
	}
	return b, nil
}

// defaultMonths is the activity a version 1 record implies: the months of
// the first and the last purchase.
func defaultMonths(first, last int32) monthMask {
	return monthMask{1, 0}.mark(monthOfDay(first), monthOfDay(last))
}

// MarshalBinary returns c's encoding.
func (c *Customer) MarshalBinary() ([]byte, error) { return c.AppendBinary(make([]byte, 0, 96)) }

// UnmarshalBinary replaces c with a decoded customer. It checks the
// encoding's internal consistency, returns an error wrapping ErrCorrupt for
// anything it cannot trust, and leaves c unchanged then.
func (c *Customer) UnmarshalBinary(data []byte) error {
	d, err := DecodeCustomer(data)
	if err != nil {
		return err
	}
	gone := c.gone // a removed customer stays removed for links to it
	*c = *d
	c.gone = gone
	return nil
}

// DecodeCustomer decodes a customer encoding; see UnmarshalBinary.
func DecodeCustomer(data []byte) (*Customer, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	version := data[0]
	if version != customerVersion && version != customerVersionV2 {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, data[0])
	}
	r := decoder{buf: data[1:]}
	c := new(Customer)
	c.firstPurchase = r.varint()
	span := r.uvarint()
	nextOffset := r.uvarint()
	transactions := r.uvarint()
	purchaseDays := r.uvarint()
	firstDayValue := r.uvarint()
	repeatValue := r.uvarint()
	c.recentDays = r.uvarint()
	mask := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	switch {
	case c.firstPurchase < -maxTimeMs || c.firstPurchase > maxTimeMs || span > uint64(maxTimeMs-c.firstPurchase):
		return nil, fmt.Errorf("%w: purchase times out of range", ErrCorrupt)
	case nextOffset > math.MaxInt64:
		return nil, fmt.Errorf("%w: offset out of range", ErrCorrupt)
	case transactions == 0 || transactions > math.MaxUint32:
		return nil, fmt.Errorf("%w: %d transactions", ErrCorrupt, transactions)
	case purchaseDays == 0 || purchaseDays > transactions:
		return nil, fmt.Errorf("%w: %d purchase days for %d transactions", ErrCorrupt, purchaseDays, transactions)
	case firstDayValue > math.MaxInt64 || repeatValue > math.MaxInt64-firstDayValue:
		return nil, fmt.Errorf("%w: amounts out of range", ErrCorrupt)
	case mask >= 1<<(minuteSlots+hourSlots):
		return nil, fmt.Errorf("%w: velocity mask %#x", ErrCorrupt, mask)
	}
	c.lastPurchase = c.firstPurchase + int64(span)
	c.nextOffset = int64(nextOffset)
	c.transactions = uint32(transactions)
	c.purchaseDays = uint32(purchaseDays)
	c.firstDayValue = int64(firstDayValue)
	c.repeatValue = int64(repeatValue)
	if err := c.checkDays(); err != nil {
		return nil, err
	}
	for i := range c.minutes {
		if mask&(1<<i) != 0 {
			v := r.uvarint()
			if v == 0 || v > math.MaxUint8 {
				r.fail("5-minute count out of range")
			}
			c.minutes[i] = uint8(v)
		}
	}
	for j := range c.hours {
		if mask&(1<<(minuteSlots+j)) != 0 {
			v := r.uvarint()
			if v == 0 || v > math.MaxUint16 {
				r.fail("hourly count out of range")
			}
			c.hours[j] = uint16(v)
		}
	}
	lists := r.byte()
	c.nDevices, c.nCountries = lists>>4, lists&0xf
	if c.nDevices > MaxDevices || c.nCountries > MaxCountries {
		r.fail("device or country list too long")
	}
	for i := range c.devices[:min(c.nDevices, MaxDevices)] {
		c.devices[i] = r.uint32()
	}
	for i := range c.countries[:min(c.nCountries, MaxCountries)] {
		v := r.uvarint()
		if v > math.MaxUint32 {
			r.fail("country out of range")
		}
		c.countries[i] = uint32(v)
	}
	if r.err != nil {
		return nil, r.err
	}
	c.months = defaultMonths(c.FirstDay(), c.LastDay())
	if version == customerVersionV2 {
		if err := c.decodeV2(&r); err != nil {
			return nil, err
		}
	}
	if len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(r.buf))
	}
	if !distinctNonZero(c.devices[:c.nDevices]) || !distinctNonZero(c.countries[:c.nCountries]) {
		return nil, fmt.Errorf("%w: device or country list has zero or repeated entries", ErrCorrupt)
	}
	return c, nil
}

// decodeV2 reads the fields version 2 adds and checks them against the
// customer's own summary.
func (c *Customer) decodeV2(r *decoder) error {
	c.months = monthMask{r.uvarint(), r.uvarint()}
	n := int(r.byte())
	if r.err != nil {
		return r.err
	}
	lastMonth := int(monthOfDay(c.LastDay()) - monthOfDay(c.FirstDay()))
	if !c.months.has(0) || lastMonth < monthBits && !c.months.has(lastMonth) {
		return fmt.Errorf("%w: activity months miss the first or last purchase month", ErrCorrupt)
	}
	if n > MaxCalibrationDays {
		return fmt.Errorf("%w: %d frozen summaries", ErrCorrupt, n)
	}
	if n == 0 {
		return nil
	}
	c.frozen = &frozenSet{entries: make([]frozen, n)}
	for i := range c.frozen.entries {
		f := &c.frozen.entries[i]
		end := r.varint()
		back, span := r.uvarint(), r.uvarint()
		txns, days, firstValue, repeatValue := r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()
		f.recentDays = r.uvarint()
		f.months = monthMask{r.uvarint(), r.uvarint()}
		if r.err != nil {
			return r.err
		}
		switch {
		case end >= int64(c.LastDay()) || back > maxEncodedDaySpan || span > back || end-int64(back) < int64(c.FirstDay()):
			return fmt.Errorf("%w: frozen summary %d: days out of range", ErrCorrupt, i)
		case i > 0 && int32(end) <= c.frozen.entries[i-1].end:
			return fmt.Errorf("%w: frozen summaries out of order", ErrCorrupt)
		case txns == 0 || txns > uint64(c.transactions) || days == 0 || days > txns || days > uint64(c.purchaseDays):
			return fmt.Errorf("%w: frozen summary %d: %d purchase days for %d transactions", ErrCorrupt, i, days, txns)
		case firstValue > math.MaxInt64 || repeatValue > math.MaxInt64-firstValue:
			return fmt.Errorf("%w: frozen summary %d: amounts out of range", ErrCorrupt, i)
		case !f.months.has(0):
			return fmt.Errorf("%w: frozen summary %d: first month not active", ErrCorrupt, i)
		}
		f.end = int32(end)
		f.firstDay = int32(end - int64(back))
		f.lastDay = f.firstDay + int32(span)
		f.transactions, f.purchaseDays = uint32(txns), uint32(days)
		f.firstDayValue, f.repeatValue = int64(firstValue), int64(repeatValue)
		if err := f.dayTally.check(f.firstDay, f.lastDay); err != nil {
			return fmt.Errorf("frozen summary %d: %w", i, err)
		}
	}
	return nil
}

// checkDays verifies that the day summary could have come from Apply.
func (c *Customer) checkDays() error {
	return c.dayTally.check(c.FirstDay(), c.LastDay())
}

// check verifies that a tally with these first and last days could have
// come from add.
func (t *dayTally) check(first, last int32) error {
	span := int64(last) - int64(first)
	known := popcount(t.recentDays)
	switch {
	case t.recentDays&1 == 0:
		return fmt.Errorf("%w: last purchase day not marked", ErrCorrupt)
	case span < windowDays && t.recentDays>>uint(span) != 1:
		// Within the window the first day is the oldest marked day.
		return fmt.Errorf("%w: day bitmap does not match the first purchase day", ErrCorrupt)
	case span >= windowDays:
		known++ // the first day lies beyond the bitmap
	}
	switch {
	case uint64(t.purchaseDays) < uint64(known):
		return fmt.Errorf("%w: %d purchase days, %d marked", ErrCorrupt, t.purchaseDays, known)
	case t.purchaseDays == 1 && t.repeatValue != 0:
		return fmt.Errorf("%w: repeat value without repeat days", ErrCorrupt)
	}
	return nil
}

func distinctNonZero(ids []uint32) bool {
	for i, x := range ids {
		if x == 0 {
			return false
		}
		for _, y := range ids[:i] {
			if x == y {
				return false
			}
		}
	}
	return true
}

// decoder reads LEB128 fields; the first error sticks and later reads
// return zero.
type decoder struct {
	buf []byte
	err error
}

func (r *decoder) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, msg)
	}
	r.buf = nil
}

func (r *decoder) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail("truncated or overlong varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *decoder) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail("truncated or overlong varint")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *decoder) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.buf) < 1 {
		r.fail("truncated")
		return 0
	}
	v := r.buf[0]
	r.buf = r.buf[1:]
	return v
}

func (r *decoder) uint32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.buf) < 4 {
		r.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(r.buf)
	r.buf = r.buf[4:]
	return v
}
