package segmentation

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

// gradientTriples covers x = 0, light, heavy and extreme buyers.
var gradientTriples = []TripleCount{
	{X: 0, Tx: 0, T: 30, Count: 7},
	{X: 0, Tx: 0, T: 2.5, Count: 3},
	{X: 1, Tx: 5, T: 30, Count: 4},
	{X: 1, Tx: 29, T: 30, Count: 1},
	{X: 2, Tx: 0.5, T: 40, Count: 2},
	{X: 10, Tx: 15, T: 38, Count: 1},
	{X: 300, Tx: 200, T: 210, Count: 1},
}

func TestBGNBDGradientMatchesFiniteDifferences(t *testing.T) {
	d := newBGNBDData(gradientTriples)
	for _, par := range [][4]float64{
		{0.243, 4.414, 0.793, 2.426},
		{2, 10, 1.5, 0.7},
		{0.5, 1, 3, 5},
		{1, 1, 1, 1},
	} {
		var grad [4]float64
		d.logLik(par, &grad)
		for i := range par {
			h := 1e-6 * par[i]
			up, down := par, par
			up[i] += h
			down[i] -= h
			fd := (d.logLik(up, nil) - d.logLik(down, nil)) / (2 * h)
			if math.Abs(fd-grad[i]) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Errorf("params %v: d/d%s analytic %.10g, finite difference %.10g", par, []string{"r", "alpha", "a", "b"}[i], grad[i], fd)
			}
		}
	}
}

// directBGNBDLikelihood is FHL 2005 eq. 6 evaluated as written, without
// logs; fine for small x only.
func directBGNBDLikelihood(m BGNBD, x int, tx, T float64) float64 {
	xf := float64(x)
	beta := func(p, q float64) float64 {
		lp, _ := math.Lgamma(p)
		lq, _ := math.Lgamma(q)
		lpq, _ := math.Lgamma(p + q)
		return math.Exp(lp + lq - lpq)
	}
	common := math.Gamma(m.R+xf) * math.Pow(m.Alpha, m.R) / math.Gamma(m.R)
	l := beta(m.A, m.B+xf) / beta(m.A, m.B) * common / math.Pow(m.Alpha+T, m.R+xf)
	if x > 0 {
		l += beta(m.A+1, m.B+xf-1) / beta(m.A, m.B) * common / math.Pow(m.Alpha+tx, m.R+xf)
	}
	return l
}

func TestBGNBDLogLikelihood(t *testing.T) {
	m := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	for _, c := range []struct {
		x     int
		tx, T float64
	}{{0, 0, 38.86}, {1, 1.71, 38.86}, {2, 30.43, 38.86}, {7, 35, 36}} {
		got := m.CustomerLogLikelihood(c.x, c.tx, c.T)
		want := math.Log(directBGNBDLikelihood(m, c.x, c.tx, c.T))
		if math.Abs(got-want) > 1e-12*math.Abs(want) {
			t.Errorf("log L(%d, %v, %v) = %.15g, direct formula %.15g", c.x, c.tx, c.T, got, want)
		}
	}
	// Heavy buyers: the direct formula overflows, the log form must not.
	// (L is a density in t_x, so log L may be positive.)
	for _, x := range []int{300, 1000, 5000} {
		for _, tx := range []float64{1, 200, 210} {
			ll := m.CustomerLogLikelihood(x, tx, 210)
			if math.IsNaN(ll) || math.IsInf(ll, 0) {
				t.Errorf("log L(x=%d, t_x=%v) = %v, want a finite number", x, tx, ll)
			}
		}
	}
}

func TestPAlive(t *testing.T) {
	m := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	if p := m.PAlive(0, 0, 38.86); p != 1 {
		t.Errorf("P(alive | x=0) = %v, want 1", p)
	}
	for _, c := range []struct {
		x     int
		tx, T float64
	}{{300, 210, 210}, {300, 200, 210}, {300, 10, 210}, {5000, 1, 1000}, {1, 0, 1e6}} {
		p := m.PAlive(c.x, c.tx, c.T)
		if !(p >= 0 && p <= 1) {
			t.Errorf("P(alive | %d, %v, %v) = %v, want within [0, 1]", c.x, c.tx, c.T, p)
		}
	}
	// Having bought at T is the best sign of life; a long silence after
	// many purchases the worst.
	if p := m.PAlive(300, 210, 210); p < 0.99 {
		t.Errorf("P(alive | x=300, t_x=T) = %v, want close to 1", p)
	}
	if p := m.PAlive(300, 10, 210); p > 1e-100 {
		t.Errorf("P(alive | x=300, t_x=10, T=210) = %v, want about 0", p)
	}
	// Longer silence, lower P(alive).
	prev := 2.0
	for tx := 38.0; tx >= 0; tx -= 2 {
		p := m.PAlive(3, tx, 38.86)
		if p >= prev {
			t.Errorf("P(alive) not decreasing with silence: %v at t_x=%v after %v", p, tx, prev)
		}
		prev = p
	}
	// Regression value for CDNOW customer 1 (x=2, t_x=30.43, T=38.86) at the
	// published estimates.
	if p := m.PAlive(2, 30.43, 38.86); math.Abs(p-0.7266) > 5e-4 {
		t.Errorf("P(alive | 2, 30.43, 38.86) = %.4f, want 0.7266", p)
	}
}

// directExpectedPurchases is FHL 2005 eq. 10 as written, with gonum's
// hypergeometric function.
func directExpectedPurchases(m BGNBD, t float64, x int, tx, T float64) float64 {
	xf := float64(x)
	z := t / (m.Alpha + T + t)
	h := mathext.Hypergeo(m.R+xf, m.B+xf, m.A+m.B+xf-1, z)
	num := (m.A + m.B + xf - 1) / (m.A - 1) * (1 - math.Pow((m.Alpha+T)/(m.Alpha+T+t), m.R+xf)*h)
	den := 1.0
	if x > 0 {
		den += m.A / (m.B + xf - 1) * math.Pow((m.Alpha+T)/(m.Alpha+tx), m.R+xf)
	}
	return num / den
}

func TestExpectedPurchasesMatchesDirectFormula(t *testing.T) {
	for _, m := range []BGNBD{
		{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426},
		{R: 2, Alpha: 6, A: 1.7, B: 3},
		{R: 0.5, Alpha: 0.3, A: 0.2, B: 0.5}, // a+b-1 < 0
	} {
		for _, c := range []struct {
			t     float64
			x     int
			tx, T float64
		}{
			{39, 0, 0, 38.86}, {39, 2, 30.43, 38.86}, {39, 10, 30, 38.86}, {52, 50, 35, 38},
			{1000, 5, 20, 30}, {10, 100, 200, 210}, {0.01, 1, 1, 2}, {500, 0, 0, 0.5},
		} {
			got := m.ExpectedPurchases(c.t, c.x, c.tx, c.T)
			want := directExpectedPurchases(m, c.t, c.x, c.tx, c.T)
			if math.Abs(got-want) > 1e-9*math.Abs(want) {
				t.Errorf("%+v: E[Y(%v) | %d, %v, %v] = %.15g, direct formula %.15g", m, c.t, c.x, c.tx, c.T, got, want)
			}
		}
	}
}

func TestExpectedPurchasesEdgeCases(t *testing.T) {
	m := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	if e := m.ExpectedPurchases(0, 3, 10, 20); e != 0 {
		t.Errorf("E[Y(0)] = %v, want 0", e)
	}
	// Regression value for CDNOW customer 1 (x=2, t_x=30.43, T=38.86) at the
	// published estimates: purchases expected in the next 39 weeks.
	if e := m.ExpectedPurchases(39, 2, 30.43, 38.86); math.Abs(e-1.226) > 5e-4 {
		t.Errorf("E[Y(39) | 2, 30.43, 38.86] = %.4f, want 1.226", e)
	}
	// Heavy buyers stay finite and non-negative.
	for _, x := range []int{300, 1000, 10000} {
		for _, tx := range []float64{1, 100, 209.9, 210} {
			e := m.ExpectedPurchases(52, x, tx, 210)
			if math.IsNaN(e) || math.IsInf(e, 0) || e < 0 {
				t.Errorf("E[Y(52) | %d, %v, 210] = %v", x, tx, e)
			}
		}
	}
	// An active heavy buyer keeps buying at about (r+x)/(α+T) per unit.
	if e, rate := m.ExpectedPurchases(1, 300, 210, 210), (m.R+300)/(m.Alpha+210); math.Abs(e-rate) > 0.02*rate {
		t.Errorf("E[Y(1) | 300, 210, 210] = %v, want about %v", e, rate)
	}
	// a = 1 is a removable singularity of eq. 10: continuous across it.
	at := func(a float64) float64 {
		return BGNBD{R: 0.5, Alpha: 3, A: a, B: 2}.ExpectedPurchases(20, 3, 10, 30)
	}
	if lo, mid, hi := at(1-1e-7), at(1), at(1+1e-7); math.Abs(mid-lo) > 1e-6 || math.Abs(mid-hi) > 1e-6 || math.IsNaN(mid) {
		t.Errorf("E[Y] around a = 1: %v %v %v", lo, mid, hi)
	}
}

// TestExpectedPurchasesMonteCarlo simulates the BG/NBD process and checks,
// per calibration frequency x, that the mean predicted E[Y(t)] and P(alive)
// match the simulated future purchases and survival. Grouping by x is
// valid: E[Y | x] = E[E[Y | x, t_x, T] | x].
func TestExpectedPurchasesMonteCarlo(t *testing.T) {
	const (
		n       = 200_000
		T       = 26.0
		horizon = 13.0
	)
	for _, m := range []BGNBD{
		{R: 2, Alpha: 6, A: 1.2, B: 3},
		{R: 0.5, Alpha: 2, A: 0.7, B: 2},
	} {
		s := newSimulator(42, m, truthGG)
		type group struct{ n, predY, sumY, sumY2, predAlive, alive float64 }
		groups := map[int]*group{}
		for range n {
			times, alive := s.purchases(T+horizon, T)
			x, tx, future := 0, 0.0, 0
			for _, pt := range times {
				if pt <= T {
					x++
					tx = pt
				} else {
					future++
				}
			}
			g := groups[x]
			if g == nil {
				g = &group{}
				groups[x] = g
			}
			y := float64(future)
			g.n++
			g.predY += m.ExpectedPurchases(horizon, x, tx, T)
			g.sumY += y
			g.sumY2 += y * y
			g.predAlive += m.PAlive(x, tx, T)
			if alive {
				g.alive++
			}
		}
		checked := 0
		for x, g := range groups {
			if g.n < 1000 {
				continue
			}
			checked++
			meanY := g.sumY / g.n
			seY := math.Sqrt((g.sumY2/g.n - meanY*meanY) / g.n)
			if pred := g.predY / g.n; math.Abs(pred-meanY) > 4*seY+1e-3 {
				t.Errorf("%+v, x=%d (%v customers): mean E[Y(%v)] = %.4f, simulated %.4f ± %.4f", m, x, g.n, horizon, pred, meanY, seY)
			}
			fa := g.alive / g.n
			seA := math.Sqrt(fa * (1 - fa) / g.n)
			if pred := g.predAlive / g.n; math.Abs(pred-fa) > 4*seA+1e-3 {
				t.Errorf("%+v, x=%d (%v customers): mean P(alive) = %.4f, simulated %.4f ± %.4f", m, x, g.n, pred, fa, seA)
			}
		}
		if checked < 5 {
			t.Errorf("%+v: only %d frequency groups large enough to check", m, checked)
		}
	}
}

func TestFitRecoversSimulatedParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("fits 100,000 customers")
	}
	m, err := Fit(NewFitInput(Week, simulated100k()), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fitted %+v %+v", m.BGNBD, m.GammaGamma)
	for _, c := range []struct {
		name           string
		got, want, tol float64
	}{
		{"r", m.BGNBD.R, truthBG.R, 0.05},
		{"alpha", m.BGNBD.Alpha, truthBG.Alpha, 0.05},
		{"a", m.BGNBD.A, truthBG.A, 0.05},
		{"b", m.BGNBD.B, truthBG.B, 0.05},
		{"p", m.GammaGamma.P, truthGG.P, 0.10},
		{"q", m.GammaGamma.Q, truthGG.Q, 0.10},
		{"v", m.GammaGamma.V, truthGG.V, 0.10},
	} {
		if math.Abs(c.got/c.want-1) > c.tol {
			t.Errorf("%s = %.4f, simulated with %.4f (tolerance %.0f%%)", c.name, c.got, c.want, 100*c.tol)
		}
	}
}

func TestFitBGNBDRejectsUnidentifiableInput(t *testing.T) {
	if _, err := FitBGNBD([]TripleCount{{X: 0, T: 10, Count: 5}}); err == nil {
		t.Error("fit without repeat purchases succeeded, want an error")
	}
	if _, err := FitBGNBD(nil); err == nil {
		t.Error("fit without customers succeeded, want an error")
	}
}
