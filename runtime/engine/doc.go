// Package engine is one Pipeline's data plane: a kafkaio.Handler that runs,
// per owned partition number, the stage chain
//
//	decode + validate -> dedup -> enrich -> KPI windows -> fraud -> customer state -> sinks
//
// and checkpoints the partition's state to the compacted changelog.
//
// # Commit protocol (per partition)
//
//  1. Process a fetched batch; input offsets below the state's NextOffset
//     marker are skipped entirely (the state includes them, and their
//     outputs were durable before the checkpoint that included them).
//  2. Write every output of the batch (dead letters, alerts, KPI windows,
//     enriched transactions) with acks=all. If that fails, the partition is
//     marked failed and never checkpointed again in this process.
//  3. Every State.CheckpointInterval, on revoke and on shutdown: encode, at
//     a batch boundary, the changed customers, the fraud entries changed
//     since the checkpoint slot's previous use (fraudlog.go) and a full
//     snapshot of the dedup filters, KPI aggregator and user-events,
//     feedback and control offsets (chunks under 900 KB); fraud records and
//     snapshot go to one of two alternating key slots. Append them to
//     changelog partition n and only after those are
//     acknowledged, in a second append, the Store's offset marker. The
//     appends run in the background while the partition goes on
//     processing (the encoded state is that of the batch boundary, whose
//     outputs are already durable); at most one checkpoint per partition is
//     in flight, and revoke and shutdown wait for it.
//  4. Commit the consumer offsets once the marker is durable (a failed
//     commit is harmless: on assignment the engine resumes at
//     max(committed, marker)).
//
// On assignment every owned partition is restored from its changelog
// partition before any fetch; the engine reports ready only then.
//
// # Why kill -9 neither loses nor double-counts
//
// Kill before 2 completes: nothing of the batch is in the changelog; the
// batch is replayed from the last marker, outputs are rewritten with the same
// keys and values. Kill between 2 and the marker in 3: customer records and
// a snapshot slot and fraud records may be written without their marker.
// The restore takes the marker that is durable (older), the snapshot slot
// whose offset equals it and the fraud records of the same slot (the
// alternating slots guarantee they were not overwritten), and customer
// records that may be newer than the marker; replay from the marker then
// re-applies purchases only to customers whose recorded last offset is below
// them (state.Store.Apply skips the rest), while dedup, KPI and fraud
// state, restored at exactly the marker, see the replayed records once. Kill after the marker
// but before 4: the committed offset lags, and the engine starts at the
// marker instead. State is therefore effectively-once; outputs are
// at-least-once with identical keys and values (alerts pin evaluated_at to
// the event time, KPI results carry their window ID).
//
// Limits: a replay re-validates against the wall clock (an event could cross
// maxEventAge between the runs), and a rule-set reload between a crash and
// the replay scores the replayed transactions with the new generation, under
// new alert IDs.
package engine
