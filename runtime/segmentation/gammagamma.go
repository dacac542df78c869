package segmentation

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma is a fitted gamma-gamma model of the value of repeat purchases
// (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves for
// Customer Base Analysis", JMR 42(4); Fader & Hardie 2013, "The Gamma-Gamma
// Model of Monetary Value"). A customer's transaction values are
// Gamma(shape p, rate ν) with ν ~ Gamma(shape q, rate v) across customers,
// independent of the purchase process. V is γ in Fader & Hardie's notation.
type GammaGamma struct {
	// P is the shape of a customer's transaction-value distribution.
	P float64 `json:"p"`
	// Q is the shape of the gamma distribution of the rate ν.
	Q float64 `json:"q"`
	// V is the rate of the gamma distribution of ν (γ in the papers).
	V float64 `json:"v"`
	// LogLikelihood is the log-likelihood of the repeat customers' mean
	// values at the estimate.
	LogLikelihood float64 `json:"logLikelihood"`
}

// ExpectedValue returns the expected value of a customer's transactions
// given the mean mean of their x repeat transactions (Fader & Hardie 2013,
// eq. 5): p(v + x·mean)/(px + q - 1), a weighted average of the population
// mean pv/(q-1) and the customer's own mean. For x = 0 it is the population
// mean.
func (m GammaGamma) ExpectedValue(x int, mean float64) float64 {
	xf := float64(x)
	if x == 0 {
		mean = 0
	}
	return m.P * (m.V + xf*mean) / (m.P*xf + m.Q - 1)
}

// CustomerLogLikelihood returns the log density of a mean repeat value mean
// over x > 0 transactions (Fader & Hardie 2013, eq. 3):
//
//	f(mean | x) = Γ(px+q)/(Γ(px)Γ(q)) · v^q x^(px) mean^(px-1) / (v + x·mean)^(px+q)
func (m GammaGamma) CustomerLogLikelihood(x int, mean float64) float64 {
	d := newGammaGammaData([]ValueCount{{X: x, Mean: mean, Count: 1}})
	return d.logLik([3]float64{m.P, m.Q, m.V}, nil)
}

type ggGroup struct {
	x, logX float64
	lo, hi  int
	w       float64 // total weight
	wLogM   float64 // Σ w log mean
}

// gammaGammaData is a canonical (x, mean) multiset laid out for evaluation.
type gammaGammaData struct {
	groups  []ggGroup
	xm, w   []float64 // x·mean and weight per entry
	n, sumM float64
}

func newGammaGammaData(values []ValueCount) *gammaGammaData {
	d := &gammaGammaData{xm: make([]float64, len(values)), w: make([]float64, len(values))}
	for i, v := range values {
		x := float64(v.X)
		d.xm[i], d.w[i] = x*v.Mean, float64(v.Count)
		d.n += d.w[i]
		d.sumM += d.w[i] * v.Mean
		if len(d.groups) == 0 || d.groups[len(d.groups)-1].x != x {
			d.groups = append(d.groups, ggGroup{x: x, logX: math.Log(x), lo: i})
		}
		g := &d.groups[len(d.groups)-1]
		g.hi = i + 1
		g.w += d.w[i]
		g.wLogM += d.w[i] * math.Log(v.Mean)
	}
	return d
}

// logLik returns the total log-likelihood at par = (p, q, v) and, if grad is
// not nil, its gradient with respect to par:
//
//	∂/∂p = x(ψ(px+q) - ψ(px) + log x + log mean - log(v + x·mean))
//	∂/∂q = ψ(px+q) - ψ(q) + log v - log(v + x·mean)
//	∂/∂v = q/v - (px+q)/(v + x·mean)
func (d *gammaGammaData) logLik(par [3]float64, grad *[3]float64) float64 {
	p, q, v := par[0], par[1], par[2]
	lgQ, _ := math.Lgamma(q)
	logV := math.Log(v)
	var psiQ float64
	if grad != nil {
		psiQ = mathext.Digamma(q)
		*grad = [3]float64{}
	}
	total := 0.0
	for _, g := range d.groups {
		px := p * g.x
		lgPXQ, _ := math.Lgamma(px + q)
		lgPX, _ := math.Lgamma(px)
		var sumLog, sumInv float64 // Σ w log(v + x·mean), Σ w/(v + x·mean)
		for i := g.lo; i < g.hi; i++ {
			sumLog += d.w[i] * math.Log(v+d.xm[i])
			if grad != nil {
				sumInv += d.w[i] / (v + d.xm[i])
			}
		}
		total += g.w*(lgPXQ-lgPX-lgQ+q*logV+px*g.logX) + (px-1)*g.wLogM - (px+q)*sumLog
		if grad != nil {
			psiPXQ := mathext.Digamma(px + q)
			grad[0] += g.x * (g.w*(psiPXQ-mathext.Digamma(px)+g.logX) + g.wLogM - sumLog)
			grad[1] += g.w*(psiPXQ-psiQ+logV) - sumLog
			grad[2] += g.w*q/v - (px+q)*sumInv
		}
	}
	return total
}

// FitGammaGamma estimates p, q and v by maximum likelihood from canonical
// (x, mean) pairs of repeat customers (see FitInput.Canonicalize), with BFGS
// over log parameters from a fixed, data-derived start. It fails when the
// estimate has q <= 1, where the mean transaction value is infinite.
func FitGammaGamma(values []ValueCount) (GammaGamma, error) {
	d := newGammaGammaData(values)
	if d.n == 0 {
		return GammaGamma{}, errors.New("failed to fit gamma-gamma: no repeat customer with a positive mean value")
	}
	// Start at p = 1, q = 3 with the population mean pv/(q-1) equal to the
	// observed mean of means.
	start := []float64{0, math.Log(3), math.Log(2 * d.sumM / d.n)}
	objective := func(theta []float64, grad []float64) float64 {
		var par, g [3]float64
		for i := range par {
			par[i] = math.Exp(theta[i])
		}
		var gp *[3]float64
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
		return GammaGamma{}, fmt.Errorf("failed to fit gamma-gamma: %w", err)
	}
	m := GammaGamma{P: math.Exp(theta[0]), Q: math.Exp(theta[1]), V: math.Exp(theta[2])}
	m.LogLikelihood = d.logLik([3]float64{m.P, m.Q, m.V}, nil)
	if m.Q <= 1 {
		return m, fmt.Errorf("failed to fit gamma-gamma: estimated q = %.4g <= 1, so the mean transaction value is infinite; the model does not suit these values", m.Q)
	}
	return m, nil
}
