package prefetch

import "unsafe"

// lines issues PREFETCHT0 for each cache line of [p, p+n).
//
//go:noescape
func lines(p unsafe.Pointer, n uintptr)
