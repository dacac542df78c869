package events

import "time"

// AppendRFC3339UTC appends t as time.Time.AppendFormat(time.RFC3339Nano)
// does, for a time in UTC with a year from 0 to 9999; ok is false, and b
// unchanged, for any other (the caller formats those itself). The engine's
// alert records write their times with it.
func AppendRFC3339UTC(b []byte, t time.Time) (_ []byte, ok bool) {
	return appendRFC3339UTC(b, t)
}
