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
