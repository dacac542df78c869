package fraud

import (
	"math"
	"testing"

	"github.com/google/cel-go/common/types/ref"
)

// dblSink keeps dbl's result alive, so that its boxing is not optimised
// away.
var (
	dblSink    ref.Val
	nativeSink any
)

// TestDblKeepsTheValue checks that dbl, which hands out whole numbers
// boxed from a table, gives CEL every value bit for bit, and that the
// table serves counts without allocating.
func TestDblKeepsTheValue(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, 2, 5, 1023, 1023.5, 1024, 1e6, -1, -5, 0.5,
		math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64} {
		got, ok := dbl(f).Value().(float64)
		if !ok || math.Float64bits(got) != math.Float64bits(f) {
			t.Errorf("dbl(%v).Value() = %v (%T)", f, dbl(f).Value(), dbl(f).Value())
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 3, 1023, 1024, 2.5, -4} {
		got, ok := native(dbl(f)).(float64)
		if !ok || math.Float64bits(got) != math.Float64bits(f) {
			t.Errorf("native(dbl(%v)) = %v (%T)", f, native(dbl(f)), native(dbl(f)))
		}
	}
	counts := 0.0
	if n := testing.AllocsPerRun(100, func() { counts = math.Mod(counts+1, 1000); dblSink = dbl(counts) }); n != 0 {
		t.Errorf("dbl of a count allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { counts = math.Mod(counts+1, 1000); nativeSink = native(wholeDoubles[int(counts)]) }); n != 0 {
		t.Errorf("native of a count allocates %v times", n)
	}
}
