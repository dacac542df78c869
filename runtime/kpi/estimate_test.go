package kpi

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/axiomhq/hyperloglog"
)

// TestDenseEstimateMatchesLibrary: denseEstimate must give the library's
// Estimate exactly for dense registers from nearly empty (the beta
// correction dominates) to saturated (no zero registers), and through the
// library for a register above maxExactRegister.
func TestDenseEstimateMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	check := func(name string, sk *hyperloglog.Sketch) {
		t.Helper()
		enc, err := sk.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		regs, err := denseRegisters(enc)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := denseEstimate(regs), sk.Estimate(); got != want {
			t.Fatalf("%s: estimate %d, library %d", name, got, want)
		}
	}
	for _, n := range []int{0, 1, 10, 300, 769, 2_000, 5_000, 12_000, 20_000, 40_000, 100_000, 300_000, 1_000_000} {
		for i := range 4 {
			sk, _ := hyperloglog.NewSketch(hllPrecision, false)
			for range n {
				sk.InsertHash(rng.Uint64())
			}
			check(fmt.Sprintf("%d hashes, sketch %d", n, i), sk)
		}
	}
	// A hash whose bits below the register index are all zero sets its
	// register to the maximum, 51: the sum is no longer exact.
	sk, _ := hyperloglog.NewSketch(hllPrecision, false)
	for range 5_000 {
		sk.InsertHash(rng.Uint64())
	}
	sk.InsertHash(7 << (64 - hllPrecision))
	check("register 51", sk)
}

// TestDenseRegistersMatchLibrary: the set's own dense registers must be
// the library's: the same sketch bytes and estimate as a library sketch fed
// the same hashes (exact sets become dense past exactLimit), after unions,
// and through a snapshot round trip, which also reads sketches the library
// encoded in sparse form.
func TestDenseRegistersMatchLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	same := func(name string, c *customerSet, sk *hyperloglog.Sketch) {
		t.Helper()
		want, err := sk.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.sketch(), want) {
			t.Fatalf("%s: sketch differs from the library's", name)
		}
		if got, want := c.estimate(), sk.Estimate(); got != want {
			t.Fatalf("%s: estimate %d, library %d", name, got, want)
		}
		snap, err := c.appendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var back customerSet
		r := reader{buf: snap}
		if err := r.customerSet(&back); err != nil || len(r.buf) != 0 {
			t.Fatalf("%s: snapshot does not read back: %v", name, err)
		}
		if !bytes.Equal(back.sketch(), want) {
			t.Fatalf("%s: snapshot round trip changes the sketch", name)
		}
	}
	var united customerSet
	unitedLib, _ := hyperloglog.NewSketch(hllPrecision, false)
	for _, n := range []int{800, 1_000, 5_000, 50_000} {
		var c customerSet
		sk, _ := hyperloglog.NewSketch(hllPrecision, false)
		for range n {
			h := rng.Uint64()
			if rng.IntN(500) == 0 {
				h &^= 1<<50 - 1 // large rho values
			}
			c.insert(h)
			sk.InsertHash(h)
			unitedLib.InsertHash(h)
		}
		if c.regs == nil {
			t.Fatalf("%d hashes: set still exact", n)
		}
		same(fmt.Sprintf("%d hashes", n), &c, sk)
		united.union(&c)
		same(fmt.Sprintf("union up to %d", n), &united, unitedLib)
	}

	// A snapshot may hold a sketch the library encoded sparse.
	sparse := hyperloglog.New14()
	for range 100 {
		sparse.InsertHash(rng.Uint64())
	}
	enc, _ := sparse.MarshalBinary()
	snap := append([]byte{1}, appendString(nil, string(enc))...)
	var c customerSet
	r := reader{buf: snap}
	if err := r.customerSet(&c); err != nil {
		t.Fatal(err)
	}
	dense, _ := hyperloglog.NewSketch(hllPrecision, false)
	_ = dense.Merge(sparse)
	same("sparse in a snapshot", &c, dense)

	// Other precisions are refused.
	p12, _ := hyperloglog.NewSketch(12, false)
	p12.InsertHash(1)
	enc12, _ := p12.MarshalBinary()
	r = reader{buf: append([]byte{1}, appendString(nil, string(enc12))...)}
	if err := r.customerSet(new(customerSet)); err == nil {
		t.Fatal("accepted a sketch of precision 12")
	}
}

// BenchmarkDenseEstimate compares the estimate of dense registers with the
// library's Estimate of the same sketch.
func BenchmarkDenseEstimate(b *testing.B) {
	rng := rand.New(rand.NewPCG(35, 36))
	sk, _ := hyperloglog.NewSketch(hllPrecision, false)
	var c customerSet
	for range 20_000 {
		h := rng.Uint64()
		c.insert(h)
		sk.InsertHash(h)
	}
	b.Run("registers", func(b *testing.B) {
		for range b.N {
			c.estimate()
		}
	})
	b.Run("library", func(b *testing.B) {
		for range b.N {
			sk.Estimate()
		}
	})
}

// TestMaxRegisters: the eight-at-a-time maximum must equal a byte-by-byte
// one for every pair of register values 0..maxRho, in every byte
// position, and for lengths that are not multiples of eight.
func TestMaxRegisters(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, n := range []int{0, 7, 8, 9, 64, 1000, hllRegisters} {
		for range 20 {
			a, b := make([]uint8, n), make([]uint8, n)
			for i := range a {
				a[i], b[i] = uint8(rng.IntN(maxRho+1)), uint8(rng.IntN(maxRho+1))
			}
			want := make([]uint8, n)
			for i := range want {
				want[i] = max(a[i], b[i])
			}
			maxRegisters(a, b)
			if !bytes.Equal(a, want) {
				t.Fatalf("%d registers: max differs from the byte-by-byte one", n)
			}
		}
	}
	// Every pair of values, in each of the eight byte positions.
	for x := range maxRho + 1 {
		for y := range maxRho + 1 {
			for pos := range 8 {
				a, b := make([]uint8, 8), make([]uint8, 8)
				a[pos], b[pos] = uint8(x), uint8(y)
				maxRegisters(a, b)
				if a[pos] != uint8(max(x, y)) {
					t.Fatalf("max(%d, %d) at byte %d = %d", x, y, pos, a[pos])
				}
			}
		}
	}
}
