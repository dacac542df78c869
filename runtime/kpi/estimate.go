package kpi

import "math"

// Reading the estimate of a dense sketch.
//
// hyperloglog.Sketch.Estimate sums 1/2^register over the 16,384 registers
// of a precision-14 sketch with one math.Pow call each, about 150 µs per
// series; a closing hourly window of the engine benchmark's KPI spec has
// eleven dense series. denseEstimate gives the same number from the
// sketch's encoding with one pass that counts registers by value.
//
// Why it is the same number, bit for bit: every term 1/2^v with v <= 38 is
// a multiple of 2^-38, and the sum of at most 2^14 terms of at most 1 is
// at most 2^14, so every partial sum is an integer multiple of 2^-38 below
// 2^52 of them: exactly representable in a float64's 53-bit significand.
// Each addition is then exact, in any order, so the library's register-order
// sum and the per-value sum below are the same float64. A register above
// 38 (about one sketch in 2^24 ever holds one) makes denseEstimate decline
// and the caller ask the library. The rest of the formula is the library's
// LogLog-Beta estimator for precision 14 (alpha of m, the beta polynomial
// in log(zeros+1) of Qin et al., 2016), written as it is there so that it
// rounds the same way; TestDenseEstimateMatchesLibrary pins it against the
// library over sketches from empty to saturated.

// maxExactRegister is the largest register value whose term keeps the sum
// exact (see above).
const maxExactRegister = 38

// denseVersion is the first byte of the library's encodings.
const denseVersion = 2

// denseHeader is the length of the library's dense encoding before the
// registers: version, precision, register base, sparse flag, 4-byte length.
const denseHeader = 8

// denseEstimate returns what Estimate returns for the sketch whose
// MarshalBinary encoding is enc; ok is false when enc is not a dense
// precision-14 encoding with base 0, or holds a register above
// maxExactRegister.
func denseEstimate(enc []byte) (estimate uint64, ok bool) {
	const m = 1 << hllPrecision
	if len(enc) != denseHeader+m || enc[0] != denseVersion || enc[1] != hllPrecision || enc[2] != 0 || enc[3] != 0 ||
		enc[4] != 0 || enc[5] != 0 || enc[6] != m>>8 || enc[7] != 0 {
		return 0, false
	}
	var counts [256]uint32
	for _, v := range enc[denseHeader:] {
		counts[v]++
	}
	for _, n := range counts[maxExactRegister+1:] {
		if n != 0 {
			return 0, false
		}
	}
	var sum float64
	for v, n := range counts[:maxExactRegister+1] {
		sum += float64(n) * math.Ldexp(1, -v)
	}
	ez := float64(counts[0])
	fm := float64(m)
	alpha := 0.7213 / (1 + 1.079/fm)
	est := alpha * fm * (fm - ez) / (sum + beta14(ez))
	return uint64(est + 0.5), true
}

// beta14 is the LogLog-Beta bias correction for precision 14 as a function
// of the number of zero registers.
func beta14(ez float64) float64 {
	zl := math.Log(ez + 1)
	return -0.371009760230692*ez +
		0.00978811941207509*zl +
		0.185796293324165*math.Pow(zl, 2) +
		0.203015527328432*math.Pow(zl, 3) +
		-0.116710521803686*math.Pow(zl, 4) +
		0.0431106699492820*math.Pow(zl, 5) +
		-0.00599583540511831*math.Pow(zl, 6) +
		0.000449704299509437*math.Pow(zl, 7)
}

// summary returns estimate() and, when withSketch, sketch(); for a dense
// set both come from one encoding of its registers, which scratch holds
// between calls when the sketch is not kept.
func (c *customerSet) summary(withSketch bool, scratch *[]byte) (estimate uint64, sketch []byte) {
	if c.dense == nil {
		if withSketch {
			sketch = c.sketch()
		}
		return uint64(c.n), sketch
	}
	var enc []byte
	if withSketch {
		enc, _ = c.dense.MarshalBinary() // a sketch of valid precision always marshals
		sketch = enc
	} else {
		enc, _ = c.dense.AppendBinary((*scratch)[:0])
		*scratch = enc
	}
	if n, ok := denseEstimate(enc); ok {
		return n, sketch
	}
	return c.dense.Estimate(), sketch
}
