package segmentation

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// gradientTolerance is the largest gradient infinity norm of a mean
// negative log-likelihood accepted as an optimum.
const gradientTolerance = 1e-6

// minimizeLogParams minimises a mean negative log-likelihood over log
// parameters with BFGS. Minimize runs serially, so the same objective and
// start give the same iterates bit for bit.
func minimizeLogParams(f func(theta, grad []float64) float64, start []float64) ([]float64, error) {
	// Line searches ask for the value and then the gradient at the same
	// point; computing both at once and keeping the gradient halves the work.
	var (
		cachedX    = make([]float64, len(start))
		cachedGrad = make([]float64, len(start))
		cached     bool
	)
	eval := func(theta []float64) float64 {
		v := f(theta, cachedGrad)
		copy(cachedX, theta)
		cached = true
		return v
	}
	problem := optimize.Problem{
		Func: func(theta []float64) float64 { return guardNaN(eval(theta)) },
		Grad: func(grad, theta []float64) {
			if !cached || !floats.Equal(theta, cachedX) {
				eval(theta)
			}
			copy(grad, cachedGrad)
		},
	}

	settings := &optimize.Settings{
		GradientThreshold: 1e-10,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-14, Relative: 1e-14, Iterations: 25},
		MajorIterations:   2000,
	}
	res, err := optimize.Minimize(problem, start, settings, &optimize.BFGS{})
	if res == nil {
		return nil, err
	}
	// A line search that can make no more progress is fine at an optimum:
	// judge by the gradient instead of the status.
	grad := make([]float64, len(start))
	fx := f(res.X, grad)
	if norm := floats.Norm(grad, math.Inf(1)); math.IsNaN(fx) || math.IsInf(fx, 0) || !(norm <= gradientTolerance) {
		if err == nil {
			err = fmt.Errorf("stopped with status %v", res.Status)
		}
		return nil, fmt.Errorf("no optimum found (gradient norm %.3g at %v): %w", norm, res.X, err)
	}
	for _, v := range res.X {
		if math.Abs(v) > 700 {
			return nil, fmt.Errorf("estimate diverged (log parameters %v)", res.X)
		}
	}
	return res.X, nil
}

// guardNaN turns a NaN objective, from parameters far outside the data's
// range, into +Inf so that line searches back off.
func guardNaN(v float64) float64 {
	if math.IsNaN(v) {
		return math.Inf(1)
	}
	return v
}
