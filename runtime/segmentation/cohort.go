package segmentation

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// monthOf returns the UTC calendar month of t as months since year 0.
func monthOf(t time.Time) int32 {
	t = t.UTC()
	return int32(t.Year())*12 + int32(t.Month()) - 1
}

func monthString(m int32) string {
	y, mo := m/12, m%12
	if mo < 0 {
		y, mo = y-1, mo+12
	}
	return fmt.Sprintf("%04d-%02d", y, mo+1)
}

// CohortBuilder collects, per customer, the UTC calendar months with a
// purchase, for retention by acquisition month. Observations may come in any
// order. Builders over different customers, or over different purchases of
// the same customers, merge exactly.
//
// A CohortBuilder is not safe for concurrent use.
type CohortBuilder struct {
	months map[string][]int32 // sorted, distinct
}

// NewCohortBuilder returns an empty CohortBuilder.
func NewCohortBuilder() *CohortBuilder {
	return &CohortBuilder{months: make(map[string][]int32)}
}

// Add records a purchase by customerID at t.
func (b *CohortBuilder) Add(customerID string, t time.Time) {
	m := monthOf(t)
	ms, ok := b.months[customerID]
	if !ok {
		b.months[strings.Clone(customerID)] = []int32{m}
		return
	}
	// Purchases mostly come in time order: check the end first.
	if n := len(ms); ms[n-1] == m {
		return
	} else if ms[n-1] < m {
		b.months[customerID] = append(ms, m)
		return
	}
	i, found := slices.BinarySearch(ms, m)
	if !found {
		b.months[customerID] = slices.Insert(ms, i, m)
	}
}

// Merge folds o into b.
func (b *CohortBuilder) Merge(o *CohortBuilder) {
	for id, oms := range o.months {
		ms, ok := b.months[id]
		if !ok {
			b.months[id] = slices.Clone(oms)
			continue
		}
		merged := append(slices.Clone(ms), oms...)
		slices.Sort(merged)
		b.months[id] = slices.Compact(merged)
	}
}

// CohortMatrix is a retention matrix: one row per acquisition month.
type CohortMatrix struct {
	// Cohorts holds the rows, oldest acquisition month first; months without
	// new customers have no row.
	Cohorts []CohortRow `json:"cohorts"`
}

// CohortRow is the retention of the customers acquired in one month.
type CohortRow struct {
	// Month is the acquisition month, YYYY-MM (UTC): the month of each
	// customer's first purchase.
	Month string `json:"month"`
	// Size is the number of customers acquired that month.
	Size int `json:"size"`
	// Active[k] is the number of these customers who purchased in month k
	// after acquisition; Active[0] equals Size. The row runs up to the
	// latest month with any purchase in the data.
	Active []int `json:"active"`
	// Retention[k] is Active[k]/Size.
	Retention []float64 `json:"retention"`
}

// Matrix returns the retention matrix of the customers seen so far.
func (b *CohortBuilder) Matrix() CohortMatrix {
	if len(b.months) == 0 {
		return CohortMatrix{Cohorts: []CohortRow{}}
	}
	latest := int32(-1 << 31)
	for _, ms := range b.months {
		latest = max(latest, ms[len(ms)-1])
	}
	rows := make(map[int32]*CohortRow)
	for _, ms := range b.months {
		first := ms[0]
		row, ok := rows[first]
		if !ok {
			row = &CohortRow{Month: monthString(first), Active: make([]int, latest-first+1)}
			rows[first] = row
		}
		row.Size++
		for _, m := range ms {
			row.Active[m-first]++
		}
	}
	firsts := make([]int32, 0, len(rows))
	for m := range rows {
		firsts = append(firsts, m)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	out := CohortMatrix{Cohorts: make([]CohortRow, 0, len(firsts))}
	for _, m := range firsts {
		row := rows[m]
		row.Retention = make([]float64, len(row.Active))
		for k, a := range row.Active {
			row.Retention[k] = float64(a) / float64(row.Size)
		}
		out.Cohorts = append(out.Cohorts, *row)
	}
	return out
}

// MonthOf returns the UTC calendar month of t as months since year 0, the
// month numbering of CohortCount.
func MonthOf(t time.Time) int32 { return monthOf(t) }

// CohortCount is Count customers acquired in Month (months since year 0)
// who purchased in the Offset-th month after it (Offset 0: the acquisition
// month, so those entries count the cohort's size). Like the other parts
// of a FitInput it is a multiset entry without customer IDs, so replicas
// exchange and add them up exactly.
type CohortCount struct {
	Month  int32 `json:"month"`
	Offset int   `json:"offset"`
	Count  int   `json:"count"`
}

// CohortCounter tallies the cohort activity of customers acquired in the
// Months months ending with a given month, the window a runtime matrix
// shows.
type CohortCounter struct {
	first, last int32
	counts      [][]int // [acquisition - first][offset]
}

// NewCohortCounter returns a counter for acquisition months from
// months-1 months before the month of end up to that month (months >= 1).
func NewCohortCounter(end time.Time, months int) *CohortCounter {
	last := monthOf(end)
	first := last - int32(max(months, 1)) + 1
	cc := &CohortCounter{first: first, last: last, counts: make([][]int, last-first+1)}
	for i := range cc.counts {
		cc.counts[i] = make([]int, int(last-first)-i+1)
	}
	return cc
}

// Add counts one customer acquired in month acq who purchased in month
// acq+k for each k up to the window's last month with active(k). Customers
// acquired outside the window are not counted.
func (cc *CohortCounter) Add(acq int32, active func(k int) bool) {
	if acq < cc.first || acq > cc.last {
		return
	}
	row := cc.counts[acq-cc.first]
	for k := range row {
		if k == 0 || active(k) {
			row[k]++
		}
	}
}

// Counts returns the non-zero tallies, by month and offset.
func (cc *CohortCounter) Counts() []CohortCount {
	var out []CohortCount
	for i, row := range cc.counts {
		for k, n := range row {
			if n > 0 {
				out = append(out, CohortCount{Month: cc.first + int32(i), Offset: k, Count: n})
			}
		}
	}
	return out
}

// CohortMatrixOf returns the retention matrix of merged cohort counts over
// the window of NewCohortCounter(end, months): one row per acquisition
// month with customers, each running up to the month of end. Counts
// outside the window are ignored.
func CohortMatrixOf(counts []CohortCount, end time.Time, months int) CohortMatrix {
	cc := NewCohortCounter(end, months)
	for _, c := range counts {
		if c.Month < cc.first || c.Month > cc.last || c.Offset < 0 || c.Offset > int(cc.last-c.Month) {
			continue
		}
		cc.counts[c.Month-cc.first][c.Offset] += c.Count
	}
	out := CohortMatrix{Cohorts: []CohortRow{}}
	for i, row := range cc.counts {
		if row[0] == 0 {
			continue
		}
		r := CohortRow{Month: monthString(cc.first + int32(i)), Size: row[0], Active: slices.Clone(row), Retention: make([]float64, len(row))}
		for k, a := range row {
			r.Retention[k] = float64(a) / float64(r.Size)
		}
		out.Cohorts = append(out.Cohorts, r)
	}
	return out
}
