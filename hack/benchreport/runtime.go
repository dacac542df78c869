package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/ecap-dev/ecap/runtime/engine/enginebench"
)

func init() {
	measurements = append(measurements,
		measurement{"engine chain", engineChainProcesses},
		measurement{"engine state size", adapt(func() ([]enginebench.Figure, error) { return enginebench.StateBytesPerCustomer(50_000) })},
		measurement{"engine end to end", adapt(func() ([]enginebench.Figure, error) { return enginebench.EndToEnd(200_000) })},
	)
	parts = append(parts, measurement{engineChainOnce, adapt(func() ([]enginebench.Figure, error) { return enginebench.EngineChain(100_000) })})
}

const engineChainOnce = "chain rate, one process"

// engineChainProcesses runs the engine chain measurement in
// engineChainRuns fresh processes of this program, one after the other,
// and reports each figure's median. On the shared virtual machine these
// figures were measured on, the same build gives rates a third apart from
// one process to the next (its heap's placement, whatever ran before it in
// the process), more than within one process, whose five rounds the
// measurement already takes the median of. Each process's figures go to
// stderr.
func engineChainProcesses() ([]figure, error) {
	const engineChainRuns = 3
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	byName := map[string][]float64{}
	var order []figure
	for i := range engineChainRuns {
		cmd := exec.Command(exe, "-run", "^"+engineChainOnce+"$")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("engine chain process %d: %w", i+1, err)
		}
		figs, err := parseFigures(out)
		if err != nil {
			return nil, fmt.Errorf("engine chain process %d: %w", i+1, err)
		}
		for _, f := range figs {
			fmt.Fprintf(os.Stderr, "engine chain process %d: %s %.6g %s\n", i+1, f.name, f.value, f.unit)
			if _, seen := byName[f.name]; !seen {
				order = append(order, f)
			}
			byName[f.name] = append(byName[f.name], f.value)
		}
	}
	for i := range order {
		vals := byName[order[i].name]
		if len(vals) != engineChainRuns {
			return nil, fmt.Errorf("engine chain: %s came from %d of %d processes", order[i].name, len(vals), engineChainRuns)
		}
		slices.Sort(vals)
		order[i].value = vals[len(vals)/2]
	}
	return order, nil
}

// parseFigures reads `bench: <name> <value> <unit>` lines.
func parseFigures(out []byte) ([]figure, error) {
	var figs []figure
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 || fields[0] != "bench:" {
			continue
		}
		v, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", fields[1], err)
		}
		figs = append(figs, figure{fields[1], v, fields[3]})
	}
	if len(figs) == 0 {
		return nil, fmt.Errorf("no figures in %q", out)
	}
	return figs, sc.Err()
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
