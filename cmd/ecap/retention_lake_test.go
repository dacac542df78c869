package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine"
	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/lake/laketest"
)

// TestRetentionOpensLakeWithRuntimeCredentials: `ecap retention` opens an
// S3 lake with the key pair from the environment variables the CronJob's
// pod gets from the credentials Secret (as the runtime does), on the run's
// clock, and without them fails naming the field and the variables.
func TestRetentionOpensLakeWithRuntimeCredentials(t *testing.T) {
	s3 := laketest.NewS3(t, "lake")
	p := &v1alpha1.Pipeline{Spec: v1alpha1.PipelineSpec{
		Kafka: v1alpha1.KafkaSpec{Brokers: []string{"kafka:9092"}, SASL: &v1alpha1.KafkaSASL{Mechanism: "PLAIN",
			Credentials: v1alpha1.CredentialsSource{SecretRef: &v1alpha1.SecretCredentials{Name: "kafka-user"}}}},
		Sinks: v1alpha1.SinksSpec{Lake: &v1alpha1.LakeSink{Datasets: []v1alpha1.LakeDataset{"transactions"},
			S3: &v1alpha1.S3Lake{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: "shop", Region: "us-east-1", Insecure: true,
				Credentials: v1alpha1.CredentialsSource{SecretRef: &v1alpha1.SecretCredentials{Name: "lake-keys"}}}}},
	}}
	ls := &engine.LakeSettings{Datasets: map[lake.Dataset]bool{lake.Transactions: true}, S3: p.Spec.Sinks.Lake.S3}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	runAt := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

	t.Setenv(envS3AccessKey, "")
	t.Setenv(envS3SecretKey, "")
	_, err := openRetentionLake(ctx, p, ls, func() time.Time { return runAt }, vaultTuning{}, time.Second, log)
	if err == nil || !strings.Contains(err.Error(), "pipeline.spec.sinks.lake.s3.credentials") || !strings.Contains(err.Error(), envS3AccessKey) {
		t.Fatalf("without keys: %v", err)
	}

	t.Setenv(envS3AccessKey, laketest.AccessKey)
	t.Setenv(envS3SecretKey, laketest.SecretKey)
	l, err := openRetentionLake(ctx, p, ls, func() time.Time { return runAt }, vaultTuning{}, time.Second, log)
	if err != nil {
		t.Fatal(err)
	}
	row := lake.TransactionRow{EventID: "e1", TransactionID: "t1", CustomerID: "c1", EventTime: runAt.Add(-48 * time.Hour), Currency: "EUR"}
	data, err := lake.EncodeRows([]lake.TransactionRow{row})
	if err != nil {
		t.Fatal(err)
	}
	part := lake.PartitionOf(row.EventTime)
	sf, err := l.Stage(ctx, lake.Transactions, part, lake.FileEntry{Path: lake.NewFileName("p0", 1), Rows: 1, SchemaVersion: lake.SchemaVersion,
		MinEventTime: row.EventTime, MaxEventTime: row.EventTime}, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Commit(ctx, lake.Transactions, part, []lake.FileEntry{sf.Entry}); err != nil {
		t.Fatal(err)
	}
	// The lake's clock is the run's: a day-old partition expires after 1d
	// on it, whatever the wall clock says.
	res, err := l.Expire(ctx, lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: 24 * time.Hour, Action: lake.ExpireDelete, DryRun: true})
	if err != nil || len(res.Partitions) != 1 {
		t.Fatalf("expire on the run's clock = %+v, %v", res, err)
	}
	objs, err := s3.Store(t).List(ctx, "shop/transactions/")
	if err != nil || len(objs) == 0 {
		t.Fatalf("objects under the Pipeline's prefix: %v, %v", objs, err)
	}
}
