package kpi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/axiomhq/hyperloglog"
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
				buffered.add(h, nil)
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
				buffered.add(h, nil)
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
				u1.add(h, nil)
				u2.insert(h)
				other.add(h^1, nil)
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

// TestSparseSketchMatchesLibrary: the sketch of an exact set must be the
// bytes the library writes for a sketch fed the same hashes and estimated,
// from empty to exactLimit hashes, with hashes whose sparse keys repeat,
// keys in both of the library's forms, and the hash 0 (stored as 1).
func TestSparseSketchMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	for _, n := range []int{0, 1, 2, 163, 164, 165, 500, exactLimit} {
		for i := range 4 {
			var c customerSet
			want := hyperloglog.New14()
			var prev uint64
			for k := range n {
				h := rng.Uint64()
				switch k % 4 {
				case 1:
					// Low bits of the sparse index all 0: the key carries
					// the rank.
					h &^= (1<<(sparsePrecision-hllPrecision) - 1) << (64 - sparsePrecision)
				case 2:
					// The sparse key of the hash before: another hash
					// of the set with the same key.
					h = prev&^(1<<(64-sparsePrecision)-1) | uint64(k)
				case 3:
					if k == 3 && i == 0 {
						h = 0
					}
				}
				prev = h
				c.insert(h)
				if h == 0 {
					h = 1
				}
				want.InsertHash(h)
			}
			if c.regs != nil {
				t.Fatalf("%d hashes: set went dense", n)
			}
			want.Estimate()
			wb, err := want.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if got := c.sketch(); !bytes.Equal(got, wb) {
				t.Fatalf("%d hashes, set %d: sketch\n%x\nlibrary\n%x", n, i, got, wb)
			}
		}
	}
}

// TestExactSnapshotIsCanonical: an exact set's snapshot holds its distinct
// hashes in ascending order, whatever order they came in and whatever the
// table's size, and restores to the same set.
func TestExactSnapshotIsCanonical(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for _, n := range []int{1, 9, 300, exactLimit} {
		hs := make([]uint64, n)
		for i := range hs {
			hs[i] = rng.Uint64()
		}
		var forward, backward, united, half customerSet
		for i, h := range hs {
			forward.insert(h)
			backward.add(hs[n-1-i], nil)
			if i%2 == 0 {
				half.add(h, nil)
			} else {
				united.insert(h)
			}
		}
		united.union(&half)
		want := []byte{0}
		want = binary.AppendUvarint(want, uint64(n))
		sorted := slices.Clone(hs)
		slices.Sort(sorted)
		for _, h := range sorted {
			want = binary.LittleEndian.AppendUint64(want, h)
		}
		for name, c := range map[string]*customerSet{"forward": &forward, "backward": &backward, "united": &united} {
			got, err := c.appendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d hashes, %s: snapshot is not the sorted hashes", n, name)
			}
			r := &reader{buf: got}
			var back customerSet
			if err := r.customerSet(&back); err != nil || back.estimate() != uint64(n) {
				t.Fatalf("%d hashes, %s: restored %d, err %v", n, name, back.estimate(), err)
			}
		}
	}
}
