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
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	year, ok1 := digits4(s[0:4])
	month, ok2 := digits2(s[5:7])
	day, ok3 := digits2(s[8:10])
	hour, ok4 := digits2(s[11:13])
	minute, ok5 := digits2(s[14:16])
	sec, ok6 := digits2(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
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
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
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
	// negative, so plain division is floor division.
	s := sec - minUnix
	days, sod := s/86400, int(s%86400)
	// The algorithm's years start on 1 March, which puts the leap day at
	// the end; year 0 is a leap year, so its 1 March is day 60. January
	// and February of year 0 come before the first of its years.
	z := days - 60
	var year, month, day int
	if z < 0 {
		year = 0
		if days < 31 {
			month, day = 1, int(days)+1
		} else {
			month, day = 2, int(days)-31+1
		}
	} else {
		era := z / 146097 // 400-year eras of 146097 days
		doe := z - era*146097
		yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
		doy := doe - (365*yoe + yoe/4 - yoe/100)
		mp := (5*doy + 2) / 153
		day = int(doy-(153*mp+2)/5) + 1
		month = int(mp) + 3
		year = int(yoe + era*400)
		if month > 12 {
			month -= 12
			year++
		}
	}
	b = append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+sod/36000), byte('0'+sod/3600%10), ':',
		byte('0'+sod/600%6), byte('0'+sod/60%10), ':',
		byte('0'+sod%60/10), byte('0'+sod%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z'), true
}
