package segmentation

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// TripleCount is Count customers sharing one BG/NBD summary (x, t_x, T).
type TripleCount struct {
	// X is the number of repeat purchase days.
	X int `json:"x"`
	// Tx is the recency t_x.
	Tx float64 `json:"tx"`
	// T is the customer's age at the calibration end.
	T float64 `json:"T"`
	// Count is how many customers have this triple.
	Count int `json:"count"`
}

// ValueCount is Count repeat customers sharing (x, mean repeat value): the
// gamma-gamma statistic.
type ValueCount struct {
	// X is the number of repeat purchase days (> 0).
	X int `json:"x"`
	// Mean is the mean value of the repeat purchase days (> 0).
	Mean float64 `json:"mean"`
	// Count is how many customers have this pair.
	Count int `json:"count"`
}

// SpendCount is Count customers with the same total spend: the statistic of
// the RFM monetary score.
type SpendCount struct {
	// Spend is the total value of all purchase days.
	Spend float64 `json:"spend"`
	// Count is how many customers spent it.
	Count int `json:"count"`
}

// FitInput is everything the fit needs, and nothing per customer: the
// multisets of BG/NBD triples, gamma-gamma (x, mean value) pairs of repeat
// customers, and total spends. Replicas each build one from the customers
// they own and the fitting replica merges them (see the package doc).
//
// Merging appends; Canonicalize sorts and aggregates equal entries, so the
// canonical form, and hence the fit, does not depend on how customers were
// split into parts or in which order the parts were merged.
type FitInput struct {
	// Unit is the unit of Tx and T.
	Unit Unit `json:"unit"`
	// Triples is the multiset of (x, t_x, T), one entry per customer until
	// canonicalised.
	Triples []TripleCount `json:"triples"`
	// Values is the multiset of (x, mean repeat value) for customers with
	// x > 0 and a positive mean value.
	Values []ValueCount `json:"values"`
	// Spends is the multiset of total spends.
	Spends []SpendCount `json:"spends"`
	// Cohorts is the multiset of cohort activity (see CohortCounter); the
	// models do not use it. Empty when cohorts are not computed.
	Cohorts []CohortCount `json:"cohorts,omitempty"`
}

// NewFitInput returns the fit input of customers whose times are in unit u.
func NewFitInput(u Unit, customers []Customer) *FitInput {
	in := &FitInput{Unit: u}
	for i := range customers {
		in.Add(&customers[i])
	}
	return in
}

// Add adds one customer.
func (in *FitInput) Add(c *Customer) {
	in.Triples = append(in.Triples, TripleCount{X: c.Frequency, Tx: c.Recency, T: c.T, Count: 1})
	if c.Frequency > 0 && c.Monetary > 0 {
		in.Values = append(in.Values, ValueCount{X: c.Frequency, Mean: c.Monetary, Count: 1})
	}
	in.Spends = append(in.Spends, SpendCount{Spend: c.Spend, Count: 1})
}

// Merge appends the entries of o. Units must match; an empty Unit takes o's.
func (in *FitInput) Merge(o *FitInput) error {
	if in.Unit == "" {
		in.Unit = o.Unit
	}
	if o.Unit != "" && o.Unit != in.Unit {
		return fmt.Errorf("failed to merge fit inputs: units differ (%q and %q)", in.Unit, o.Unit)
	}
	in.Triples = append(in.Triples, o.Triples...)
	in.Values = append(in.Values, o.Values...)
	in.Spends = append(in.Spends, o.Spends...)
	in.Cohorts = append(in.Cohorts, o.Cohorts...)
	return nil
}

// Customers returns the number of customers.
func (in *FitInput) Customers() int {
	n := 0
	for _, t := range in.Triples {
		n += t.Count
	}
	return n
}

// Canonicalize sorts each multiset and merges equal entries, in place. The
// result depends only on the multisets, not on the order of entries.
func (in *FitInput) Canonicalize() {
	slices.SortFunc(in.Triples, func(p, q TripleCount) int {
		return cmp.Or(cmp.Compare(p.X, q.X), cmp.Compare(p.Tx, q.Tx), cmp.Compare(p.T, q.T))
	})
	in.Triples = compact(in.Triples, func(p, q *TripleCount) bool {
		return p.X == q.X && p.Tx == q.Tx && p.T == q.T
	}, func(p, q *TripleCount) { p.Count += q.Count })

	slices.SortFunc(in.Values, func(p, q ValueCount) int {
		return cmp.Or(cmp.Compare(p.X, q.X), cmp.Compare(p.Mean, q.Mean))
	})
	in.Values = compact(in.Values, func(p, q *ValueCount) bool {
		return p.X == q.X && p.Mean == q.Mean
	}, func(p, q *ValueCount) { p.Count += q.Count })

	slices.SortFunc(in.Spends, func(p, q SpendCount) int { return cmp.Compare(p.Spend, q.Spend) })
	in.Spends = compact(in.Spends, func(p, q *SpendCount) bool { return p.Spend == q.Spend },
		func(p, q *SpendCount) { p.Count += q.Count })

	slices.SortFunc(in.Cohorts, func(p, q CohortCount) int {
		return cmp.Or(cmp.Compare(p.Month, q.Month), cmp.Compare(p.Offset, q.Offset))
	})
	in.Cohorts = compact(in.Cohorts, func(p, q *CohortCount) bool { return p.Month == q.Month && p.Offset == q.Offset },
		func(p, q *CohortCount) { p.Count += q.Count })
}

// compact merges runs of equal neighbours of a sorted slice.
func compact[T any](s []T, equal func(p, q *T) bool, add func(p, q *T)) []T {
	out := s[:0]
	for i := range s {
		if len(out) > 0 && equal(&out[len(out)-1], &s[i]) {
			add(&out[len(out)-1], &s[i])
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// Clone returns a deep copy.
func (in *FitInput) Clone() *FitInput {
	return &FitInput{
		Unit:    in.Unit,
		Triples: slices.Clone(in.Triples),
		Values:  slices.Clone(in.Values),
		Spends:  slices.Clone(in.Spends),
		Cohorts: slices.Clone(in.Cohorts),
	}
}

// Validate checks that every entry is a possible customer summary.
func (in *FitInput) Validate() error {
	if err := in.Unit.Validate(); err != nil {
		return err
	}
	nt, ns := 0, 0
	for _, t := range in.Triples {
		switch {
		case t.Count <= 0:
			return fmt.Errorf("triple %+v: count must be positive", t)
		case t.X < 0:
			return fmt.Errorf("triple %+v: x must be >= 0", t)
		case !finite(t.Tx) || !finite(t.T) || t.Tx < 0 || t.Tx > t.T:
			return fmt.Errorf("triple %+v: want 0 <= tx <= T", t)
		case t.X == 0 && t.Tx != 0:
			return fmt.Errorf("triple %+v: tx must be 0 when x is 0", t)
		}
		nt += t.Count
	}
	for _, v := range in.Values {
		if v.Count <= 0 || v.X <= 0 || !(v.Mean > 0) || !finite(v.Mean) {
			return fmt.Errorf("value %+v: want count > 0, x > 0 and a finite mean > 0", v)
		}
	}
	for _, s := range in.Spends {
		if s.Count <= 0 || !(s.Spend >= 0) || !finite(s.Spend) {
			return fmt.Errorf("spend %+v: want count > 0 and a finite spend >= 0", s)
		}
		ns += s.Count
	}
	for _, c := range in.Cohorts {
		if c.Count <= 0 || c.Offset < 0 {
			return fmt.Errorf("cohort %+v: want count > 0 and offset >= 0", c)
		}
	}
	if nt == 0 {
		return errors.New("no customers")
	}
	if ns != nt {
		return fmt.Errorf("%d spends for %d customers: parts were built inconsistently", ns, nt)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
