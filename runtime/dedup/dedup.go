package dedup

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ecap-dev/ecap/runtime/prefetch"
)

// Defaults for zero Config fields.
const (
	DefaultWindow     = time.Hour
	DefaultBuckets    = 12
	DefaultMaxEntries = 1 << 20
)

// MaxBuckets bounds Config.Buckets.
const MaxBuckets = 1024

// Config sizes a Filter.
type Config struct {
	// Window is how long, in event time behind the watermark, an ID is
	// remembered. Zero means DefaultWindow.
	Window time.Duration
	// Buckets is the number of time buckets the window is cut into: more
	// buckets forget more precisely but cost more bookkeeping. Zero means
	// DefaultBuckets; at most MaxBuckets.
	Buckets int
	// MaxEntries caps the number of remembered IDs. Zero means
	// DefaultMaxEntries.
	MaxEntries int
}

func (c *Config) setDefaults() error {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Buckets == 0 {
		c.Buckets = DefaultBuckets
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	switch {
	case c.Window < 0:
		return fmt.Errorf("dedup: window %s is negative", c.Window)
	case c.Buckets < 0 || c.Buckets > MaxBuckets:
		return fmt.Errorf("dedup: %d buckets is outside 1 to %d", c.Buckets, MaxBuckets)
	case c.Window < time.Duration(c.Buckets):
		return fmt.Errorf("dedup: window %s is too short for %d buckets", c.Window, c.Buckets)
	case c.MaxEntries < 0:
		return fmt.Errorf("dedup: max entries %d is negative", c.MaxEntries)
	}
	return nil
}

// Stats counts what a Filter did. The counters are cumulative and are kept
// in snapshots.
type Stats struct {
	// Admitted counts IDs seen for the first time and remembered.
	Admitted uint64
	// Duplicates counts IDs refused because they were remembered.
	Duplicates uint64
	// Late counts IDs admitted without being remembered because their event
	// time was already outside the window (or before 1970).
	Late uint64
	// Expired counts IDs forgotten because the window moved past them.
	Expired uint64
	// Evicted counts IDs forgotten early to stay within MaxEntries.
	Evicted uint64
}

// chunkSize is the number of hashes per bucket chunk (4 KiB).
const chunkSize = 512

// maxSpareChunks bounds the chunks kept for reuse after buckets expire.
const maxSpareChunks = 16

// bucket holds the hashes first seen with event times in
// [key*width, (key+1)*width), in arrival order.
type bucket struct {
	key    int64
	chunks [][]uint64
	n      int
}

// Filter remembers event IDs over a window of event time. See the package
// documentation for the semantics. It is not safe for concurrent use.
type Filter struct {
	cfg          Config
	width        int64 // bucket width in nanoseconds
	set          hashSet
	live         []*bucket // ascending key
	spare        [][]uint64
	watermark    int64
	hasWatermark bool
	stats        Stats
	// expiredBelow: no bucket key below it is live, valid when expired is
	// set (expire).
	expiredBelow int64
	expired      bool
	// scratch is removeAll's, kept for the next bucket.
	scratch []uint64
}

// New returns an empty Filter.
func New(cfg Config) (*Filter, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Filter{cfg: cfg, width: int64(cfg.Window) / int64(cfg.Buckets)}, nil
}

// Config returns the Filter's configuration, defaults filled in.
func (f *Filter) Config() Config { return f.cfg }

// Hash is the digest a Filter keeps for an event ID: xxhash64 without seed,
// with 0 (the empty-slot marker) mapped to 1.
func Hash(id string) uint64 {
	if h := xxhash.Sum64String(id); h != 0 {
		return h
	}
	return 1
}

// maxTime is the last instant whose UnixNano is defined.
var maxTime = time.Unix(0, math.MaxInt64)

// Admit reports whether the event with this ID and event time should be
// processed: true the first time an ID is seen within the window, false for
// a duplicate. An admitted ID is remembered unless its event time is already
// outside the window.
func (f *Filter) Admit(id string, eventTime time.Time) bool {
	return f.admit(Hash(id), eventTime)
}

func (f *Filter) admit(h uint64, eventTime time.Time) bool {
	if f.width == 0 {
		panic("dedup: Filter used without New or UnmarshalBinary")
	}
	if eventTime.Before(time.Unix(0, 0)) || !eventTime.Before(maxTime) {
		// No nanosecond clock reading for it; it cannot be bucketed.
		if f.set.contains(h) {
			f.stats.Duplicates++
			return false
		}
		f.stats.Late++
		return true
	}
	ns := eventTime.UnixNano()
	if !f.hasWatermark || ns > f.watermark {
		f.watermark, f.hasWatermark = ns, true
		f.expire()
	}
	slot, found := f.set.find(h)
	if found {
		f.stats.Duplicates++
		return false
	}
	if !f.remember(h, ns/f.width, slot) {
		f.stats.Late++
		return true
	}
	f.stats.Admitted++
	return true
}

// minLiveKey is the oldest bucket key still inside the window: bucket k is
// expired once all of it, up to (k+1)*width, is at least Window behind the
// watermark.
func (f *Filter) minLiveKey() int64 {
	return floorDiv(f.watermark-int64(f.cfg.Window), f.width)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// remember adds h to the bucket with the given key, evicting the oldest
// bucket first if the Filter is full. slot is where the set's find put h.
// It returns false, doing nothing, if that bucket is already out of the
// window.
func (f *Filter) remember(h uint64, key int64, slot uint64) bool {
	if key < f.minLiveKey() {
		return false
	}
	evicted := false
	if f.set.n >= f.cfg.MaxEntries && len(f.live) > 0 {
		f.stats.Evicted += uint64(f.drop(0))
		evicted = true
	}
	b := f.bucketFor(key)
	if b.n%chunkSize == 0 {
		b.chunks = append(b.chunks, f.newChunk())
	}
	last := &b.chunks[len(b.chunks)-1]
	*last = append(*last, h)
	b.n++
	if evicted {
		f.set.add(h) // the table changed since find
	} else {
		f.set.addAt(slot, h)
	}
	return true
}

// bucketFor finds or creates the bucket for key. Most events belong to the
// newest bucket, so the search runs backwards.
func (f *Filter) bucketFor(key int64) *bucket {
	i := len(f.live)
	for i > 0 && f.live[i-1].key >= key {
		if f.live[i-1].key == key {
			return f.live[i-1]
		}
		i--
	}
	b := &bucket{key: key}
	f.live = append(f.live, nil)
	copy(f.live[i+1:], f.live[i:])
	f.live[i] = b
	return b
}

func (f *Filter) newChunk() []uint64 {
	if n := len(f.spare); n > 0 {
		c := f.spare[n-1]
		f.spare = f.spare[:n-1]
		return c[:0]
	}
	return make([]uint64, 0, chunkSize)
}

// expire drops the buckets that the watermark has left behind.
func (f *Filter) expire() {
	min := f.minLiveKey()
	if f.expired && min == f.expiredBelow {
		// Every bucket below min went at the last call, and remember adds
		// none below the (never falling) minLiveKey: nothing to look at,
		// not even the oldest bucket, which the watermark moving with
		// almost every event would otherwise read each time.
		return
	}
	for len(f.live) > 0 && f.live[0].key < min {
		f.stats.Expired += uint64(f.drop(0))
	}
	f.expiredBelow, f.expired = min, true
}

// drop forgets the bucket at index i of f.live and returns its size.
func (f *Filter) drop(i int) int {
	b := f.live[i]
	f.scratch = f.set.removeAll(b.chunks, f.scratch)
	for _, c := range b.chunks {
		if len(f.spare) < maxSpareChunks {
			f.spare = append(f.spare, c)
		}
	}
	f.live = append(f.live[:i], f.live[i+1:]...)
	f.set.shrink()
	return b.n
}

// Len returns the number of remembered IDs.
func (f *Filter) Len() int { return f.set.n }

// Watermark returns the largest event time seen; ok is false before the
// first event.
func (f *Filter) Watermark() (t time.Time, ok bool) {
	if !f.hasWatermark {
		return time.Time{}, false
	}
	return time.Unix(0, f.watermark).UTC(), true
}

// Stats returns the counters.
func (f *Filter) Stats() Stats { return f.stats }

// MemoryBytes estimates the memory held: the hash table and the bucket
// chunks, spares and the expiry's scratch included.
func (f *Filter) MemoryBytes() int {
	n := f.set.bytes() + len(f.spare)*chunkSize*8 + cap(f.scratch)*8
	for _, b := range f.live {
		n += len(b.chunks) * chunkSize * 8
	}
	return n
}

var errCorrupt = errors.New("dedup: corrupt snapshot")

// Prepare returns the hash of id for AdmitHash and asks the processor to
// fetch the set's slot where the lookup of that hash starts: with a window
// of a few hundred thousand IDs the table spans megabytes and the slot is
// a cache miss, which the caller can overlap with other work before it
// calls AdmitHash (nothing else it does is held up by the fetch).
func (f *Filter) Prepare(id string) uint64 {
	h := Hash(id)
	prefetch.Index(f.set.slots, h&f.set.mask)
	return h
}

// AdmitHash is Admit of the ID whose hash (Hash, or Prepare) is h.
func (f *Filter) AdmitHash(h uint64, eventTime time.Time) bool {
	return f.admit(h, eventTime)
}
