package segmentation

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BGNBD is a fitted BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your
// Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing
// Science 24(2), 275-284). While alive a customer buys at Poisson rate
// lambda ~ Gamma(shape r, rate alpha); after each repeat purchase they drop
// out with probability p ~ Beta(a, b). Times are in the unit of the fit
// input.
type BGNBD struct {
	// R is the shape of the purchase-rate gamma distribution.
	R float64 `json:"r"`
	// Alpha is the rate (inverse scale) of the purchase-rate gamma.
	Alpha float64 `json:"alpha"`
	// A is the first shape of the dropout-probability beta distribution.
	A float64 `json:"a"`
	// B is the second shape of the dropout-probability beta distribution.
	B float64 `json:"b"`
	// LogLikelihood is the log-likelihood of the fit input at the estimate.
	LogLikelihood float64 `json:"logLikelihood"`
}

// CustomerLogLikelihood returns the log-likelihood of one customer summary, FHL 2005
// eq. 6 written in logs:
//
//	L = B(a, b+x)/B(a, b) * Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//	  + [x>0] B(a+1, b+x-1)/B(a, b) * Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
func (m BGNBD) CustomerLogLikelihood(x int, tx, T float64) float64 {
	d := bgnbdData{groups: []bgGroup{{x: float64(x), hi: 1, w: 1}}, tx: []float64{tx}, t: []float64{T}, w: []float64{1}}
	return d.logLik([4]float64{m.R, m.Alpha, m.A, m.B}, nil)
}

// logOddsDead returns log(P(dead)/P(alive)) for a customer with x > 0:
// log(a/(b+x-1)) + (r+x) log((α+T)/(α+t_x)) (FHL 2005 eq. 11; see also
// Fader, Hardie & Lee, "Computing P(alive) using the BG/NBD model", 2008).
func (m BGNBD) logOddsDead(x int, tx, T float64) float64 {
	xf := float64(x)
	return math.Log(m.A) - math.Log(m.B+xf-1) + (m.R+xf)*math.Log1p((T-tx)/(m.Alpha+tx))
}

// PAlive returns the probability that a customer with summary (x, t_x, T)
// is still alive at T. It is 1 for x = 0: a BG/NBD customer can only drop
// out right after a repeat purchase.
func (m BGNBD) PAlive(x int, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	// 1/(1+e^l) without overflow for large l.
	l := m.logOddsDead(x, tx, T)
	if l > 0 {
		e := math.Exp(-l)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(l))
}

// ExpectedPurchases returns E[Y(t) | x, t_x, T], the expected number of
// purchases in the next t time units (FHL 2005 eq. 10):
//
//	E = (a+b+x-1)/(a-1) * [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
//	    / (1 + [x>0] a/(b+x-1) ((α+T)/(α+t_x))^(r+x)),   z = t/(α+T+t).
//
// The hypergeometric factor is evaluated after Euler's transformation
// 2F1(α₁,β₁;γ₁;z) = (1-z)^(γ₁-α₁-β₁) 2F1(γ₁-α₁, γ₁-β₁; γ₁; z)
// (Abramowitz & Stegun 15.3.3), which turns it into
// 2F1(a+b-1-r, a-1; a+b+x-1; z): parameters that do not grow with x, so the
// series converges fast for heavy buyers and nothing overflows (the
// untransformed series has terms growing like x^n before they shrink). Writing
// (a-1)_n = (a-1)(a)_(n-1) then cancels the removable singularity at a = 1:
//
//	numerator = c (1-(1-z)^(a-1))/(a-1) - (1-z)^(a-1) S,  c = a+b+x-1,
//	S = Σ_{n≥1} (a+b-1-r)_n (a)_(n-1) z^n / ((c+1)_(n-1) n!).
func (m BGNBD) ExpectedPurchases(t float64, x int, tx, T float64) float64 {
	return m.PAlive(x, tx, T) * m.expectedPurchasesAlive(t, x, T)
}

// expectedPurchasesAlive returns the numerator of ExpectedPurchases, which
// is E[Y(t)] for a customer known to be alive: the denominator is
// 1/P(alive).
func (m BGNBD) expectedPurchasesAlive(t float64, x int, T float64) float64 {
	var out [1]float64
	m.expectedPurchasesAliveAt([]float64{t}, x, T, out[:])
	return out[0]
}

// maxSeriesTerms bounds the series of expectedPurchasesAliveAt. It cuts the
// sum short only for z > 1 - 4e-5, i.e. a horizon some 25,000 times α+T.
const maxSeriesTerms = 1 << 20

// expectedPurchasesAliveAt stores expectedPurchasesAlive(ts[j], x, T) in
// out[j]. The series S of ExpectedPurchases has coefficients independent of
// z, S = Σ_{n≥1} k_n z^n with k_1 = a+b-1-r and
// k_(n+1)/k_n = (a+b-1-r+n)(a+n-1)/((c+n)(n+1)), so one pass over n serves
// every t (CLV needs a dozen). Each sum stops once its term, with a geometric
// bound on the tail (the term ratio tends to z < 1), is below rounding.
func (m BGNBD) expectedPurchasesAliveAt(ts []float64, x int, T float64, out []float64) {
	const maxInline = 16
	var zBuf, powBuf, sumBuf [maxInline]float64
	var z, pow, sum []float64
	if len(ts) <= maxInline {
		z, pow, sum = zBuf[:len(ts)], powBuf[:len(ts)], sumBuf[:len(ts)]
	} else {
		z, pow, sum = make([]float64, len(ts)), make([]float64, len(ts)), make([]float64, len(ts))
	}
	c := m.A + m.B + float64(x) - 1
	p := m.A + m.B - 1 - m.R
	for j, t := range ts {
		if t > 0 {
			z[j] = t / (m.Alpha + T + t)
		}
		pow[j] = z[j]
		sum[j] = p * z[j]
	}
	if p != 0 {
		coef := p
		for n := 1.0; n < maxSeriesTerms; n++ {
			step := (p + n) * (m.A + n - 1) / ((c + n) * (n + 1))
			coef *= step
			done := true
			for j := range z {
				pow[j] *= z[j]
				term := coef * pow[j]
				sum[j] += term
				if ratio := math.Abs(step * z[j]); !(ratio < 1 && math.Abs(term) <= 1e-16*math.Abs(sum[j])*(1-ratio)) && term != 0 {
					done = false
				}
			}
			if done {
				break
			}
		}
	}
	am1 := m.A - 1
	for j, t := range ts {
		if !(t > 0) {
			out[j] = 0
			continue
		}
		u := -math.Log1p(t / (m.Alpha + T)) // log(1-z)
		var head float64                    // (1-(1-z)^(a-1))/(a-1)
		if am1 == 0 {
			head = -u
		} else {
			head = -math.Expm1(am1*u) / am1
		}
		out[j] = c*head - math.Exp(am1*u)*sum[j]
	}
}

// bgGroup is the run of customers in bgnbdData with the same x.
type bgGroup struct {
	x      float64
	lo, hi int     // index range into tx, t, w
	w      float64 // total weight of the run
}

// bgnbdData is a canonical triple multiset laid out for fast evaluation.
type bgnbdData struct {
	groups   []bgGroup
	tx, t, w []float64
	n        float64 // total weight
}

func newBGNBDData(triples []TripleCount) *bgnbdData {
	d := &bgnbdData{
		tx: make([]float64, len(triples)),
		t:  make([]float64, len(triples)),
		w:  make([]float64, len(triples)),
	}
	for i, tr := range triples {
		d.tx[i], d.t[i], d.w[i] = tr.Tx, tr.T, float64(tr.Count)
		d.n += d.w[i]
		if len(d.groups) == 0 || d.groups[len(d.groups)-1].x != float64(tr.X) {
			d.groups = append(d.groups, bgGroup{x: float64(tr.X), lo: i})
		}
		g := &d.groups[len(d.groups)-1]
		g.hi = i + 1
		g.w += d.w[i]
	}
	return d
}

// logLik returns the total log-likelihood at par = (r, α, a, b) and, if
// grad is not nil, stores its gradient with respect to par there.
//
// Per customer, with A3 = -(r+x) log(α+T) and A4 = log(a/(b+x-1)) -
// (r+x) log(α+t_x), log L = log Γ(r+x) - log Γ(r) + r log α + log Γ(a+b) +
// log Γ(b+x) - log Γ(b) - log Γ(a+b+x) + logsumexp(A3, [x>0] A4). With
// w4 = e^A4/(e^A3+e^A4) and w3 = 1-w4 the gradient is
//
//	∂/∂r = ψ(r+x) - ψ(r) + log α - w3 log(α+T) - w4 log(α+t_x)
//	∂/∂α = r/α - (r+x)(w3/(α+T) + w4/(α+t_x))
//	∂/∂a = ψ(a+b) - ψ(a+b+x) + w4/a
//	∂/∂b = ψ(a+b) + ψ(b+x) - ψ(b) - ψ(a+b+x) - w4/(b+x-1)
func (d *bgnbdData) logLik(par [4]float64, grad *[4]float64) float64 {
	r, alpha, a, b := par[0], par[1], par[2], par[3]
	lgR, _ := math.Lgamma(r)
	lgB, _ := math.Lgamma(b)
	lgAB, _ := math.Lgamma(a + b)
	logAlpha, logA := math.Log(alpha), math.Log(a)
	var psiR, psiB, psiAB float64
	if grad != nil {
		psiR, psiB, psiAB = mathext.Digamma(r), mathext.Digamma(b), mathext.Digamma(a+b)
		*grad = [4]float64{}
	}

	total := 0.0
	for _, g := range d.groups {
		x := g.x
		lgRX, _ := math.Lgamma(r + x)
		lgBX, _ := math.Lgamma(b + x)
		lgABX, _ := math.Lgamma(a + b + x)
		constant := lgRX - lgR + r*logAlpha + lgAB + lgBX - lgB - lgABX
		rx := r + x
		logOdds := 0.0 // log(a/(b+x-1))
		if x > 0 {
			logOdds = logA - math.Log(b+x-1)
		}

		// Weighted sums over the run of the per-customer terms.
		var sumLL, sumW3LogT, sumW4LogTx, sumW3InvT, sumW4InvTx, sumW4 float64
		for i := g.lo; i < g.hi; i++ {
			w := d.w[i]
			logT := math.Log(alpha + d.t[i])
			a3 := -rx * logT
			if x == 0 {
				sumLL += w * a3
				if grad != nil {
					sumW3LogT += w * logT
					sumW3InvT += w / (alpha + d.t[i])
				}
				continue
			}
			logTx := math.Log(alpha + d.tx[i])
			a4 := logOdds - rx*logTx
			var ll, w4 float64
			if a4 > a3 {
				e := math.Exp(a3 - a4)
				ll = a4 + math.Log1p(e)
				w4 = 1 / (1 + e)
			} else {
				e := math.Exp(a4 - a3)
				ll = a3 + math.Log1p(e)
				w4 = e / (1 + e)
			}
			sumLL += w * ll
			if grad != nil {
				w3 := 1 - w4
				sumW3LogT += w * w3 * logT
				sumW4LogTx += w * w4 * logTx
				sumW3InvT += w * w3 / (alpha + d.t[i])
				sumW4InvTx += w * w4 / (alpha + d.tx[i])
				sumW4 += w * w4
			}
		}
		total += g.w*constant + sumLL

		if grad != nil {
			psiABX := mathext.Digamma(a + b + x)
			grad[0] += g.w*(mathext.Digamma(r+x)-psiR+logAlpha) - sumW3LogT - sumW4LogTx
			grad[1] += g.w*r/alpha - rx*(sumW3InvT+sumW4InvTx)
			grad[2] += g.w*(psiAB-psiABX) + sumW4/a
			grad[3] += g.w * (psiAB + mathext.Digamma(b+x) - psiB - psiABX)
			if x > 0 {
				grad[3] -= sumW4 / (b + x - 1)
			}
		}
	}
	return total
}

// FitBGNBD estimates the BG/NBD parameters by maximum likelihood from
// canonical triples (see FitInput.Canonicalize). It optimises over the
// logarithms of the parameters with BFGS from a fixed, data-derived
// starting point, so equal inputs give bit-identical estimates.
func FitBGNBD(triples []TripleCount) (BGNBD, error) {
	d := newBGNBDData(triples)
	if d.n == 0 {
		return BGNBD{}, errors.New("failed to fit BG/NBD: no customers")
	}
	var sumX, sumT float64
	for _, g := range d.groups {
		sumX += g.x * g.w
		for j := g.lo; j < g.hi; j++ {
			sumT += d.w[j] * d.t[j]
		}
	}
	if sumX == 0 {
		return BGNBD{}, errors.New("failed to fit BG/NBD: no customer made a repeat purchase, the model is not identifiable")
	}
	if sumT == 0 {
		return BGNBD{}, errors.New("failed to fit BG/NBD: every customer has age T = 0")
	}
	// Start at r = a = b = 1 with the purchase rate 1/α matching the mean
	// repeat rate Σx/ΣT.
	start := []float64{0, math.Log(sumT / sumX), 0, 0}
	objective := func(theta []float64, grad []float64) float64 {
		var par, g [4]float64
		for i := range par {
			par[i] = math.Exp(theta[i])
		}
		var gp *[4]float64
		if grad != nil {
			gp = &g
		}
		ll := d.logLik(par, gp)
		if grad != nil {
			for i := range grad {
				grad[i] = -g[i] * par[i] / d.n
			}
		}
		return -ll / d.n
	}
	theta, err := minimizeLogParams(objective, start)
	if err != nil {
		return BGNBD{}, fmt.Errorf("failed to fit BG/NBD: %w", err)
	}
	m := BGNBD{R: math.Exp(theta[0]), Alpha: math.Exp(theta[1]), A: math.Exp(theta[2]), B: math.Exp(theta[3])}
	m.LogLikelihood = d.logLik([4]float64{m.R, m.Alpha, m.A, m.B}, nil)
	return m, nil
}
