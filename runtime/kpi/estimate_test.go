package kpi

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/axiomhq/hyperloglog"
)

// TestDenseEstimateMatchesLibrary: denseEstimate must give Estimate's
// number exactly for dense sketches from nearly empty (the beta correction
// dominates) to saturated (no zero registers), and decline, rather than
// guess, for a register above maxExactRegister.
func TestDenseEstimateMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	checked := 0
	for _, n := range []int{0, 1, 10, 300, 769, 2_000, 5_000, 12_000, 20_000, 40_000, 100_000, 300_000, 1_000_000} {
		for range 4 {
			sk, err := hyperloglog.NewSketch(hllPrecision, false)
			if err != nil {
				t.Fatal(err)
			}
			for range n {
				sk.InsertHash(rng.Uint64())
			}
			enc, err := sk.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, ok := denseEstimate(enc)
			if !ok {
				t.Fatalf("%d hashes: declined a dense sketch", n)
			}
			if want := sk.Estimate(); got != want {
				t.Fatalf("%d hashes: estimate %d, library %d", n, got, want)
			}
			checked++
		}
	}

	// A hash whose bits below the register index are all zero sets its
	// register to the maximum, 51.
	sk, _ := hyperloglog.NewSketch(hllPrecision, false)
	for range 5_000 {
		sk.InsertHash(rng.Uint64())
	}
	sk.InsertHash(7 << (64 - hllPrecision))
	enc, _ := sk.MarshalBinary()
	if _, ok := denseEstimate(enc); ok {
		t.Fatal("accepted a sketch with a register above the exact limit")
	}
	// Sparse encodings and other precisions are not read.
	sparse, _ := hyperloglog.New14().MarshalBinary()
	p16, _ := hyperloglog.NewSketch(16, false)
	enc16, _ := p16.MarshalBinary()
	for _, enc := range [][]byte{sparse, enc16, nil, enc[:len(enc)-1]} {
		if _, ok := denseEstimate(enc); ok {
			t.Fatalf("accepted an encoding of %d bytes that is not dense precision 14", len(enc))
		}
	}
}

// TestSummaryEqualsEstimateAndSketch: the result's estimate and sketch come
// from summary; they must be estimate() and sketch() on both sides of the
// exact limit, with and without the sketch kept, and also when the dense
// registers force the library's own estimate.
func TestSummaryEqualsEstimateAndSketch(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	var scratch []byte
	for _, n := range []int{0, 5, 700, 768, 769, 3_000, 30_000, -1} {
		var c customerSet
		for range max(n, 2_000) {
			c.insert(rng.Uint64())
		}
		if n < 0 {
			c.insert(3 << (64 - hllPrecision)) // register 51: the fallback
		}
		for _, keep := range []bool{true, false} {
			est, sk := c.summary(keep, &scratch)
			if est != c.estimate() {
				t.Fatalf("%d customers: summary estimates %d, estimate() %d", n, est, c.estimate())
			}
			var want []byte
			if keep {
				want = c.sketch()
			}
			if !reflect.DeepEqual(sk, want) {
				t.Fatalf("%d customers, sketch kept %v: summary's sketch differs from sketch()", n, keep)
			}
		}
	}
}

// BenchmarkDenseEstimate compares reading a dense set's estimate through
// summary (one encoding, one counting pass) with the library's Estimate.
func BenchmarkDenseEstimate(b *testing.B) {
	rng := rand.New(rand.NewPCG(35, 36))
	var c customerSet
	for range 20_000 {
		c.insert(rng.Uint64())
	}
	b.Run("summary", func(b *testing.B) {
		var scratch []byte
		for range b.N {
			c.summary(false, &scratch)
		}
	})
	b.Run("library", func(b *testing.B) {
		for range b.N {
			c.dense.Estimate()
		}
	})
}
