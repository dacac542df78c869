package prefetch

import (
	"testing"
	"unsafe"
)

// TestHintsAreHarmless: a prefetch of any address, nil and past the end of
// an allocation included, neither faults nor changes memory.
func TestHintsAreHarmless(t *testing.T) {
	type big struct{ a [300]byte }
	b := &big{}
	for i := range b.a {
		b.a[i] = byte(i)
	}
	Object(b)
	Object((*big)(nil))
	Object(new(struct{})) // size 0
	s := []uint64{1, 2, 3}
	for i := range uint64(10) {
		Index(s, i) // past the end: nothing
	}
	Index([]uint64(nil), 0)
	lines(unsafe.Add(unsafe.Pointer(&s[0]), 1<<40), 1<<16) // far outside the allocation
	for i := range b.a {
		if b.a[i] != byte(i) {
			t.Fatalf("byte %d changed", i)
		}
	}
	if s[0] != 1 || s[1] != 2 || s[2] != 3 {
		t.Fatal("slice changed")
	}
}
