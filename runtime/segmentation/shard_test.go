package segmentation

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"slices"
	"testing"
)

// shardOf assigns a customer to one of n replicas, as a partitioner would.
func shardOf(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// TestShardedFitIsBitIdentical splits CDNOW over three replicas, each of
// which summarises its own customers and ships a FitInput; the merged fit
// must equal the single-replica fit bit for bit, whatever the merge order,
// grouping or pre-canonicalisation of the parts.
func TestShardedFitIsBitIdentical(t *testing.T) {
	txs, err := readCDNOWRaw(openCDNOW(t, "CDNOW_sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	single := NewAccumulator(cdnowCalibrationEnd)
	replicas := []*Accumulator{NewAccumulator(cdnowCalibrationEnd), NewAccumulator(cdnowCalibrationEnd), NewAccumulator(cdnowCalibrationEnd)}
	for _, tx := range txs {
		mustAdd(t, single, tx.CustomerID, tx.Time, tx.Amount)
		mustAdd(t, replicas[shardOf(tx.CustomerID, 3)], tx.CustomerID, tx.Time, tx.Amount)
	}
	all, _ := single.Customers(Week)
	whole, err := Fit(NewFitInput(Week, all), Config{})
	if err != nil {
		t.Fatal(err)
	}

	parts := make([]*FitInput, 3)
	owned := make([][]Customer, 3)
	for i, r := range replicas {
		owned[i], _ = r.Customers(Week)
		if len(owned[i]) == 0 {
			t.Fatalf("replica %d owns no customers", i)
		}
		parts[i] = NewFitInput(Week, owned[i])
	}
	// Replica 1 canonicalises before sending; replica 2 sends its customers
	// in reverse order; both must not matter.
	parts[1].Canonicalize()
	slices.Reverse(parts[2].Triples)
	slices.Reverse(parts[2].Values)
	slices.Reverse(parts[2].Spends)

	merge := func(ps ...*FitInput) *FitInput {
		out := &FitInput{}
		for _, p := range ps {
			if err := out.Merge(p); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	wantJSON, _ := json.Marshal(whole)
	for name, in := range map[string]*FitInput{
		"0+1+2":   merge(parts[0], parts[1], parts[2]),
		"2+0+1":   merge(parts[2], parts[0], parts[1]),
		"(1+2)+0": merge(merge(parts[1], parts[2]), parts[0]),
		"json":    jsonRoundTrip(t, merge(parts[2], parts[1], parts[0])),
	} {
		m, err := Fit(in, Config{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, c := range []struct {
			param     string
			got, want float64
		}{
			{"r", m.BGNBD.R, whole.BGNBD.R}, {"alpha", m.BGNBD.Alpha, whole.BGNBD.Alpha},
			{"a", m.BGNBD.A, whole.BGNBD.A}, {"b", m.BGNBD.B, whole.BGNBD.B},
			{"logLikelihood", m.BGNBD.LogLikelihood, whole.BGNBD.LogLikelihood},
			{"p", m.GammaGamma.P, whole.GammaGamma.P}, {"q", m.GammaGamma.Q, whole.GammaGamma.Q},
			{"v", m.GammaGamma.V, whole.GammaGamma.V},
		} {
			if math.Float64bits(c.got) != math.Float64bits(c.want) {
				t.Errorf("%s: %s = %.17g, single replica %.17g", name, c.param, c.got, c.want)
			}
		}
		if gotJSON, _ := json.Marshal(m); string(gotJSON) != string(wantJSON) {
			t.Errorf("%s: model differs:\n%s\nsingle replica:\n%s", name, gotJSON, wantJSON)
		}
	}

	// Each replica scores its own customers with the shared model: the rows
	// equal the single-replica rows.
	want := map[string]Row{}
	for _, r := range whole.Score(all) {
		want[r.CustomerID] = r
	}
	for i := range owned {
		for _, r := range whole.Score(owned[i]) {
			if r != want[r.CustomerID] {
				t.Errorf("replica %d, customer %s: %+v, single replica %+v", i, r.CustomerID, r, want[r.CustomerID])
			}
		}
	}
}

// jsonRoundTrip ships a fit input as JSON, as replicas would.
func jsonRoundTrip(t *testing.T, in *FitInput) *FitInput {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &FitInput{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFitInputMergeRejectsOtherUnit(t *testing.T) {
	a, b := &FitInput{Unit: Week}, &FitInput{Unit: Day}
	if err := a.Merge(b); err == nil {
		t.Error("merged fit inputs in weeks and days")
	}
}

func TestFitInputValidate(t *testing.T) {
	for name, in := range map[string]*FitInput{
		"empty":       {Unit: Week},
		"no unit":     {Triples: []TripleCount{{X: 1, Tx: 1, T: 2, Count: 1}}, Spends: []SpendCount{{1, 1}}},
		"tx > T":      {Unit: Week, Triples: []TripleCount{{X: 1, Tx: 3, T: 2, Count: 1}}, Spends: []SpendCount{{1, 1}}},
		"x=0, tx>0":   {Unit: Week, Triples: []TripleCount{{X: 0, Tx: 1, T: 2, Count: 1}}, Spends: []SpendCount{{1, 1}}},
		"NaN T":       {Unit: Week, Triples: []TripleCount{{X: 0, T: math.NaN(), Count: 1}}, Spends: []SpendCount{{1, 1}}},
		"zero count":  {Unit: Week, Triples: []TripleCount{{X: 0, T: 1, Count: 0}}, Spends: []SpendCount{{1, 1}}},
		"spend count": {Unit: Week, Triples: []TripleCount{{X: 0, T: 1, Count: 2}}, Spends: []SpendCount{{1, 1}}},
		"bad value":   {Unit: Week, Triples: []TripleCount{{X: 1, Tx: 1, T: 2, Count: 1}}, Values: []ValueCount{{X: 1, Mean: -1, Count: 1}}, Spends: []SpendCount{{1, 1}}},
	} {
		if err := in.Validate(); err == nil {
			t.Errorf("%s: invalid fit input accepted", name)
		}
		if _, err := Fit(in, Config{}); err == nil {
			t.Errorf("%s: fit of an invalid input succeeded", name)
		}
	}
}
