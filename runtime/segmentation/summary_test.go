package segmentation

import (
	"math"
	"testing"
	"time"
	"unsafe"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSummaryIsCompact(t *testing.T) {
	if n := unsafe.Sizeof(Summary{}); n != 40 {
		t.Errorf("Summary is %d bytes, want 40", n)
	}
}

func mustAdd(t *testing.T, a *Accumulator, id string, at time.Time, amount float64) {
	t.Helper()
	if err := a.Add(id, at, amount); err != nil {
		t.Fatal(err)
	}
}

func TestAccumulatorSummarisesByDay(t *testing.T) {
	a := NewAccumulator(day("2024-03-31").Add(23 * time.Hour)) // the day counts, not the hour
	mustAdd(t, a, "c", day("2024-01-01").Add(9*time.Hour), 10)
	mustAdd(t, a, "c", day("2024-01-01").Add(18*time.Hour), 5) // same day: one transaction of 15
	mustAdd(t, a, "c", day("2024-01-15"), 20)
	mustAdd(t, a, "c", day("2024-01-29").Add(23*time.Hour+59*time.Minute), 7)
	mustAdd(t, a, "c", day("2024-01-29"), 3) // same day again, out of order
	mustAdd(t, a, "c", day("2024-03-31").Add(22*time.Hour), 1)
	mustAdd(t, a, "c", day("2024-04-01"), 1000) // after calibration: dropped
	// A time zone other than UTC is reduced to its UTC day.
	mustAdd(t, a, "d", time.Date(2024, 3, 1, 1, 0, 0, 0, time.FixedZone("X", 3*3600)), 4)

	if st := a.Stats(); st.Observations != 8 || st.AfterCalibration != 1 || st.Unsure != 0 {
		t.Errorf("stats = %+v", st)
	}
	s, _ := a.Summary("c")
	if !s.FirstPurchase().Equal(day("2024-01-01")) || !s.LastPurchase().Equal(day("2024-03-31")) {
		t.Errorf("first/last = %v/%v", s.FirstPurchase(), s.LastPurchase())
	}
	if s.Frequency() != 3 || s.FirstDayValue != 15 || s.RepeatValue != 31 {
		t.Errorf("summary = %+v, want frequency 3, first day 15, repeat value 31", s)
	}
	cs, err := a.Customers(Day)
	if err != nil {
		t.Fatal(err)
	}
	want := []Customer{
		{ID: "c", Frequency: 3, Recency: 90, T: 90, Monetary: 31.0 / 3, Spend: 46},
		{ID: "d", Frequency: 0, Recency: 0, T: 31, Monetary: 0, Spend: 4},
	}
	if len(cs) != 2 || cs[0] != want[0] || cs[1] != want[1] {
		t.Errorf("customers = %+v, want %+v", cs, want)
	}
	cw, _ := a.Customers(Week)
	if math.Abs(cw[0].T-90.0/7) > 1e-15 || cw[0].Frequency != 3 {
		t.Errorf("in weeks: %+v", cw[0])
	}
	if _, err := a.Customers("month"); err == nil {
		t.Error("unknown unit accepted")
	}
}

func TestAccumulatorRejectsBadInput(t *testing.T) {
	a := NewAccumulator(day("2024-01-01"))
	for _, amount := range []float64{-1, math.NaN(), math.Inf(1)} {
		if err := a.Add("c", day("2024-01-01"), amount); err == nil {
			t.Errorf("amount %v accepted", amount)
		}
	}
	if err := a.Add("", day("2024-01-01"), 1); err == nil {
		t.Error("empty customer ID accepted")
	}
	if a.Len() != 0 {
		t.Errorf("%d customers after rejected input", a.Len())
	}
}

// purchase is one (day offset, amount) of a customer.
type purchase struct {
	day    int
	amount float64
}

func summaryOf(ps []purchase) Summary {
	var s Summary
	for _, p := range ps {
		s.add(int32(p.day), p.amount)
	}
	return s
}

func TestSummaryOrderIndependentWithinWindow(t *testing.T) {
	base := []purchase{{100, 1}, {100, 2}, {103, 4}, {110, 8}, {150, 16}, {150, 32}, {160, 64}}
	want := summaryOf(base)
	if want.PurchaseDays != 5 || want.FirstDayValue != 3 || want.RepeatValue != 124 {
		t.Fatalf("in order: %+v", want)
	}
	// Every rotation and the reverse: all within the 64-day window.
	orders := [][]purchase{reverse(base)}
	for i := range base {
		orders = append(orders, append(append([]purchase{}, base[i:]...), base[:i]...))
	}
	for _, o := range orders {
		if got := summaryOf(o); got != want {
			t.Errorf("order %v: %+v, want %+v", o, got, want)
		}
	}
}

func reverse(ps []purchase) []purchase {
	out := make([]purchase, len(ps))
	for i, p := range ps {
		out[len(ps)-1-i] = p
	}
	return out
}

func TestSummaryLateBeyondWindow(t *testing.T) {
	a := NewAccumulator(day("2025-01-01"))
	mustAdd(t, a, "c", day("2024-01-01"), 1)
	mustAdd(t, a, "c", day("2024-02-01"), 1)
	mustAdd(t, a, "c", day("2024-06-01"), 1)
	mustAdd(t, a, "c", day("2024-02-01"), 1) // 121 days late: cannot be matched
	mustAdd(t, a, "c", day("2024-01-01"), 1) // the first day is always known
	s, _ := a.Summary("c")
	if a.Stats().Unsure != 1 || s.PurchaseDays != 4 || s.FirstDayValue != 2 || s.RepeatValue != 3 {
		t.Errorf("summary %+v, stats %+v: want 4 purchase days (one counted twice) and 1 unsure", s, a.Stats())
	}
}

func TestSummaryMerge(t *testing.T) {
	all := []purchase{{10, 1}, {12, 2}, {12, 4}, {40, 8}, {41, 16}, {70, 32}, {200, 64}, {230, 128}}
	want := summaryOf(all)
	for _, split := range [][]int{
		{0, 0, 0, 0, 1, 1, 1, 1},
		{1, 1, 1, 1, 1, 1, 1, 0},
		{0, 1, 0, 1, 0, 0, 1, 1}, // day 12 on both sides
	} {
		var parts [2][]purchase
		for i, side := range split {
			parts[side] = append(parts[side], all[i])
		}
		s0, s1 := summaryOf(parts[0]), summaryOf(parts[1])
		a, b := s0, s1
		a.Merge(s1)
		b.Merge(s0)
		if a != want || b != want {
			t.Errorf("split %v: merged %+v / %+v, want %+v", split, a, b, want)
		}
	}
	// A shared day that one side no longer remembers (day 12 is neither the
	// first day of {10, 12, 41, 200} nor within 64 days of its last) is
	// counted twice, as documented.
	s0 := summaryOf([]purchase{{10, 1}, {12, 4}, {41, 16}, {200, 64}})
	s1 := summaryOf([]purchase{{12, 2}, {40, 8}, {70, 32}, {230, 128}})
	s0.Merge(s1)
	if s0.PurchaseDays != want.PurchaseDays+1 || s0.RepeatValue != want.RepeatValue {
		t.Errorf("merge with a forgotten shared day: %+v", s0)
	}

	var empty Summary
	empty.Merge(want)
	if empty != want {
		t.Errorf("merge into empty: %+v", empty)
	}
}

func TestAccumulatorMerge(t *testing.T) {
	end := day("2024-12-31")
	single := NewAccumulator(end)
	parts := []*Accumulator{NewAccumulator(end), NewAccumulator(end), NewAccumulator(end)}
	for i := range 300 {
		id := string(rune('a' + i%26))
		at := day("2024-01-01").AddDate(0, 0, (i*37)%360)
		mustAdd(t, single, id, at, float64(i))
		// Disjoint customers per part, except customer "z", whose purchases
		// are spread over all parts.
		part := (i % 26) % 3
		if id == "z" {
			part = i % 3
		}
		mustAdd(t, parts[part], id, at, float64(i))
	}
	merged := NewAccumulator(end)
	for _, p := range parts {
		if err := merged.Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := merged.Customers(Week)
	want, _ := single.Customers(Week)
	if len(got) != len(want) {
		t.Fatalf("%d customers merged, %d single", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("customer %s: merged %+v, single %+v", want[i].ID, got[i], want[i])
		}
	}
	if err := merged.Merge(NewAccumulator(end.AddDate(0, 0, 1))); err == nil {
		t.Error("merge with another calibration end succeeded")
	}
}
