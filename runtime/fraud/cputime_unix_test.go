//go:build unix

package fraud

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used, user plus system, all
// threads. Benchmarks report it per operation next to wall time because
// the build machines are shared: wall time per operation stretches with
// other people's load, CPU time much less so.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
