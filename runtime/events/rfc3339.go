package events

import "time"

// Event times are read and written once per record each. time.Parse and
// Time.AppendFormat handle every layout and location; the functions here
// handle the one shape nearly every producer sends and this package writes,
// UTC with a "Z" and up to nine fraction digits, and leave everything else
// to them. Both give exactly the results of the general functions (tests
// compare them over random times and the edge cases).

// parseRFC3339UTC parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z" with one to nine
// fraction digits. ok is false for anything else, including out-of-range
// fields: the caller then asks time.Parse, which knows the answer and the
// error.
func parseRFC3339UTC(s string) (t time.Time, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits4(s[0:4])
	month, ok2 := digits2(s[5:7])
	day, ok3 := digits2(s[8:10])
	hour, ok4 := digits2(s[11:13])
	minute, ok5 := digits2(s[14:16])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 {
		return time.Time{}, false
	}
	// Days from the civil date (H. Hinnant's algorithm, years starting on
	// 1 March), shifted by one 400-year era so that year 0's January and
	// February stay non-negative. time.Unix(...).UTC() is the value
	// time.Date(..., time.UTC) builds, without its normalisation.
	y := year + 400
	if month <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	doy := (153*((month+9)%12)+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := int64(era*146097+doe) - 719468 - 146097 // since 1970-01-01
	return parseRFC3339Seconds(s, days*86400+int64(hour*3600+minute*60))
}

// parseRFC3339Seconds parses the rest of s after parseRFC3339UTC's first
// 16 bytes, ":SS[.fraction]Z", the minute being at Unix time unixMinute.
func parseRFC3339Seconds(s string, unixMinute int64) (t time.Time, ok bool) {
	if len(s) < 20 || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	sec, ok := digits2(s[17:19])
	if !ok || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if len(s) > 20 {
		frac := s[19 : len(s)-1]
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		for i := 1; i < len(frac); i++ {
			c := frac[i]
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			nsec = nsec*10 + int(c-'0')
		}
		nsec *= pow10Int[10-len(frac)]
	}
	return time.Unix(unixMinute+int64(sec), int64(nsec)).UTC(), true
}

// minuteCache keeps the minute of the last timestamp parse read, its text
// ("YYYY-MM-DDTHH:MM", copied) and its Unix time: events come in time
// order, many to a minute, and a timestamp of the same minute needs only
// its seconds read (parseRFC3339Seconds), for the same result as
// parseRFC3339UTC's.
type minuteCache struct {
	text [16]byte
	unix int64
	set  bool
}

// parse is parseRFC3339UTC(s), through the cache.
func (c *minuteCache) parse(s string) (time.Time, bool) {
	if c.set && len(s) >= 20 && s[:16] == string(c.text[:]) {
		return parseRFC3339Seconds(s, c.unix)
	}
	t, ok := parseRFC3339UTC(s)
	if ok {
		copy(c.text[:], s)
		c.unix, c.set = t.Unix()-int64(t.Second()), true
	}
	return t, ok
}

var pow10Int = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

func digits2(s string) (int, bool) {
	a, b := s[0]-'0', s[1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

func digits4(s string) (int, bool) {
	hi, ok1 := digits2(s[0:2])
	lo, ok2 := digits2(s[2:4])
	return hi*100 + lo, ok1 && ok2
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// appendRFC3339UTC appends t as Time.AppendFormat(time.RFC3339Nano) does,
// computing the calendar date from the Unix day directly ("civil from
// days", H. Hinnant's algorithm) instead of through Time.Date and
// Time.Clock. ok is false, and b unchanged, for a location other than UTC
// and for years outside 0 to 9999.
func appendRFC3339UTC(b []byte, t time.Time) (_ []byte, ok bool) {
	const (
		// The bounds of years 0 and 9999 in Unix seconds.
		minUnix = -62167219200 // 0000-01-01T00:00:00Z
		maxUnix = 253402300799 // 9999-12-31T23:59:59Z
	)
	sec := t.Unix()
	if t.Location() != time.UTC || sec < minUnix || sec > maxUnix {
		return b, false
	}
	// Counted from 0000-01-01, days and the second of the day are never
	// negative: unsigned arithmetic, which divides by constants more
	// cheaply than signed.
	u := uint64(sec - minUnix)
	days, sod := u/86400, uint32(u%86400)
	// The algorithm's years start on 1 March, which puts the leap day at
	// the end; year 0 is a leap year, so its 1 March is day 60. January
	// and February of year 0 come before the first of its years.
	var year, month, day uint32
	if days < 60 {
		if days < 31 {
			month, day = 1, uint32(days)+1
		} else {
			month, day = 2, uint32(days)-31+1
		}
	} else {
		z := days - 60
		era := z / 146097 // 400-year eras of 146097 days
		doe := uint32(z - era*146097)
		yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
		doy := doe - (365*yoe + yoe/4 - yoe/100)
		mp := (5*doy + 2) / 153
		day = doy - (153*mp+2)/5 + 1
		month = mp + 3
		year = yoe + uint32(era)*400
		if month > 12 {
			month -= 12
			year++
		}
	}
	hour, minute, second := sod/3600, sod/60%60, sod%60
	var buf [30]byte
	put2(buf[0:], year/100)
	put2(buf[2:], year%100)
	buf[4] = '-'
	put2(buf[5:], month)
	buf[7] = '-'
	put2(buf[8:], day)
	buf[10] = 'T'
	put2(buf[11:], hour)
	buf[13] = ':'
	put2(buf[14:], minute)
	buf[16] = ':'
	put2(buf[17:], second)
	n := 19
	if ns := uint32(t.Nanosecond()); ns != 0 {
		buf[19] = '.'
		put2(buf[20:], ns/10000000)
		put2(buf[22:], ns/100000%100)
		put2(buf[24:], ns/1000%100)
		put2(buf[26:], ns/10%100)
		buf[28] = byte('0' + ns%10)
		n = 29
		for buf[n-1] == '0' {
			n--
		}
	}
	buf[n] = 'Z'
	return append(b, buf[:n+1]...), true
}

// digitPairs holds the two decimal digits of 0 to 99, in order.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// put2 writes v, below 100, as two digits.
func put2(b []byte, v uint32) {
	b[0], b[1] = digitPairs[2*v], digitPairs[2*v+1]
}
