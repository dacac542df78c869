// Package kafkaio is the runtime's Kafka layer, on segmentio/kafka-go: a
// consumer-group Source with explicit partition ownership, a Sink for
// outputs, a Changelog for per-partition state, topic set-up and consumer
// lag.
//
// # Pieces
//
//   - Client: resolved Config plus the connections everything shares.
//   - Source (GroupSource): joins the Pipeline's consumer group and calls a
//     Handler: OnAssigned at the start of each generation, OnBatch per
//     fetched batch, OnRevoked at the end. Commit stores offsets.
//   - Sink (Writer): WriteBatch returns once every record is acked by all
//     in-sync replicas.
//   - Changelog (TopicChangelog): Append to changelog partition n, Restore
//     partition n from its start to its high watermark.
//   - EnsureTopics, CompactedTopic, Lag, Ping, MeasureRawConsume.
//
// # Delivery
//
// kafka-go has no transactions, so the runtime makes outputs at-least-once
// (with IDs derived from the input event, so consumers drop duplicates) and
// state effectively-once. For each batch of partition n the engine must:
//
//  1. process the records, skipping offsets its state already includes;
//  2. Sink.WriteBatch every output derived from them;
//  3. Changelog.Append the changed state of partition n, including an
//     offset marker: per input topic, the next offset the state includes;
//  4. Source.Commit the next offsets.
//
// The order is what makes a crash at any point safe. A crash before 3
// replays the batch: outputs are written again (same IDs), the state was
// not yet updated. A crash between 3 and 4 replays the batch too, but the
// restored marker makes the engine skip it: the state does not count it
// twice, and its outputs are already durable from step 2. Appending the
// changelog before the outputs are durable would lose those outputs.
// Commits may lag (commit every few batches or on a timer); only OnRevoked
// must commit everything processed.
//
// On assignment the engine restores changelog partition n for every owned
// partition number n and returns, per input topic-partition, the greater
// of the group's committed offset and the restored marker.
//
// # Partitions, co-partitioning and threads
//
// The input topics (transactions, user events, ...) are keyed by customer
// ID with the same partitioner and partition count, so partition n of
// every input topic holds the same customers; the changelog has the same
// count and partition n holds their state. CopartitionBalancer (offered
// first, range as fallback) assigns partition numbers, so one member owns
// partition n of all topics. Each owned partition number gets one goroutine
// that calls OnBatch for all its topics in turn: per-customer state needs
// no locks. Different partition numbers are processed concurrently.
//
// # Rebalances
//
// kafka-go implements the eager protocol: every rebalance ends the
// generation for all members, who stop, revoke everything, rejoin and get
// a new assignment. The Source stops fetching, waits for OnBatch calls in
// progress, calls OnRevoked (flush and commit), and only then lets
// kafka-go rejoin; on shutdown it leaves the group from inside the
// generation so that the group rebalances once, not twice.
//
// CopartitionBalancer is sticky, so most partitions come back to the same
// member. The engine may keep the in-memory state of a partition number
// instead of restoring it when the new Assignment.Generation is exactly the
// previous generation plus one and the partition was owned in the previous
// generation and revoked cleanly: nobody else can have processed it in
// between. A larger jump means this member missed a generation (it was
// presumed dead) and must restore.
//
// # kafka-go traps handled here
//
//   - Writer.BatchTimeout defaults to 1s, and a synchronous WriteMessages
//     waits for it: Config.BatchTimeout defaults to 1ms.
//   - Writer.RequiredAcks defaults to none: the Writer and Changelog use
//     all.
//   - The Writer ignores Message.Partition: the changelog writer uses a
//     balancer that returns it.
//   - Reader with a GroupID hides rebalances and commits on its own
//     schedule (CommitInterval); the Source uses ConsumerGroup/Generation
//     and a group-less Reader per partition instead, and commits only
//     when asked.
//   - A group-less Reader dials the partition leader every minute to
//     refresh a lag gauge (ReadLagInterval); disabled.
//   - Reader.MaxWait is applied as a connection deadline minus an RTT
//     allowance (a quarter of MaxWait when MaxWait < 1s); defaults here
//     are 1 byte / 10 MiB / 250ms.
//   - The Transport caches metadata for up to 6s: a topic created by
//     another client may be "unknown" to a long-lived Client for that
//     long. EnsureTopics through the same Client refreshes it; admin
//     checks of partition counts ask a broker directly.
//   - kafka-go's sasl/scram needs github.com/xdg-go/scram, which is not in
//     this module: NewSASL uses a small RFC 5802 client of our own.
//
// Tests run against franz-go's kfake on real TCP (runtime/kafkatest).
package kafkaio
