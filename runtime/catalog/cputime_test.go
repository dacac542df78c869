package catalog

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time the test process has used, user and
// system. Benchmarks report it per operation ("cpu-ns/op") besides wall
// time, because the machines they run on are shared and wall time then
// mostly measures the neighbours.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
