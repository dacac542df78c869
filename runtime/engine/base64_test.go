package engine

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// TestAppendBase64: the encoder must write what base64.StdEncoding writes,
// for every length from 0 to 100 (every tail and padding case, both sides
// of the 8-byte loop's bound), for a dense sketch's length, and for every
// 12-bit group of every position (random bytes hit each table entry).
func TestAppendBase64(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	lengths := []int{16392, 16393, 16394, 1 << 16}
	for n := range 101 {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for range 20 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			want := base64.StdEncoding.AppendEncode([]byte("head"), src)
			got := appendBase64([]byte("head"), src)
			if !bytes.Equal(got, want) {
				t.Fatalf("length %d:\n got %s\nwant %s", n, got, want)
			}
		}
	}
	// Every byte value at every offset of a 6-byte group.
	for off := range 6 {
		for v := range 256 {
			src := make([]byte, 14)
			src[off] = byte(v)
			src[off+6] = byte(255 - v)
			if got, want := appendBase64(nil, src), base64.StdEncoding.AppendEncode(nil, src); !bytes.Equal(got, want) {
				t.Fatalf("byte %#x at %d: got %s, want %s", v, off, got, want)
			}
		}
	}
}

// BenchmarkAppendBase64: a dense customer sketch's 16,392 bytes.
func BenchmarkAppendBase64(b *testing.B) {
	src := make([]byte, 16392)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := make([]byte, 0, base64.StdEncoding.EncodedLen(len(src)))
	b.SetBytes(int64(len(src)))
	b.Run("appendBase64", func(b *testing.B) {
		for range b.N {
			dst = appendBase64(dst[:0], src)
		}
	})
	b.Run("library", func(b *testing.B) {
		for range b.N {
			dst = base64.StdEncoding.AppendEncode(dst[:0], src)
		}
	})
}
