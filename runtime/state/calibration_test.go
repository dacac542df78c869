package state

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// periodReference applies, to a fresh Customer, only the purchases on or
// before day end: what a summary frozen at end must equal.
func periodReference(ps []Purchase, id string, end int32) PeriodSummary {
	var c Customer
	for _, p := range ps {
		if p.CustomerID == id && DayOf(p.EventTime) <= end {
			c.Apply(p.EventTime, p.Amount, "", "")
		}
	}
	s, _ := c.AsOf(end)
	return s
}

// calibrationPurchases spreads purchases of a few customers over 240 days,
// in time order except for a jitter of up to two days.
func calibrationPurchases(rng *rand.Rand, n, customers int) []Purchase {
	out := make([]Purchase, n)
	for i := range out {
		ts := at(240*i/n, 0).Add(-time.Duration(rng.Int64N(int64(48 * time.Hour))))
		out[i] = Purchase{Offset: int64(i), CustomerID: fmt.Sprintf("c%03d", rng.IntN(customers)), EventTime: ts,
			Amount: float64(rng.IntN(20_000)) / 100}
	}
	return out
}

// TestFrozenSummaryEqualsTheCalibrationPeriod checks, for every customer
// and three tracked end days, that AsOf gives the summary of the purchases
// on or before the end, although later purchases were applied too.
func TestFrozenSummaryEqualsTheCalibrationPeriod(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ps := calibrationPurchases(rng, 6000, 150)
	ends := []int32{DayOf(at(60, 0)), DayOf(at(120, 0)), DayOf(at(200, 0))}
	s := NewStore(topic, 0)
	if got := s.SetCalibrationDays(ends); !reflect.DeepEqual(got, ends) {
		t.Fatalf("kept %v, want %v", got, ends)
	}
	mustApply(t, s, ps)
	frozen := 0
	s.Range(func(id string, c *Customer) bool {
		frozen += c.FrozenSummaries()
		for _, end := range ends {
			got, known := c.AsOf(end)
			if !known {
				t.Fatalf("%s at %d: unknown although tracked from the start", id, end)
			}
			if want := periodReference(ps, id, end); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s at %d:\n got  %+v\n want %+v", id, end, got, want)
			}
		}
		return true
	})
	if frozen == 0 {
		t.Fatal("no customer crossed an end day: the test data is wrong")
	}
}

func TestCalibrationSummaryStandings(t *testing.T) {
	end := DayOf(at(10, 0))
	apply := func(s *Store, id string, days ...int) {
		for _, d := range days {
			if _, err := s.Apply(Purchase{Offset: s.Meta().NextOffset, CustomerID: id, EventTime: at(d, time.Hour), Amount: 2}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s := NewStore(topic, 0)
	apply(s, "before", 1, 3)
	apply(s, "after", 12, 15)
	apply(s, "late-crosser", 2, 11) // crosses before the end is tracked
	s.SetCalibrationDays([]int32{end})
	apply(s, "crosser", 4, 9, 10, 11, 30)
	apply(s, "backwards", 20, 5) // first after the end, then one before
	apply(s, "late-crosser", 3)

	for _, tc := range []struct {
		id           string
		known        bool
		purchaseDays int
		value        float64
	}{
		{"before", true, 2, 4}, {"after", true, 0, 0}, {"crosser", true, 3, 6},
		{"backwards", true, 1, 2}, {"late-crosser", false, 0, 0},
	} {
		c, _ := s.Get(tc.id)
		got, known := c.AsOf(end)
		if known != tc.known || got.PurchaseDays != tc.purchaseDays || got.FirstDayValue+got.RepeatValue != tc.value {
			t.Errorf("%s: known %v, %d days, value %v; want %v, %d, %v", tc.id, known, got.PurchaseDays,
				got.FirstDayValue+got.RepeatValue, tc.known, tc.purchaseDays, tc.value)
		}
	}
	// Untracking the end drops the frozen summary at the next purchase.
	s.SetCalibrationDays(nil)
	apply(s, "crosser", 31)
	if c, _ := s.Get("crosser"); c.FrozenSummaries() != 0 {
		t.Fatalf("%d frozen summaries after the end was untracked", c.FrozenSummaries())
	}
}

func TestCalibrationDaysAreBounded(t *testing.T) {
	s := NewStore(topic, 0)
	got := s.SetCalibrationDays([]int32{9, 3, 3, 7, 1, 5, 2})
	if want := []int32{1, 2, 3, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

// TestFrozenSummariesSurviveCheckpointAndReplay: a restored store, and one
// that crashed mid-checkpoint and replayed, hold the same frozen summaries
// as an uninterrupted one.
func TestFrozenSummariesSurviveCheckpointAndReplay(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	ps := calibrationPurchases(rng, 5000, 200)
	ends := []int32{DayOf(at(80, 0)), DayOf(at(160, 0))}
	want := NewStore(topic, 0)
	want.SetCalibrationDays(ends)
	mustApply(t, want, ps)

	s := NewStore(topic, 0)
	s.SetCalibrationDays(ends)
	var log changelog
	crashAt := 3500
	for i := 0; i < crashAt; i += 300 {
		mustApply(t, s, ps[i:min(i+300, crashAt)])
		recs := s.Checkpoint()
		if i+300 >= crashAt {
			recs = recs[:len(recs)/2] // no marker
		}
		log.write(recs)
	}
	r, meta, err := Restore(topic, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	r.SetCalibrationDays(ends)
	mustApply(t, r, ps[meta.NextOffset:])
	sameState(t, r, want)

	log = nil
	log.write(want.Checkpoint())
	restored, _, err := Restore(topic, 0, log.compacted())
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, restored, want)
}

// TestVersion1RecordsStillDecode: a customer without frozen summaries and
// active only in its first and last month encodes as version 1, as before;
// version 1 records decode with that activity.
func TestVersion1RecordsStillDecode(t *testing.T) {
	var c Customer
	c.Apply(at(0, time.Hour), 3, "d", "DE")
	c.Apply(at(75, time.Hour), 4, "d", "DE") // two months later
	b, _ := c.MarshalBinary()
	if b[0] != customerVersion {
		t.Fatalf("version %d, want %d", b[0], customerVersion)
	}
	d, err := DecodeCustomer(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, &c) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", d, &c)
	}
	c.Apply(at(40, time.Hour), 1, "", "") // a month in between
	if b, _ := c.MarshalBinary(); b[0] != customerVersionV2 {
		t.Fatalf("version %d with a middle month active, want %d", b[0], customerVersionV2)
	}
	s, _ := c.AsOf(DayOf(at(75, 0)))
	if s.ActiveMonths() != 3 {
		t.Fatalf("%d active months, want 3", s.ActiveMonths())
	}
}

func TestMonthMask(t *testing.T) {
	var m monthMask
	m = m.mark(100, 100).mark(100, 170).mark(100, 227)
	if !m.has(0) || !m.has(70) || !m.has(127) || m.has(1) {
		t.Fatalf("mask %x", m)
	}
	m = m.mark(100, 90) // a new first month shifts everything up by 10
	if !m.has(0) || !m.has(10) || !m.has(80) || m.has(137) || m.has(127) {
		t.Fatalf("shifted mask %x", m)
	}
	if got := m.shift(128); got != (monthMask{}) {
		t.Fatalf("shift past the mask: %x", got)
	}
}

// monthOfDay agrees with the time package over ±100,000 days around 1970
// (1696 to 2243) and at the ends of the supported range.
func TestMonthOfDay(t *testing.T) {
	days := []int32{-11_574_000, 11_574_000}
	for d := int32(-100_000); d <= 100_000; d++ {
		days = append(days, d)
	}
	for _, d := range days {
		y, m, _ := time.Unix(int64(d)*86400, 0).UTC().Date()
		if want := int32(y)*12 + int32(m) - 1; monthOfDay(d) != want {
			t.Fatalf("day %d: month %d, want %d", d, monthOfDay(d), want)
		}
	}
}
