package segmentation

import (
	"math"
	"testing"
)

func TestGammaGammaGradientMatchesFiniteDifferences(t *testing.T) {
	d := newGammaGammaData([]ValueCount{
		{X: 1, Mean: 10, Count: 3}, {X: 1, Mean: 55.5, Count: 1}, {X: 2, Mean: 20, Count: 2},
		{X: 7, Mean: 3.25, Count: 1}, {X: 300, Mean: 41, Count: 1},
	})
	for _, par := range [][3]float64{{6.25, 3.74, 15.44}, {1, 1.5, 2}, {0.3, 10, 100}} {
		var grad [3]float64
		d.logLik(par, &grad)
		for i := range par {
			h := 1e-6 * par[i]
			up, down := par, par
			up[i] += h
			down[i] -= h
			fd := (d.logLik(up, nil) - d.logLik(down, nil)) / (2 * h)
			if math.Abs(fd-grad[i]) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Errorf("params %v: d/d%s analytic %.10g, finite difference %.10g", par, []string{"p", "q", "v"}[i], grad[i], fd)
			}
		}
	}
}

func TestGammaGammaLogLikelihoodIntegratesToOne(t *testing.T) {
	// f(mean | x) is a density in mean: integrate it numerically.
	m := GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	for _, x := range []int{1, 3} {
		sum, h := 0.0, 0.05
		for z := h / 2; z < 1500; z += h {
			sum += math.Exp(m.CustomerLogLikelihood(x, z)) * h
		}
		if math.Abs(sum-1) > 1e-3 {
			t.Errorf("x=%d: density integrates to %v, want 1", x, sum)
		}
	}
}

func TestGammaGammaExpectedValue(t *testing.T) {
	m := GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	population := m.P * m.V / (m.Q - 1)
	if got := m.ExpectedValue(0, 123); math.Abs(got-population) > 1e-12 {
		t.Errorf("E[Z | x=0] = %v, want the population mean %v", got, population)
	}
	// A weighted average of the population mean and the customer's mean,
	// moving towards the latter as x grows.
	prev := math.Inf(1)
	for _, x := range []int{1, 2, 5, 20, 100, 1000} {
		got := m.ExpectedValue(x, 10)
		if !(got < population && got > 10) || got >= prev {
			t.Errorf("E[Z | x=%d, mean=10] = %v: want within (10, %v) and decreasing in x", x, got, population)
		}
		prev = got
	}
}

func TestCDNOWGammaGammaMatchesPublished(t *testing.T) {
	in := NewFitInput(Week, cdnowCustomers(t))
	in.Canonicalize()
	n := 0
	for _, v := range in.Values {
		n += v.Count
	}
	if n != 946 {
		t.Errorf("%d repeat customers with a positive mean value, want 946", n)
	}
	m, err := FitGammaGamma(in.Values)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gamma-gamma on CDNOW: p=%.6f q=%.6f v=%.6f LL=%.4f", m.P, m.Q, m.V, m.LogLikelihood)
	// Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value":
	// p = 6.25, q = 3.74, γ = 15.44.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p", m.P, 6.25}, {"q", m.Q, 3.74}, {"v", m.V, 15.44}} {
		if math.Abs(math.Round(c.got*100)/100-c.want) > 0.01+1e-9 {
			t.Errorf("%s = %.4f, published %.2f", c.name, c.got, c.want)
		}
	}
}
