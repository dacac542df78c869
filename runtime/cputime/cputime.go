// Package cputime reads the CPU time the process has used. Benchmarks and
// throughput measurements report it besides wall time, because the machines
// they run on are shared and wall time then mostly measures the neighbours.
package cputime

import "time"

// Process returns the CPU time, user plus system, this process has used so
// far; zero where the platform does not report it.
func Process() time.Duration { return process() }
