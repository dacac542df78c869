package dedup

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// stream returns n distinct IDs shaped like event IDs, and event times one
// millisecond apart with a little disorder.
func stream(n int) ([]string, []time.Time) {
	ids := make([]string, n)
	times := make([]time.Time, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%08x-d9cb-469f-a165-%012x", i*7919, i)
		times[i] = t0.Add(time.Duration(i)*time.Millisecond - time.Duration(i%7)*time.Second)
	}
	return ids, times
}

// BenchmarkDedup measures Admit in steady state: a one-minute window over
// 1000 events per second of event time, so about 60,000 IDs are remembered
// and buckets expire continually. Every eighth event repeats a recent one.
func BenchmarkDedup(b *testing.B) {
	const n = 1 << 20
	ids, times := stream(n)
	f, err := New(Config{Window: time.Minute, Buckets: 12})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 { // warm up to steady state
		f.Admit(ids[i], times[i])
	}
	b.ReportAllocs()
	i := 100_000
	for b.Loop() {
		j := i % n
		if i%8 == 0 {
			j = (i - 100) % n
		}
		f.Admit(ids[j], times[i%n])
		i++
		if i%n == 0 {
			// Wrap around in event time too, from a fresh filter.
			b.StopTimer()
			f, _ = New(Config{Window: time.Minute, Buckets: 12})
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMemoryPerID fills a Filter with the default cap's worth of IDs,
// all inside the window, and reports the heap it holds per ID, measured by
// the runtime, and IDs per MiB. At DefaultMaxEntries (2^20) it measures
// about 43,000 IDs per MiB (24 bytes per ID): an 8-byte hash in the table
// at about half load plus 8 bytes in its bucket. Between table doublings
// the figure moves from about 35,000 to 56,000.
func BenchmarkMemoryPerID(b *testing.B) {
	const n = DefaultMaxEntries
	ids, _ := stream(n)
	hashes := make([]uint64, n)
	for i, id := range ids {
		hashes[i] = Hash(id)
	}
	ids = nil
	var bytesPerID float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f, _ := New(Config{Window: time.Hour, MaxEntries: n})
		for i, h := range hashes {
			f.admit(h, t0.Add(time.Duration(i)*time.Microsecond))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if f.Len() != n {
			b.Fatalf("Len = %d", f.Len())
		}
		bytesPerID = float64(after.HeapAlloc-before.HeapAlloc) / n
		b.ReportMetric(float64(f.MemoryBytes())/n, "est-B/ID")
		runtime.KeepAlive(f)
	}
	b.ReportMetric(bytesPerID, "B/ID")
	b.ReportMetric((1<<20)/bytesPerID, "IDs/MiB")
}

// BenchmarkMarshalBinary measures checkpointing a full default Filter.
func BenchmarkMarshalBinary(b *testing.B) {
	f, _ := New(Config{Window: time.Hour})
	for i := range DefaultMaxEntries {
		f.admit(splitmix(uint64(i)), t0.Add(time.Duration(i)*time.Microsecond))
	}
	var snap []byte
	b.ReportAllocs()
	for b.Loop() {
		snap, _ = f.MarshalBinary()
	}
	b.SetBytes(int64(len(snap)))
	b.ReportMetric(float64(len(snap))/float64(f.Len()), "snapshot-B/ID")
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	f, _ := New(Config{Window: time.Hour})
	for i := range DefaultMaxEntries {
		f.admit(splitmix(uint64(i)), t0.Add(time.Duration(i)*time.Microsecond))
	}
	snap, _ := f.MarshalBinary()
	b.SetBytes(int64(len(snap)))
	for b.Loop() {
		var g Filter
		if err := g.UnmarshalBinary(snap); err != nil {
			b.Fatal(err)
		}
	}
}

// splitmix returns well-mixed non-zero stand-ins for ID hashes.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31 | 1<<63
}

// BenchmarkRemoveBucket: one op removes a bucket of 15,000 hashes (five
// minutes at 50 events per second, as in the engine benchmark) from a table
// of 180,000 (an hour) that is out of the cache, as an expiring bucket's
// is: in arrival order, as drop did before, and grouped by table region
// (removeAll).
func BenchmarkRemoveBucket(b *testing.B) {
	for _, grouped := range []bool{false, true} {
		name := "arrival"
		if grouped {
			name = "grouped"
		}
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			var s hashSet
			all := make([]uint64, 180_000)
			for i := range all {
				all[i] = rng.Uint64() | 1
				s.add(all[i])
			}
			const bucket = 15_000
			junk := make([]byte, 8<<20) // larger than the L2 and most of an L3 share
			var scratch []uint64
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				for j := range junk {
					junk[j]++
				}
				off := (i * bucket) % (len(all) - bucket)
				var chunks [][]uint64
				for k := off; k < off+bucket; k += chunkSize {
					chunks = append(chunks, all[k:min(k+chunkSize, off+bucket)])
				}
				b.StartTimer()
				if grouped {
					scratch = s.removeAll(chunks, scratch)
				} else {
					for _, c := range chunks {
						for _, h := range c {
							s.remove(h)
						}
					}
				}
				b.StopTimer()
				for _, c := range chunks {
					for _, h := range c {
						s.add(h)
					}
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkAdmitAfterWork measures Admit in a chain, where other work comes
// between decoding an event and the lookup of its ID: a window of 200,000
// IDs (a table of megabytes, so the ID's slot is a cache miss), and work
// that does not touch it (hashing a few hundred bytes). "prepared" fetches
// the slot before the work (Prepare, AdmitHash), "plain" looks it up
// after; the difference is the miss that the work hides.
func BenchmarkAdmitAfterWork(b *testing.B) {
	const n = 1 << 20
	ids, times := stream(n)
	work := make([]byte, 384)
	for _, prepared := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "prepared"}[prepared], func(b *testing.B) {
			f, err := New(Config{Window: 200 * time.Second, Buckets: 12})
			if err != nil {
				b.Fatal(err)
			}
			for i := range 300_000 {
				f.Admit(ids[i], times[i])
			}
			i := 300_000
			var sink uint64
			for b.Loop() {
				j := i % n
				var h uint64
				if prepared {
					h = f.Prepare(ids[j])
				}
				work[0] = byte(i)
				sink += xxhash.Sum64(work)
				if prepared {
					f.AdmitHash(h, times[j])
				} else {
					f.Admit(ids[j], times[j])
				}
				i++
				if i%n == 0 {
					b.StopTimer()
					f, _ = New(Config{Window: 200 * time.Second, Buckets: 12})
					b.StartTimer()
				}
			}
			if sink == 1 {
				b.Log(sink)
			}
		})
	}
}
