package fraud

import (
	"math"
	"testing"

	"github.com/google/cel-go/common/types/ref"
)

// dblSink keeps dbl's result alive, so that its boxing is not optimised
// away.
var dblSink ref.Val

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
	counts := 0.0
	if n := testing.AllocsPerRun(100, func() { counts = math.Mod(counts+1, 1000); dblSink = dbl(counts) }); n != 0 {
		t.Errorf("dbl of a count allocates %v times", n)
	}
}
