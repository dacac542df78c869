package segmentation

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCohortMatrix(t *testing.T) {
	b := NewCohortBuilder()
	at := func(s string) time.Time { return day(s).Add(12 * time.Hour) }
	// January cohort: a, b, c. February cohort: d. April cohort: e.
	b.Add("a", at("2024-01-05"))
	b.Add("a", at("2024-01-20")) // same month twice
	b.Add("a", at("2024-02-03"))
	b.Add("a", at("2024-04-30"))
	b.Add("b", at("2024-01-31"))
	b.Add("b", at("2024-03-01"))
	b.Add("c", at("2024-01-01"))
	b.Add("d", at("2024-02-10"))
	b.Add("d", at("2024-03-10"))
	b.Add("e", at("2024-04-01"))
	// Out of order: c's first purchase is really in December, so c moves to
	// a December cohort, and its January purchase is month 1 of it.
	b.Add("c", at("2023-12-24"))

	got := b.Matrix()
	want := CohortMatrix{Cohorts: []CohortRow{
		{Month: "2023-12", Size: 1, Active: []int{1, 1, 0, 0, 0}, Retention: []float64{1, 1, 0, 0, 0}},
		{Month: "2024-01", Size: 2, Active: []int{2, 1, 1, 1}, Retention: []float64{1, 0.5, 0.5, 0.5}},
		{Month: "2024-02", Size: 1, Active: []int{1, 1, 0}, Retention: []float64{1, 1, 0}},
		{Month: "2024-04", Size: 1, Active: []int{1}, Retention: []float64{1}},
	}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("matrix\n%s\nwant\n%s", gj, wj)
	}

	// Split over two builders and merged: the same matrix.
	p, q := NewCohortBuilder(), NewCohortBuilder()
	p.Add("a", at("2024-01-05"))
	p.Add("a", at("2024-04-30"))
	p.Add("b", at("2024-01-31"))
	p.Add("c", at("2024-01-01"))
	p.Add("e", at("2024-04-01"))
	q.Add("a", at("2024-02-03"))
	q.Add("b", at("2024-03-01"))
	q.Add("d", at("2024-02-10"))
	q.Add("d", at("2024-03-10"))
	q.Add("c", at("2023-12-24"))
	p.Merge(q)
	if mj, _ := json.Marshal(p.Matrix()); string(mj) != string(wj) {
		t.Errorf("merged matrix\n%s\nwant\n%s", mj, wj)
	}

	if m := NewCohortBuilder().Matrix(); m.Cohorts == nil || len(m.Cohorts) != 0 {
		t.Errorf("empty builder: %+v", m)
	}
}

// TestCohortCountsMatchTheBuilder: cohort counts tallied on two shards,
// merged and canonicalised through FitInputs, give the CohortBuilder's
// matrix over the same purchases.
func TestCohortCountsMatchTheBuilder(t *testing.T) {
	end := day("2024-12-31")
	b := NewCohortBuilder()
	months := map[string]map[int32]bool{}
	for i := range 3000 {
		id := string(rune('a'+i%26)) + string(rune('a'+(i/26)%26)) + string(rune('a'+(i*7)%11))
		ts := day("2024-01-01").Add(time.Duration((i*7919)%366) * 24 * time.Hour)
		b.Add(id, ts)
		if months[id] == nil {
			months[id] = map[int32]bool{}
		}
		months[id][MonthOf(ts)] = true
	}
	var parts [2]*CohortCounter
	for i := range parts {
		parts[i] = NewCohortCounter(end, 12)
	}
	shard := 0
	for _, ms := range months {
		acq := int32(1 << 30)
		for m := range ms {
			acq = min(acq, m)
		}
		parts[shard%2].Add(acq, func(k int) bool { return ms[acq+int32(k)] })
		shard++
	}
	all := &FitInput{Unit: Week}
	for _, p := range parts {
		in := &FitInput{Unit: Week, Cohorts: p.Counts()}
		in.Canonicalize()
		if err := all.Merge(in); err != nil {
			t.Fatal(err)
		}
	}
	all.Canonicalize()
	got, _ := json.Marshal(CohortMatrixOf(all.Cohorts, end, 12))
	want, _ := json.Marshal(b.Matrix())
	if string(got) != string(want) {
		t.Fatalf("matrix from counts\n%s\nwant\n%s", got, want)
	}
	// A window of three months keeps the last three acquisition months.
	if m := CohortMatrixOf(all.Cohorts, end, 3); len(m.Cohorts) != 3 || m.Cohorts[0].Month != "2024-10" {
		t.Fatalf("3-month window: %+v", m.Cohorts)
	}
}
