package kpi

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestBufferedAddEqualsInsert: hashes added through the pending buffer
// (add) must leave the set exactly as inserting each at once does, slot for
// slot (the snapshot writes the exact table in slot order), however reads
// interleave with the adds: the count against a brute-force count while
// exact, the snapshot bytes and the sketch in both forms, and unions with
// pending hashes on either side.
func TestBufferedAddEqualsInsert(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, n := range []int{0, 1, 100, pendingMax, pendingMax + 1, exactLimit, exactLimit + 1, 3 * pendingMax, 20_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var buffered, direct customerSet
			distinct := map[uint64]bool{}
			for i := range n {
				h := rng.Uint64() % 3000 // repeats, and the hash 0
				if rng.IntN(3) == 0 {
					h = rng.Uint64()
				}
				if h == 0 {
					distinct[1] = true // stored as 1
				} else {
					distinct[h] = true
				}
				buffered.add(h)
				direct.insert(h)
				if i%997 == 0 {
					// An early read applies what is pending.
					_ = buffered.estimate()
				}
			}
			got, want := buffered.estimate(), direct.estimate()
			if got != want {
				t.Fatalf("estimate %d, inserted at once %d", got, want)
			}
			if len(distinct) <= exactLimit && got != uint64(len(distinct)) {
				t.Fatalf("exact count %d, brute force %d", got, len(distinct))
			}
			// A fresh round of adds, read only by the encoders.
			for range 50 {
				h := rng.Uint64()
				buffered.add(h)
				direct.insert(h)
			}
			gb, _ := buffered.appendBinary(nil)
			wb, _ := direct.appendBinary(nil)
			if !bytes.Equal(gb, wb) {
				t.Fatal("snapshot encodings differ")
			}
			if !bytes.Equal(buffered.sketch(), direct.sketch()) {
				t.Fatal("sketches differ")
			}

			var u1, u2, other customerSet
			for range n / 2 {
				h := rng.Uint64() % 5000
				u1.add(h)
				u2.insert(h)
				other.add(h ^ 1)
			}
			// u1 and other still hold pending hashes.
			u1.union(&other)
			u2.union(&other)
			b1, _ := u1.appendBinary(nil)
			b2, _ := u2.appendBinary(nil)
			if !bytes.Equal(b1, b2) {
				t.Fatal("unions with and without pending hashes differ")
			}
		})
	}
}
