package generator

import (
	"math"
	"math/rand/v2"
)

// gamma draws from Gamma(shape, rate) by Marsaglia and Tsang's method, with
// the usual boost for shape < 1. Written here rather than taken from a
// library so that the stream of draws, and so the output, is fixed by the
// seed alone.
func gamma(r *rand.Rand, shape, rate float64) float64 {
	if shape < 1 {
		u := r.Float64()
		return gamma(r, shape+1, rate) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v / rate
		}
	}
}

// beta draws from Beta(a, b).
func beta(r *rand.Rand, a, b float64) float64 {
	x := gamma(r, a, 1)
	y := gamma(r, b, 1)
	return x / (x + y)
}

// expSeconds draws an exponential waiting time, in seconds, for events
// arriving at ratePerSecond.
func expSeconds(r *rand.Rand, ratePerSecond float64) float64 {
	return r.ExpFloat64() / ratePerSecond
}

// pick returns an index drawn with probability proportional to cumulative
// weights cum (cum[i] is the sum of weights 0..i).
func pick(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func cumulative(weights []float64) []float64 {
	cum := make([]float64, len(weights))
	s := 0.0
	for i, w := range weights {
		s += w
		cum[i] = s
	}
	return cum
}

// roundCents rounds to the minor unit of a two-decimal currency.
func roundCents(x float64) float64 { return math.Round(x*100) / 100 }

const hexDigits = "0123456789abcdef"

// appendHex appends n hex digits of v.
func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(v>>(4*uint(i)))&0xF])
	}
	return b
}

// uuid returns a version-4 shaped UUID from the generator's stream.
func uuid(r *rand.Rand) string {
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^0xF000 | 0x4000
	lo = lo&^(0xC<<60) | 0x8<<60
	b := make([]byte, 0, 36)
	b = appendHex(b, hi>>32, 8)
	b = append(b, '-')
	b = appendHex(b, hi>>16, 4)
	b = append(b, '-')
	b = appendHex(b, hi, 4)
	b = append(b, '-')
	b = appendHex(b, lo>>48, 4)
	b = append(b, '-')
	b = appendHex(b, lo, 12)
	return string(b)
}

// hexID returns prefix followed by n random hex digits (n <= 16).
func hexID(r *rand.Rand, prefix string, n int) string {
	b := make([]byte, 0, len(prefix)+n)
	b = append(b, prefix...)
	return string(appendHex(b, r.Uint64(), n))
}

// haversineKm is the great-circle distance between two points.
func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadiusKm = 6371
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(a))
}
