package kpi

import (
	"encoding/binary"
	"math"

	"github.com/axiomhq/hyperloglog"
)

// Reading the estimate of dense registers.
//
// hyperloglog.Sketch.Estimate sums 1/2^register over the 16,384 registers
// of a precision-14 sketch with one math.Pow call each, hundreds of µs per
// series (BenchmarkDenseEstimate); a closing hourly window of the engine
// benchmark's KPI spec has eleven dense series. denseEstimate gives the
// same number with one pass that counts registers by value.
//
// Why it is the same number, bit for bit: every term 1/2^v with v <= 38 is
// a multiple of 2^-38, and the sum of at most 2^14 terms of at most 1 is
// at most 2^14, so every partial sum is an integer multiple of 2^-38 below
// 2^52 of them: exactly representable in a float64's 53-bit significand.
// Each addition is then exact, in any order, so the library's register-order
// sum and the per-value sum below are the same float64. With a register
// above 38 (a hash sets one with probability 2^-38: a series of a million
// customers about once in 2^18) denseEstimate asks the library instead. The rest of the formula is the library's LogLog-Beta
// estimator for precision 14 (alpha of m, the beta polynomial in
// log(zeros+1) of Qin et al., 2016), written as it is there so that it
// rounds the same way; TestDenseEstimateMatchesLibrary pins it against the
// library over sketches from empty to saturated.

// maxExactRegister is the largest register value whose term keeps the sum
// exact (see above).
const maxExactRegister = 38

// denseEstimate returns what the library's Estimate returns for a dense
// sketch of precision hllPrecision with registers regs.
func denseEstimate(regs []uint8) uint64 {
	// Four tallies, so that runs of equal registers do not wait on one
	// counter; registers are at most 51, and any bit above 63 is seen in
	// all. Eight registers are read at once, as one word.
	var tally [4][64]uint32
	var all uint64
	i := 0
	for ; len(regs)-i >= 8; i += 8 {
		w := binary.LittleEndian.Uint64(regs[i:])
		all |= w
		tally[0][w&63]++
		tally[1][w>>8&63]++
		tally[2][w>>16&63]++
		tally[3][w>>24&63]++
		tally[0][w>>32&63]++
		tally[1][w>>40&63]++
		tally[2][w>>48&63]++
		tally[3][w>>56&63]++
	}
	for ; i < len(regs); i++ {
		tally[0][regs[i]&63]++
		all |= uint64(regs[i])
	}
	var counts [64]uint32
	for v := range counts {
		counts[v] = tally[0][v] + tally[1][v] + tally[2][v] + tally[3][v]
	}
	if all&0xc0c0c0c0c0c0c0c0 != 0 {
		// A register of 64 or more.
		return libraryEstimate(regs)
	}
	for _, n := range counts[maxExactRegister+1:] {
		if n != 0 {
			return libraryEstimate(regs)
		}
	}
	var sum float64
	for v, n := range counts[:maxExactRegister+1] {
		sum += float64(n) * math.Ldexp(1, -v)
	}
	ez := float64(counts[0])
	m := float64(len(regs))
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * (m - ez) / (sum + beta14(ez))
	return uint64(est + 0.5)
}

// libraryEstimate is the library's Estimate of the dense registers regs.
func libraryEstimate(regs []uint8) uint64 {
	var sk hyperloglog.Sketch
	// The encoding of valid registers always decodes.
	_ = sk.UnmarshalBinary(appendDense(nil, regs))
	return sk.Estimate()
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
