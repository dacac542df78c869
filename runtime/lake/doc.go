// Package lake is ECAP's governed data lake: Parquet files in Hive-style
// partitions on an object store, made visible only through versioned
// manifests, plus the maintenance operations (compaction, expiry and
// archival, vacuum, erasure) the retention job calls.
//
// # Layout
//
// Under the lake's prefix (spec.sinks.lake.s3.prefix; the directory itself
// for a local lake):
//
//	<dataset>/date=YYYY-MM-DD/hour=HH/part-<writer>-<random>-<seq>.parquet
//	<dataset>/date=YYYY-MM-DD/hour=HH/_manifest/v<20-digit version>.json
//
// A row's partition is its event time in UTC (a KPI window's start).
// Datasets and their columns (the Row types; docs/lake.md lists them with
// their meaning): transactions (TransactionRow), user_events
// (UserEventRow), fraud_decisions (FraudDecisionRow), kpis (KPIRow). Files
// are written by parquet-go's generic writer from those structs (zstd, one
// row group) and any Parquet reader can read them; timestamps are
// TIMESTAMP(MILLIS, UTC), lists are LIST<string>.
//
// # Manifests and commits
//
// A data file exists for readers only once a manifest version lists it.
// Each version is a whole file list (Manifest) with, per file, its rows,
// bytes, min/max event time, source offsets (topic/partition -> first..last),
// schema version, lineage (Pipeline, namespace, generation, input topics)
// and commit time. A commit reads the newest version N, builds N+1 and
// writes it with Store.PutIfAbsent; if another writer took N+1 first it
// retries from the newer version. So versions are never overwritten nor
// reused, any number of writers (runtime replicas owning different Kafka
// partitions, the retention job) can commit to one partition at once, and
// a reader needs one GET for a consistent partition. Atomicity is per
// partition: a commit touching two hours is two versions.
//
// Commit is idempotent for a writer that repeats itself after a crash: each
// manifest carries, per source topic/partition, the highest offset ever
// committed, kept through compaction and erasure, and a file whose source
// ranges all lie at or below it (or whose name is listed) is skipped.
//
// # Time travel
//
// Read and Files take an AsOf: the zero value reads each partition's newest
// version, a time reads the newest version committed at or before it.
// Manifest(…, v) reads any one version. Old versions stay readable until
// Vacuum removes them; compaction and erasure write new files and leave the
// old ones in place for those versions.
//
// # Maintenance
//
// Compact merges a partition's files into one. Expire deletes or archives
// partitions older than a duration, leaving an empty marker version so the
// version counter never restarts. Vacuum drops versions beyond the newest N
// and the files only they listed, and orphan files (written, never
// committed) after a grace period. Erase rewrites every file holding given
// customers without their rows. Each has a dry run that changes nothing and
// reports the same figures.
package lake
