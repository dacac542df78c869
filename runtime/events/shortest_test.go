package events

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendShortestMatchesStrconv holds appendShortest to strconv's
// shortest formatting (what encoding/json writes) where it takes a value:
// whole hundredths and the floats a few steps from them (the sums of
// prices it is for), sums of products of prices as the enrichment adds
// margins, values of 1 to 17 significant digits, and random floats of
// every exponent in its range. It must take most of the near-hundredths.
func TestAppendShortestMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	taken, tried := 0, 0
	check := func(f float64) {
		tried++
		got, ok := appendShortest([]byte("x"), f)
		if !ok {
			if string(got) != "x" {
				t.Fatalf("appendShortest(%v) declined but wrote %q", f, got)
			}
			return
		}
		taken++
		if want := strconv.AppendFloat([]byte("x"), f, 'f', -1, 64); !bytes.Equal(got, want) {
			t.Fatalf("appendShortest(%v) = %s, strconv %s", f, got, want)
		}
	}
	for range 1_000_000 {
		scale := math.Pow(10, float64(1+rng.IntN(11)))
		c := math.Floor(rng.Float64() * scale)
		f := c / 100
		if rng.IntN(2) == 0 {
			f = -f
		}
		g := f
		for range 4 {
			g = math.Nextafter(g, math.Inf(1))
			check(g)
		}
		g = f
		for range 4 {
			g = math.Nextafter(g, math.Inf(-1))
			check(g)
		}
		// A margin: quantities times price less cost, summed.
		var m float64
		for range 1 + rng.IntN(4) {
			price := float64(rng.IntN(100_000)) / 100
			m += float64(1+rng.IntN(5)) * (price - price*0.6)
		}
		check(m)
		// Any float from 1 to 2^30, and decimals of 1 to 17 digits.
		check(math.Float64frombits(uint64(1023+rng.IntN(30))<<52 | rng.Uint64()&(1<<52-1)))
		digits := 1 + rng.IntN(17)
		d := rng.Uint64N(pow10u64[digits])
		check(float64(d) / math.Pow(10, float64(rng.IntN(digits+1))))
	}
	for _, f := range []float64{1, 2, 1.5, 9.999999999999998, 9.999999999999999, 99.99999999999999, 999999999.9999999,
		999999999.99999994, 1e9, 1.0000000000000002, 3.0000000000000004, 0.1 + 0.2, 11.389999999999999, 37.349999999999994,
		29.180000000000003, 123456789.12345679, math.Nextafter(1e9, 0), math.Nextafter(1, 2), math.Nextafter(2, 1), 0.999, 0,
		math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 5e-324, math.MaxFloat64} {
		check(f)
		check(-f)
	}
	if taken < tried/2 {
		t.Fatalf("appendShortest took %d of %d values", taken, tried)
	}
}

// TestAppendShortestEveryExponent runs appendShortest over the floats next
// to the powers of two and of ten in its range, where the interval of a
// float changes width and the integer part its length.
func TestAppendShortestEveryExponent(t *testing.T) {
	for e := 0; e <= 30; e++ {
		for _, base := range []float64{math.Ldexp(1, e), math.Pow(10, float64(e%10))} {
			f := base
			for range 64 {
				f = math.Nextafter(f, math.Inf(1))
				for _, g := range []float64{f, 2*base - f} {
					if got, ok := appendShortest(nil, g); ok {
						if want := strconv.AppendFloat(nil, g, 'f', -1, 64); !bytes.Equal(got, want) {
							t.Fatalf("appendShortest(%v) = %s, strconv %s", g, got, want)
						}
					}
				}
			}
		}
	}
}

// FuzzAppendShortest compares appendShortest with strconv for any float.
func FuzzAppendShortest(f *testing.F) {
	for _, v := range []float64{11.389999999999999, 1.5, 999999999.9999999, 3.0000000000000004} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		if got, ok := appendShortest(nil, v); ok {
			if want := strconv.AppendFloat(nil, v, 'f', -1, 64); !bytes.Equal(got, want) {
				t.Fatalf("appendShortest(%v) = %s, strconv %s", v, got, want)
			}
		}
	})
}

// BenchmarkAppendShortest writes margins that missed their hundredths (as
// about half the enriched records' do) through appendShortest and through
// strconv's shortest formatting, which it replaces for them.
func BenchmarkAppendShortest(b *testing.B) {
	margins := []float64{11.389999999999999, 37.349999999999994, 34.169999999999995, 29.180000000000003,
		123.45000000000002, 7.989999999999998, 264.71999999999997, 58.010000000000005}
	buf := make([]byte, 0, 64)
	b.Run("appendShortest", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			buf, _ = appendShortest(buf[:0], margins[i%len(margins)])
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			buf = strconv.AppendFloat(buf[:0], margins[i%len(margins)], 'f', -1, 64)
		}
	})
}
