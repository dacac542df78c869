package segmentation

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// DefaultBins is the default number of RFM score bins.
const DefaultBins = 5

// DefaultFallbackSegment names customers that no segment rule matches.
const DefaultFallbackSegment = "Other"

// RFMModel holds the score thresholds of recency, frequency and monetary
// value, computed from all customers of a fit.
//
// Scores run from 1 to Bins and are quantile scores by minimum rank: a
// customer's score is 1 + floor(Bins · c / n), where n is the number of
// customers and c the number of customers with a strictly worse value. Equal
// values therefore always get equal scores, and a value shared by many
// customers (frequency 0, say) is not split across bins. This is stored as
// Bins-1 thresholds per dimension: with v₁ <= ... <= vₙ the values ordered
// from worst to best, threshold k is v at position ceil(k·n/Bins), and the
// score is 1 plus the number of thresholds a value is strictly better than.
type RFMModel struct {
	// Bins is the number of score values.
	Bins int `json:"bins"`
	// Recency holds thresholds on the time since the last purchase, T - t_x,
	// in the fit's unit; shorter is better. Times are compared rounded to
	// 1e-6 units so that equal day gaps tie exactly.
	Recency []float64 `json:"recency"`
	// Frequency holds thresholds on the number of repeat purchase days.
	Frequency []float64 `json:"frequency"`
	// Monetary holds thresholds on total spend.
	Monetary []float64 `json:"monetary"`
}

// recencyGap returns T - t_x rounded to 1e-6 units: unit conversion can make
// equal day gaps differ in the last bit.
func recencyGap(tx, T float64) float64 {
	return math.Round((T-tx)*1e6) / 1e6
}

// weighted is a value with a multiplicity.
type weighted struct {
	v float64
	n int
}

// quantileThresholds returns the bins-1 thresholds of a multiset of values,
// ordered from worst to best; see RFMModel.
func quantileThresholds(vals []weighted, bins int) []float64 {
	slices.SortFunc(vals, func(p, q weighted) int { return cmp.Compare(p.v, q.v) })
	n := 0
	for _, w := range vals {
		n += w.n
	}
	out := make([]float64, 0, bins-1)
	if n == 0 {
		return out
	}
	i, seen := 0, vals[0].n // seen: values up to and including vals[i]
	for k := 1; k < bins; k++ {
		pos := (k*n + bins - 1) / bins // ceil(k·n/bins), 1-based
		for seen < pos {
			i++
			seen += vals[i].n
		}
		out = append(out, vals[i].v)
	}
	return out
}

// newRFMModel computes thresholds from a canonical fit input.
func newRFMModel(in *FitInput, bins int) RFMModel {
	freq := make([]weighted, 0, 64)
	gaps := make([]weighted, 0, len(in.Triples))
	for _, t := range in.Triples {
		if len(freq) > 0 && freq[len(freq)-1].v == float64(t.X) {
			freq[len(freq)-1].n += t.Count
		} else {
			freq = append(freq, weighted{float64(t.X), t.Count})
		}
		// Negated so that better (more recent) sorts higher.
		gaps = append(gaps, weighted{-recencyGap(t.Tx, t.T), t.Count})
	}
	spends := make([]weighted, len(in.Spends))
	for i, s := range in.Spends {
		spends[i] = weighted{s.Spend, s.Count}
	}
	m := RFMModel{
		Bins:      bins,
		Recency:   quantileThresholds(gaps, bins),
		Frequency: quantileThresholds(freq, bins),
		Monetary:  quantileThresholds(spends, bins),
	}
	for i := range m.Recency {
		m.Recency[i] = -m.Recency[i]
	}
	return m
}

// Scores returns the recency, frequency and monetary scores of a customer.
func (m *RFMModel) Scores(c *Customer) (r, f, mon int) {
	r, f, mon = 1, 1, 1
	gap := recencyGap(c.Recency, c.T)
	for _, th := range m.Recency {
		if gap < th {
			r++
		}
	}
	x := float64(c.Frequency)
	for _, th := range m.Frequency {
		if x > th {
			f++
		}
	}
	for _, th := range m.Monetary {
		if c.Spend > th {
			mon++
		}
	}
	return r, f, mon
}

// ScoreRange is an inclusive range of scores; a zero bound is open.
type ScoreRange struct {
	// Min is the lowest matching score; 0 means no lower bound.
	Min int `json:"min,omitempty"`
	// Max is the highest matching score; 0 means no upper bound.
	Max int `json:"max,omitempty"`
}

func (s ScoreRange) contains(v int) bool {
	return (s.Min == 0 || v >= s.Min) && (s.Max == 0 || v <= s.Max)
}

// SegmentRule names the customers whose scores lie in all three ranges.
type SegmentRule struct {
	// Name is the segment name.
	Name string `json:"name"`
	// R bounds the recency score.
	R ScoreRange `json:"r,omitzero"`
	// F bounds the frequency score.
	F ScoreRange `json:"f,omitzero"`
	// M bounds the monetary score.
	M ScoreRange `json:"m,omitzero"`
}

// defaultRules5 is the default segment table on a 1..5 scale. The first
// matching rule wins; together they cover every (R, F) cell, and M is not
// used:
//
//	Segment             R     F
//	Champions           4-5   4-5
//	Loyal               3-5   3-5   (the rest of it)
//	New                 4-5   1
//	Potential Loyalist  3-5   1-2   (the rest of it)
//	Cannot Lose         1-2   5
//	At Risk             1-2   3-4
//	Hibernating         2     1-2
//	Lost                1     1-2
var defaultRules5 = []SegmentRule{
	{Name: "Champions", R: ScoreRange{4, 5}, F: ScoreRange{4, 5}},
	{Name: "Loyal", R: ScoreRange{3, 5}, F: ScoreRange{3, 5}},
	{Name: "New", R: ScoreRange{4, 5}, F: ScoreRange{1, 1}},
	{Name: "Potential Loyalist", R: ScoreRange{3, 5}, F: ScoreRange{1, 2}},
	{Name: "Cannot Lose", R: ScoreRange{1, 2}, F: ScoreRange{5, 5}},
	{Name: "At Risk", R: ScoreRange{1, 2}, F: ScoreRange{3, 4}},
	{Name: "Hibernating", R: ScoreRange{2, 2}, F: ScoreRange{1, 2}},
	{Name: "Lost", R: ScoreRange{1, 1}, F: ScoreRange{1, 2}},
}

// DefaultSegmentRules returns the default segment rules for scores
// 1..bins: the table of defaultRules5 for 5 bins, otherwise the same table
// with each 1..5 range [lo, hi] stretched to [floor((lo-1)·bins/5)+1,
// ceil(hi·bins/5)]. With fewer than 5 bins stretched ranges overlap, and the
// first match still wins.
func DefaultSegmentRules(bins int) []SegmentRule {
	scale := func(s ScoreRange) ScoreRange {
		if s.Min > 0 {
			s.Min = (s.Min-1)*bins/5 + 1
		}
		if s.Max > 0 {
			s.Max = (s.Max*bins + 4) / 5
		}
		return s
	}
	out := make([]SegmentRule, len(defaultRules5))
	for i, r := range defaultRules5 {
		out[i] = SegmentRule{Name: r.Name, R: scale(r.R), F: scale(r.F), M: scale(r.M)}
	}
	return out
}

// SegmentOf returns the name of the first rule matching the scores, or
// fallback.
func SegmentOf(rules []SegmentRule, fallback string, r, f, m int) string {
	for i := range rules {
		if rules[i].R.contains(r) && rules[i].F.contains(f) && rules[i].M.contains(m) {
			return rules[i].Name
		}
	}
	return fallback
}

func validateRules(rules []SegmentRule, bins int) error {
	for i, r := range rules {
		if r.Name == "" {
			return fmt.Errorf("segment rule %d: empty name", i)
		}
		for _, s := range []struct {
			dim string
			r   ScoreRange
		}{{"r", r.R}, {"f", r.F}, {"m", r.M}} {
			if s.r.Min < 0 || s.r.Max < 0 || s.r.Min > bins || s.r.Max > bins || (s.r.Max != 0 && s.r.Min > s.r.Max) {
				return fmt.Errorf("segment rule %q: %s range %d..%d is not within 1..%d", r.Name, s.dim, s.r.Min, s.r.Max, bins)
			}
		}
	}
	return nil
}
