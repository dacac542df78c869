// Package dedup drops repeated events by event ID within a sliding window of
// event time, in bounded memory, with state that can be checkpointed.
//
// A Filter remembers 64-bit xxhash digests of event IDs (no seed, so digests
// are the same in every process and after every restart) in time buckets.
// The watermark is the largest event time seen; a bucket expires once it
// lies wholly more than Window behind the watermark. An ID therefore stays
// remembered for at least Window and at most Window plus one bucket width of
// event time after its own event time, however fast or slow events arrive,
// and a replay of the same records from a checkpoint makes the same
// decisions as the first run. Processing time plays no part. Events should
// be validated first: one event stamped far in the future would move the
// watermark on and make the Filter forget its window, and the validator's
// future-skew limit prevents that.
//
// Memory is capped by MaxEntries: when the cap is reached the oldest bucket
// is dropped whole and its entries are counted as evicted. Measured memory is
// 24 bytes per remembered ID at the default cap, about 43,600 IDs per MiB
// (BenchmarkMemoryPerID; between table doublings the figure moves from about
// 35,000 to 56,000 IDs per MiB).
//
// A Filter is meant to be owned by one partition's consumer goroutine and is
// not safe for concurrent use.
package dedup
