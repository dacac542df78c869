// Package kpi computes event-time windowed KPIs for one input partition:
// revenue, orders, units, average order value, margin and unique customers,
// per window and per dimension value, with watermarks and allowed lateness.
//
// # Windows and time
//
// Event times must lie between the years 1678 and 2262 (time.Time.UnixNano);
// the event validation keeps them near the present.
//
// Windows are Tumbling(size) or Hopping(size, advance), with size a multiple
// of advance, aligned to the Unix epoch in UTC: window starts are the
// multiples of advance. An event at time t belongs to the size/advance
// windows [s, s+size) with s <= t < s+size.
//
// The watermark is the largest event time seen minus maxOutOfOrderness; it
// never moves back and only events move it, so a replay of the same records
// from a snapshot closes the same windows with the same contents. A window
// [start, end) closes once watermark >= end + allowedLateness; Emit returns
// the closed windows' results in a fixed order (ascending end, then window in
// configuration order, then "all" before the dimensions in configuration
// order, each dimension's values in byte order with "other" last).
//
// An event is admitted into each of its windows that is still open. Events
// admitted although the watermark already passed the window's end (inside
// allowedLateness) are counted in the result's LateOrders. An event whose
// windows of one name are all closed is late for that name: it is counted in
// Stats.Late and aggregated nowhere in that window name. A Hopping event
// whose oldest windows closed but whose newer ones are open is aggregated
// into the open ones and counted in Stats.PartiallyLate.
//
// # Transactions spanning several categories
//
// The category dimension belongs to order lines, the other dimensions to the
// whole transaction. A transaction whose lines fall into several categories
// is added as one Observation per category (AddTransaction does the split):
// revenue, units and margin are the category's share, so they add up to the
// transaction's totals in every series. Orders is 1 in every split, and
// every split after the first sets Continuation: the overall series and the
// country, channel and payment_method series count the transaction once,
// while each category series counts it once as an order of that category.
// Per-category orders therefore add up to more than the overall orders when
// transactions span categories, and a category's AOV is its revenue per order
// that contained the category. AddTransaction adds the splits in one pass,
// with exactly the results of adding them one by one.
//
// # Exactness
//
// Revenue and margin are rounded to a millionth of the currency unit and
// summed as integers, so sums are exact and do not depend on arrival order or
// on the order in which partitions are merged (float64 addition is not
// associative). The engine is expected to convert amounts to one reporting
// currency first. Orders, units and late orders are exact integer counts.
//
// Unique customers are counted exactly up to 768 distinct customers per
// series (a set of 64-bit customer hashes; a collision needs billions of
// customers) and estimated beyond that with HyperLogLog
// (github.com/axiomhq/hyperloglog, precision 14: 16384 one-byte registers,
// 16 KiB, standard error 1.04/sqrt(16384) = 0.81%). Customer IDs are hashed
// with MetroHash64 seed 1337, the hash the library's serialization pins, so
// the sketches attached to results (sparse while the count is exact) can be
// united by any holder of the library; a union of small sketches stays
// practically exact because sparse sketches keep 25-bit hash prefixes.
// Beyond the exact limit a series holds the dense registers itself, in the
// library's layout and encoding, and estimates them as the library does
// (estimate.go). Customers are added to a series through a buffer and
// inserted in bulk before anything reads the set (sketch.go).
// Observations without a customer ID count in every measure but this one.
//
// # Bounded cardinality
//
// Each configured dimension gives at most MaxDimensionValues distinct values
// a series of their own; further values are folded into the value "other".
// Values are admitted in the order they first appear in the partition's
// input (offset order, not event time): first seen wins. The admitted set
// lives as long as the Aggregator and is part of its snapshot, so replays
// admit the same values. Partitions admit independently: a value may have its
// own series on one partition and fall into "other" on another, which
// downstream merges of "other" must tolerate. An empty value is reported as
// "unknown".
//
// # Results, snapshots, merging
//
// A WindowResult has a deterministic ID built from window name, start,
// dimension, value and partition, so an output written twice after a crash
// and replay is recognisable as the same record. Aggregator.MarshalBinary
// captures open windows, sketches, admitted dimension values, counters and
// the watermark; UnmarshalBinary into an Aggregator built with the same
// Config continues exactly where the snapshot was taken. Results of several
// partitions for the same window, dimension and value are combined with
// WindowResult.Merge: sums add, sketches are united.
//
// An Aggregator belongs to one partition's goroutine and is not safe for
// concurrent use.
package kpi
