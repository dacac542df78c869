// Package prefetch asks the processor to bring memory into its caches ahead
// of use, so that a cache miss the chain knows it will take (the dedup
// filter's slot for an event ID, the customer-state entry of a transaction's
// customer) overlaps with other work instead of stalling it.
//
// A prefetch is only a hint: it reads nothing into the program, never
// faults (any address may be given, a stale or nil one included) and
// changes no memory, so a missing or wrong hint costs time, never
// correctness. On amd64 it is PREFETCHT0; elsewhere it does nothing.
package prefetch

import "unsafe"

// Object asks for every cache line (64 bytes) of *p.
func Object[T any](p *T) {
	var zero T
	lines(unsafe.Pointer(p), unsafe.Sizeof(zero))
}

// Index asks for the cache line of s[i], if i is an index of s.
func Index[T any](s []T, i uint64) {
	if i < uint64(len(s)) {
		var zero T
		lines(unsafe.Pointer(&s[i]), unsafe.Sizeof(zero))
	}
}
