//go:build unix

package events

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the test process has used. Benchmarks
// report it per operation as well as wall time, because on a shared machine
// wall time also counts the time other processes held the CPU.
func processCPU() (time.Duration, bool) {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0, false
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano()), true
}
