package events

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// rfc3339Edges are times where calendar arithmetic goes wrong first: the
// ends of the year range, leap days of each kind of century, the Unix epoch
// and the instants around it.
var rfc3339Edges = []time.Time{
	time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(0, 2, 29, 23, 59, 59, 999999999, time.UTC),
	time.Date(0, 3, 1, 0, 0, 0, 1, time.UTC),
	time.Date(0, 12, 31, 12, 0, 0, 0, time.UTC),
	time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(1600, 2, 29, 0, 0, 0, 0, time.UTC),
	time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC),
	time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC),
	time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2000, 2, 29, 10, 20, 30, 120000000, time.UTC),
	time.Date(2024, 12, 31, 23, 59, 59, 100, time.UTC),
	time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
}

// randomTime returns a UTC time in years 0 to 9999 whose nanoseconds have
// a random number of trailing zeros.
func randomTime(rng *rand.Rand) time.Time {
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	ns := rng.IntN(1e9)
	ns -= ns % pow10Int[rng.IntN(10)]
	return time.Unix(lo+rng.Int64N(hi-lo+1), int64(ns)).UTC()
}

func TestAppendRFC3339UTC(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(tm time.Time) {
		t.Helper()
		got, ok := appendRFC3339UTC([]byte("x"), tm)
		if want := tm.AppendFormat([]byte("x"), time.RFC3339Nano); !ok || !bytes.Equal(got, want) {
			t.Fatalf("appendRFC3339UTC(%v) = %q, %v; want %q", tm, got, ok, want)
		}
	}
	for _, tm := range rfc3339Edges {
		check(tm)
	}
	for range 200_000 {
		check(randomTime(rng))
	}
	// Other locations and years take the general path.
	for _, tm := range []time.Time{
		time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600)),
		time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("UTC", 0)),
		time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, ok := appendRFC3339UTC(nil, tm); ok {
			t.Fatalf("appendRFC3339UTC(%v) = %q, want the general path", tm, got)
		}
	}
}

// checkParseRFC3339UTC checks that the fast parser agrees with time.Parse
// wherever it answers.
func checkParseRFC3339UTC(t *testing.T, s string) (fast bool) {
	t.Helper()
	got, ok := parseRFC3339UTC(s)
	if !ok {
		return false
	}
	want, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parseRFC3339UTC(%q) = %v; time.Parse fails: %v", s, got, err)
	}
	if want = want.UTC(); got != want {
		t.Fatalf("parseRFC3339UTC(%q) = %#v; time.Parse gives %#v", s, got, want)
	}
	return true
}

// TestMinuteCache checks minuteCache.parse against parseRFC3339UTC for
// timestamps read after one of the same minute (the cache's path) and
// after one of another (the full parse), valid or not, in every shape
// TestParseRFC3339UTC uses, with the seconds and fractions cut or
// garbled.
func TestMinuteCache(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	layouts := []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05.0Z", "2006-01-02T15:04:05.000Z",
		"2006-01-02T15:04:05.999999999Z", time.RFC3339Nano}
	tails := []string{":00Z", ":59Z", ":60Z", ":5Z", ":5aZ", ":05.Z", ":05.1234567890Z", ":05.12345678Z", ":05.1x", ":05",
		"05Z", ":05.5Z", ":05+00:00", ":1a.5Z"}
	var c minuteCache
	hits := 0
	for i := range 100_000 {
		s := edgeOrRandomTime(i, rng).Format(layouts[i%len(layouts)])
		for _, next := range []string{s, s[:16] + tails[i%len(tails)], s} {
			if c.set && len(next) >= 20 && next[:16] == string(c.text[:]) {
				hits++
			}
			got, ok := c.parse(next)
			want, wantOK := parseRFC3339UTC(next)
			if ok != wantOK || got != want {
				t.Fatalf("minuteCache.parse(%q) after %q = %v, %v; parseRFC3339UTC = %v, %v", next, s, got, ok, want, wantOK)
			}
		}
	}
	if hits < 150_000 {
		t.Fatalf("only %d parses through the cache", hits)
	}
}

// edgeOrRandomTime is the i-th of rfc3339Edges while there is one, then a
// random time from rng.
func edgeOrRandomTime(i int, rng *rand.Rand) time.Time {
	if i < len(rfc3339Edges) {
		return rfc3339Edges[i]
	}
	return randomTime(rng)
}

func TestParseRFC3339UTC(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	layouts := []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05.0Z", "2006-01-02T15:04:05.000Z",
		"2006-01-02T15:04:05.000000Z", "2006-01-02T15:04:05.000000000Z", "2006-01-02T15:04:05.999999999Z", time.RFC3339Nano}
	for i := range 200_000 {
		s := edgeOrRandomTime(i, rng).Format(layouts[i%len(layouts)])
		if !checkParseRFC3339UTC(t, s) {
			t.Fatalf("parseRFC3339UTC(%q) declined the common shape", s)
		}
	}
	// Out of range, other shapes: declined (time.Parse decides), never
	// misread.
	for _, s := range []string{
		"2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-00-01T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z",
		"2024-01-01T00:00:60Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z",
		"2024-01-01t00:00:00Z", "2024-01-01T00:00:00z", "2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00",
		"2024-1-01T00:00:00Z", "2024-01-01T00:00:0aZ", "+024-01-01T00:00:00Z", "2024-01-01T00:00:00,5Z",
		"2024-01-01T00:00:00.5xZ", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00.-5Z",
	} {
		if checkParseRFC3339UTC(t, s) {
			t.Fatalf("parseRFC3339UTC(%q) accepted it", s)
		}
	}
}

// FuzzRFC3339 checks the fast parser against time.Parse and, for what they
// read, the fast writer against Time.AppendFormat.
func FuzzRFC3339(f *testing.F) {
	for _, tm := range rfc3339Edges {
		f.Add(tm.Format(time.RFC3339Nano))
	}
	f.Add("2024-02-29T12:34:56.7Z")
	f.Add("2024-02-30T12:34:56Z")
	f.Fuzz(func(t *testing.T, s string) {
		checkParseRFC3339UTC(t, s)
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
			tm = tm.UTC()
			if got, ok := appendRFC3339UTC(nil, tm); ok {
				if want := tm.AppendFormat(nil, time.RFC3339Nano); !bytes.Equal(got, want) {
					t.Fatalf("appendRFC3339UTC(%v) = %q, want %q", tm, got, want)
				}
			}
		}
	})
}

// BenchmarkRFC3339 compares the fast paths with the general functions on
// an event time as the generator writes it.
func BenchmarkRFC3339(b *testing.B) {
	const s = "2026-11-26T00:11:11.533916527Z"
	tm := time.Date(2026, 11, 26, 0, 11, 11, 533916527, time.UTC)
	buf := make([]byte, 0, 64)
	var sink time.Time
	b.Run("parse/fast", func(b *testing.B) {
		for b.Loop() {
			sink, _ = parseRFC3339UTC(s)
		}
	})
	b.Run("parse/minute", func(b *testing.B) {
		// Through a minuteCache holding the time's minute, as for a
		// stream of events.
		var c minuteCache
		for b.Loop() {
			sink, _ = c.parse(s)
		}
	})
	b.Run("parse/time.Parse", func(b *testing.B) {
		for b.Loop() {
			t, _ := time.Parse(time.RFC3339Nano, s)
			sink = t.UTC()
		}
	})
	b.Run("format/fast", func(b *testing.B) {
		for b.Loop() {
			buf, _ = appendRFC3339UTC(buf[:0], tm)
		}
	})
	b.Run("format/AppendFormat", func(b *testing.B) {
		for b.Loop() {
			buf = tm.AppendFormat(buf[:0], time.RFC3339Nano)
		}
	})
	if !sink.Equal(tm) || string(buf) != s {
		b.Fatalf("got %v and %s", sink, buf)
	}
}
