package main

import "github.com/ecap-dev/ecap/runtime/engine/enginebench"

func init() {
	measurements = append(measurements,
		measurement{"engine chain", adapt(func() ([]enginebench.Figure, error) { return enginebench.EngineChain(100_000) })},
		measurement{"engine state size", adapt(func() ([]enginebench.Figure, error) { return enginebench.StateBytesPerCustomer(50_000) })},
		measurement{"engine end to end", adapt(func() ([]enginebench.Figure, error) { return enginebench.EndToEnd(200_000) })},
	)
}

func adapt(fn func() ([]enginebench.Figure, error)) func() ([]figure, error) {
	return func() ([]figure, error) {
		figs, err := fn()
		out := make([]figure, len(figs))
		for i, f := range figs {
			out[i] = figure{f.Name, f.Value, f.Unit}
		}
		return out, err
	}
}
