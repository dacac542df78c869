package segmentation

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// scoreByDefinition is 1 + floor(bins·c/n), c the number of values strictly
// worse than v.
func scoreByDefinition(v float64, all []float64, bins int, better func(a, b float64) bool) int {
	c := 0
	for _, w := range all {
		if better(v, w) {
			c++
		}
	}
	return 1 + bins*c/len(all)
}

func TestQuantileThresholdsTies(t *testing.T) {
	vals := []weighted{{5, 1}, {0, 6}, {2, 1}, {1, 2}}
	got := quantileThresholds(vals, 5)
	if fmt.Sprint(got) != "[0 0 0 1]" {
		t.Errorf("thresholds = %v, want [0 0 0 1]", got)
	}
	m := RFMModel{Bins: 5, Frequency: got}
	for x, want := range map[int]int{0: 1, 1: 4, 2: 5, 5: 5} {
		if _, f, _ := m.Scores(&Customer{Frequency: x}); f != want {
			t.Errorf("frequency %d: score %d, want %d", x, f, want)
		}
	}
}

// TestRFMScoresMatchDefinition compares the threshold scores with the
// definition on random data full of ties.
func TestRFMScoresMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, bins := range []int{1, 2, 3, 5, 7, 10} {
		for _, n := range []int{1, 2, 9, 100, 257} {
			cs := make([]Customer, n)
			for i := range cs {
				x := rng.IntN(4) * rng.IntN(3)
				T := float64(rng.IntN(20)) / 7
				tx := 0.0
				if x > 0 {
					tx = float64(rng.IntN(int(T*7)+1)) / 7
				}
				cs[i] = Customer{ID: fmt.Sprint(i), Frequency: x, Recency: tx, T: T, Spend: float64(rng.IntN(8)) * 2.5}
			}
			in := NewFitInput(Week, cs)
			in.Canonicalize()
			m := newRFMModel(in, bins)
			var gaps, freqs, spends []float64
			for _, c := range cs {
				gaps = append(gaps, recencyGap(c.Recency, c.T))
				freqs = append(freqs, float64(c.Frequency))
				spends = append(spends, c.Spend)
			}
			higher := func(a, b float64) bool { return a > b }
			lower := func(a, b float64) bool { return a < b }
			for i := range cs {
				r, f, mo := m.Scores(&cs[i])
				wr := scoreByDefinition(gaps[i], gaps, bins, lower)
				wf := scoreByDefinition(freqs[i], freqs, bins, higher)
				wm := scoreByDefinition(spends[i], spends, bins, higher)
				if r != wr || f != wf || mo != wm {
					t.Fatalf("bins %d, n %d, customer %+v: scores (%d, %d, %d), by definition (%d, %d, %d)", bins, n, cs[i], r, f, mo, wr, wf, wm)
				}
			}
		}
	}
}

func TestRecencyGapTies(t *testing.T) {
	// Equal day gaps in weeks can differ in the last bit; they must tie.
	seen := map[float64]bool{}
	for T := 10; T < 400; T++ {
		seen[recencyGap(float64(T-9)/7, float64(T)/7)] = true
	}
	if len(seen) != 1 {
		t.Errorf("a 9-day gap gave %d distinct recency values", len(seen))
	}
}

func TestDefaultSegmentTable(t *testing.T) {
	rules := DefaultSegmentRules(5)
	// Rows R = 5..1, columns F = 1..5: the table of the rfm.go doc comment.
	want := [5][5]string{
		{"New", "Potential Loyalist", "Loyal", "Champions", "Champions"},
		{"New", "Potential Loyalist", "Loyal", "Champions", "Champions"},
		{"Potential Loyalist", "Potential Loyalist", "Loyal", "Loyal", "Loyal"},
		{"Hibernating", "Hibernating", "At Risk", "At Risk", "Cannot Lose"},
		{"Lost", "Lost", "At Risk", "At Risk", "Cannot Lose"},
	}
	for i, row := range want {
		r := 5 - i
		for j, name := range row {
			f := j + 1
			for m := 1; m <= 5; m++ {
				if got := SegmentOf(rules, "Other", r, f, m); got != name {
					t.Errorf("R=%d F=%d M=%d: %q, want %q", r, f, m, got, name)
				}
			}
		}
	}
	// Stretched tables leave no cell to the fallback either.
	for bins := 1; bins <= 12; bins++ {
		rules := DefaultSegmentRules(bins)
		if err := validateRules(rules, bins); err != nil {
			t.Errorf("bins %d: %v", bins, err)
		}
		for r := 1; r <= bins; r++ {
			for f := 1; f <= bins; f++ {
				if got := SegmentOf(rules, "Other", r, f, 1); got == "Other" {
					t.Errorf("bins %d: R=%d F=%d matches no default rule", bins, r, f)
				}
			}
		}
	}
	// With 10 bins the top fifth (9-10) are the champions.
	if got := SegmentOf(DefaultSegmentRules(10), "Other", 9, 10, 1); got != "Champions" {
		t.Errorf("10 bins, R=9 F=10: %q", got)
	}
}

func TestSegmentRuleOverrides(t *testing.T) {
	rules := []SegmentRule{
		{Name: "Whales", M: ScoreRange{Min: 5}},
		{Name: "Fresh", R: ScoreRange{Min: 4}, F: ScoreRange{Max: 2}},
		{Name: "Fresh too", R: ScoreRange{Min: 4}}, // shadowed for F <= 2
	}
	for _, c := range []struct {
		r, f, m int
		want    string
	}{
		{1, 1, 5, "Whales"}, {5, 1, 5, "Whales"}, {5, 1, 4, "Fresh"}, {4, 3, 1, "Fresh too"}, {3, 3, 3, "Rest"},
	} {
		if got := SegmentOf(rules, "Rest", c.r, c.f, c.m); got != c.want {
			t.Errorf("(%d, %d, %d): %q, want %q", c.r, c.f, c.m, got, c.want)
		}
	}

	// Through the model: overrides replace the defaults entirely.
	cfg := Config{RFM: RFMConfig{Rules: rules, Fallback: "Rest"}}
	res, err := Analyze(cdnowCustomers(t), Week, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name := range res.Segments {
		if name != "Whales" && name != "Fresh" && name != "Fresh too" && name != "Rest" {
			t.Errorf("segment %q not from the override rules", name)
		}
	}
	for _, r := range res.Customers {
		if want := SegmentOf(rules, "Rest", r.RScore, r.FScore, r.MScore); r.Segment != want {
			t.Fatalf("customer %s: %q, want %q", r.CustomerID, r.Segment, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	neg := -2.0
	for name, cfg := range map[string]Config{
		"bins":     {RFM: RFMConfig{Bins: 101}},
		"rule max": {RFM: RFMConfig{Rules: []SegmentRule{{Name: "x", R: ScoreRange{Max: 6}}}}},
		"rule min": {RFM: RFMConfig{Rules: []SegmentRule{{Name: "x", F: ScoreRange{Min: 3, Max: 2}}}}},
		"no name":  {RFM: RFMConfig{Rules: []SegmentRule{{R: ScoreRange{Min: 1}}}}},
		"horizon":  {Horizon: -1},
		"discount": {CLV: CLVConfig{DiscountRate: &neg}},
		"periods":  {CLV: CLVConfig{Periods: -1}},
	} {
		if _, err := cfg.withDefaults(Week); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
	cfg, err := Config{}.withDefaults(Day)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Horizon != 365 || cfg.CLV.Periods != 12 || cfg.CLV.PeriodLength != 30 || *cfg.CLV.DiscountRate != 0.01 || cfg.RFM.Bins != 5 || len(cfg.RFM.Rules) != 8 || cfg.RFM.Fallback != "Other" {
		t.Errorf("defaults in days: %+v", cfg)
	}
}
