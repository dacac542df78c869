// Command benchreport runs the project's measurements in one process and
// prints one `bench: <name> <value> <unit>` line per figure (make bench).
// Each area registers its measurements from its own file.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime/pprof"
)

// measurement is one named measurement that yields figures.
type measurement struct {
	name string
	run  func() ([]figure, error)
}

type figure struct {
	name  string
	value float64
	unit  string
}

// measurements are appended to by the per-area files' init functions.
var measurements []measurement

func main() {
	only := flag.String("run", "", "run only the measurements whose name matches this regular expression")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: -run: %v\n", err)
		os.Exit(2)
	}
	failed := false
	for _, m := range measurements {
		if !re.MatchString(m.name) {
			continue
		}
		figs, err := m.run()
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %s: %v\n", m.name, err)
			failed = true
			continue
		}
		for _, f := range figs {
			fmt.Printf("bench: %s %.6g %s\n", f.name, f.value, f.unit)
		}
	}
	if failed {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
