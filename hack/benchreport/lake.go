package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ecap-dev/ecap/runtime/lake"
)

func init() {
	measurements = append(measurements, measurement{"lake commit", lakeCommit})
}

// lakeRows builds n transaction rows shaped like the generator's events.
func lakeRows(n int, base time.Time) []lake.TransactionRow {
	rows := make([]lake.TransactionRow, n)
	for i := range rows {
		c := i * 7919 % 50000
		rows[i] = lake.TransactionRow{EventID: fmt.Sprintf("evt-%08d", i), TransactionID: fmt.Sprintf("txn-%08d", i),
			CustomerID: fmt.Sprintf("cus-%06d", c), MerchantID: fmt.Sprintf("mer-%03d", i%50),
			EventTime: base.Add(time.Duration(i) * 10 * time.Millisecond), Amount: float64(i%500) + 0.99, Currency: "EUR",
			Lines: int32(1 + i%3), Units: int64(1 + i%5), Categories: []string{[]string{"books", "toys", "garden"}[i%3]},
			Brands: []string{fmt.Sprintf("brand-%d", i%7)}, Margin: float64(i%90) / 3, Country: []string{"DE", "FR", "US"}[c%3],
			City: "Somewhere", Channel: "web", PaymentMethod: "card", DeviceID: fmt.Sprintf("dev-%06d", c)}
	}
	return rows
}

// lakeCommit measures what the runtime does per checkpoint and commit on a
// local lake (a temporary directory on this machine's disk): encoding a
// file of 10,000 transactions, staging it (write, fsync, rename) and
// committing it in its own manifest version.
func lakeCommit() ([]figure, error) {
	const files, perFile = 40, 10_000
	dir, err := os.MkdirTemp("", "ecap-lake-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := lake.NewLocalStore(dir)
	if err != nil {
		return nil, err
	}
	l := lake.New(st, lake.Options{})
	ctx := context.Background()
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	batches := make([][]lake.TransactionRow, files)
	for i := range batches {
		batches[i] = lakeRows(perFile, base.Add(time.Duration(i)*time.Second))
	}
	var encode, stage, commit time.Duration
	var bytes int64
	t0 := time.Now()
	for i, rows := range batches {
		s := time.Now()
		data, err := lake.EncodeRows(rows)
		if err != nil {
			return nil, err
		}
		encode += time.Since(s)
		bytes += int64(len(data))
		part := lake.PartitionOf(rows[0].EventTime)
		e := lake.FileEntry{Path: lake.NewFileName("bench", uint64(i)), Rows: perFile, MinEventTime: rows[0].EventTime,
			MaxEventTime: rows[perFile-1].EventTime, Sources: []lake.SourceRange{{Topic: "txns", Partition: 0, First: int64(i * perFile), Last: int64((i+1)*perFile - 1)}}}
		s = time.Now()
		sf, err := l.Stage(ctx, lake.Transactions, part, e, data)
		if err != nil {
			return nil, err
		}
		stage += time.Since(s)
		s = time.Now()
		if _, err := l.Commit(ctx, lake.Transactions, part, []lake.FileEntry{sf.Entry}); err != nil {
			return nil, err
		}
		commit += time.Since(s)
	}
	total := time.Since(t0)
	rows := float64(files * perFile)
	return []figure{
		{"lake_commit_rows_per_sec", rows / total.Seconds(), "rows/s"},
		{"lake_parquet_encode_ns_per_row", float64(encode.Nanoseconds()) / rows, "ns/row"},
		{"lake_parquet_bytes_per_row", float64(bytes) / rows, "bytes/row"},
		{"lake_stage_ms_per_file", float64(stage.Microseconds()) / 1000 / files, "ms"},
		{"lake_manifest_commit_ms", float64(commit.Microseconds()) / 1000 / files, "ms"},
	}, nil
}
