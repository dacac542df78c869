package dedup

import (
	"fmt"
	"runtime"
	"testing"
	"time"
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
