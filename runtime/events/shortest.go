package events

import (
	"math"
	"math/bits"
	"strconv"
)

// pow10u64 holds the powers of ten that fit a uint64.
var pow10u64 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// appendShortest writes f, of magnitude 1 to 1e9 and not a power of two,
// as strconv.AppendFloat(b, f, 'f', -1, 64) does: the fewest digits that
// read back as f, and of those the closest to f. It is for values such as
// sums of prices that missed whole hundredths by a rounding error
// (11.389999999999999), which appendCents declines and which cost
// strconv's general path about a thousand instructions. ok is false, with
// b unchanged, for anything else and for the rare exact tie between two
// candidates, which strconv settles.
//
// f is m·2^e exactly (m of 53 bits, e from -52 to -23 here). Scaled by
// 10^s so that it has 17 digits before the point (V = f·10^s, from 1e16 to
// 1e17), V and the bounds of the interval of reals that read back as f,
// (2m∓1)·10^s·2^(e-1), are products of at most 108 bits shifted right,
// computed exactly with one 64×64-bit multiplication each. The integers
// within the interval (its ends included when m is even: reading rounds
// ties to even) are the 17-digit decimals that read back as f, and there
// is at least one, since the interval is wider than 1 at this scale. The
// shortest decimal is the multiple of the largest power of ten 10^j among
// them, and the one written is the multiple of 10^j nearest to V.
func appendShortest(b []byte, f float64) ([]byte, bool) {
	a := math.Abs(f)
	if !(a >= 1 && a < 1e9) {
		return b, false
	}
	fb := math.Float64bits(a)
	frac := fb & (1<<52 - 1)
	if frac == 0 {
		return b, false // a power of two: the interval below f is half as wide
	}
	m := frac | 1<<52
	sh := uint(1075 - int(fb>>52)) // f = m·2^-sh, sh from 23 to 52
	nd := 1                        // the digits of f's integer part
	for ip := uint64(a); ip >= 10; ip /= 10 {
		nd++
	}
	p := pow10u64[17-nd]
	// The doubled values 2m and 2m∓1 times 10^s, shifted by sh+1: V and the
	// interval's ends, as integer parts and whether a fraction is left.
	shift := sh + 1
	mask := uint64(1)<<shift - 1
	vh, vl := bits.Mul64(2*m, p)
	v, vRem := vh<<(64-shift)|vl>>shift, vl&mask
	hh, hl := bits.Mul64(2*m+1, p)
	hi, hiRem := hh<<(64-shift)|hl>>shift, hl&mask
	lh, ll := bits.Mul64(2*m-1, p)
	lo, loRem := lh<<(64-shift)|ll>>shift, ll&mask
	// (In this range 10^s has fewer factors of two than 2^(sh+1), so the
	// ends are never integers; the rule for them is kept all the same.)
	even := m&1 == 0
	if loRem != 0 || !even {
		lo++ // the smallest integer in the interval
	}
	if hiRem == 0 && !even {
		hi-- // the largest
	}
	// The largest power of ten 10^j with a multiple in [lo, hi]: while
	// hi/10^(j+1) > (lo-1)/10^(j+1), rounded down. hq, lq and vq are hi,
	// lo-1 and v over 10^j, divided step by step by the constant 10 (a
	// multiplication) rather than by a variable power (a slow division).
	hq, lq, vq, pj := hi, lo-1, v, uint64(1)
	for j := 0; j < 16 && hq/10 > lq/10; j++ {
		hq, lq, vq, pj = hq/10, lq/10, vq/10, pj*10
	}
	// The multiple of pj nearest to V = v + vRem/2^shift: vq or vq+1, from
	// how twice the remainder, 2r + 2·vRem/2^shift (the second term below
	// 2), compares with pj.
	q, r := vq, v-vq*pj
	switch d := pj - 2*r; {
	case 2*r >= pj:
		if 2*r == pj && vRem == 0 {
			return b, false // a tie
		}
		q++
	case d == 1:
		if half := uint64(1) << (shift - 1); vRem > half {
			q++
		} else if vRem == half {
			return b, false
		}
	}
	// Within the interval: the multiples of pj in it are lq+1 to hq.
	if q <= lq {
		q = lq + 1
	} else if q > hq {
		q = hq
	}
	n := q * pj
	if n < pow10u64[16] || n >= pow10u64[17] {
		return b, false // the integer part would change length
	}
	if f < 0 {
		b = append(b, '-')
	}
	ip := divPow10(n, 17-nd)
	b = strconv.AppendUint(b, ip, 10)
	fr := n - ip*pow10u64[17-nd]
	if fr == 0 {
		return b, true
	}
	// The fraction's 17-nd digits, less its trailing zeros.
	width := 17 - nd
	for fr%10 == 0 {
		fr /= 10
		width--
	}
	b = append(b, '.')
	// Two digits a step, from the right (digitPairs of rfc3339.go).
	var digits [16]byte
	i := width
	for ; i >= 2; i -= 2 {
		k := fr % 100 * 2
		fr /= 100
		digits[i-2], digits[i-1] = digitPairs[k], digitPairs[k+1]
	}
	if i == 1 {
		digits[0] = byte('0' + fr)
	}
	return append(b, digits[:width]...), true
}

// divPow10 returns n/10^k for k from 8 to 16, by a constant divisor each
// (a multiplication, where a variable one is a slow division).
func divPow10(n uint64, k int) uint64 {
	switch k {
	case 8:
		return n / 1e8
	case 9:
		return n / 1e9
	case 10:
		return n / 1e10
	case 11:
		return n / 1e11
	case 12:
		return n / 1e12
	case 13:
		return n / 1e13
	case 14:
		return n / 1e14
	case 15:
		return n / 1e15
	case 16:
		return n / 1e16
	default:
		return n / pow10u64[k]
	}
}
