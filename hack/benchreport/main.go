// Command benchreport runs the project's measurements in one process and
// prints one `bench: <name> <value> <unit>` line per figure (make bench).
// Each area registers its measurements from its own file.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/pprof"
	"runtime/trace"
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

// parts are measurements that another one runs in child processes: they
// run only when -run is given and names them.
var parts []measurement

func main() {
	only := flag.String("run", "", "run only the measurements whose name matches this regular expression")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
	traceFile := flag.String("trace", "", "write an execution trace of the whole run to this file")
	flag.Parse()
	if *traceFile != "" {
		startRecording(*traceFile, trace.Start)
		defer trace.Stop()
	}
	if *memProfile != "" {
		defer writeHeapProfile(*memProfile)
	}
	if *cpuProfile != "" {
		startRecording(*cpuProfile, pprof.StartCPUProfile)
		defer pprof.StopCPUProfile()
	}
	re, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: -run: %v\n", err)
		os.Exit(2)
	}
	failed := false
	todo := measurements
	if *only != "" {
		todo = append(todo, parts...)
	}
	for _, m := range todo {
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

// startRecording starts a recording of the whole run (CPU profile, trace)
// into a new file at path; a failure ends the program.
func startRecording(path string, start func(io.Writer) error) {
	f, err := os.Create(path)
	if err == nil {
		err = start(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(2)
	}
}

// writeHeapProfile writes the allocations sampled since the start (go tool
// pprof -sample_index=alloc_space) to path.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: -memprofile: %v\n", err)
	}
}
