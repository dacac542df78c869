package generator

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/kafkaio"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

func TestRunToKafka(t *testing.T) {
	cluster := kafkatest.Start(t)
	topics := Topics{Transactions: "gen.transactions", UserEvents: "gen.user-events", Products: "gen.products"}
	for _, name := range []string{topics.Transactions, topics.UserEvents, topics.Products} {
		cluster.CreateTopic(t, name, 3, nil)
	}
	client, err := kafkaio.NewClient(kafkaio.Config{Brokers: cluster.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sink := NewKafkaSink(client.NewWriter(), topics)
	g := New(Config{Seed: 9, Customers: 200, BadFraction: 0.02})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Run(ctx, g, sink, RunOptions{MaxRecords: 3000}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}

	// The same seed again, to know what each topic should hold.
	want := map[events.Kind][]Record{}
	for _, rec := range take(t, New(Config{Seed: 9, Customers: 200, BadFraction: 0.02}), 3000) {
		want[rec.Topic] = append(want[rec.Topic], rec)
	}
	for _, kind := range events.Kinds {
		got := cluster.ReadAll(t, topics.For(kind))
		if len(got) != len(want[kind]) {
			t.Errorf("topic %s holds %d records, want %d", topics.For(kind), len(got), len(want[kind]))
			continue
		}
		// Partitions reorder records, but keys and values come through.
		keys := map[string]int{}
		for _, r := range want[kind] {
			keys[string(r.Key)+"\x00"+string(r.Value)]++
		}
		for _, r := range got {
			k := string(r.Key) + "\x00" + string(r.Value)
			if keys[k] == 0 {
				t.Fatalf("topic %s: unexpected record key %q value %s", topics.For(kind), r.Key, r.Value)
			}
			keys[k]--
		}
		t.Logf("topic %s: %d records", topics.For(kind), len(got))
	}
}

func TestRunToFiles(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewFileSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := New(Config{Seed: 2, Customers: 100})
	if err := Run(context.Background(), g, sink, RunOptions{MaxRecords: 2000, BatchSize: 64}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	s := g.Stats()
	for kind, name := range map[events.Kind]string{events.KindTransaction: TransactionsFile,
		events.KindUserEvent: UserEventsFile, events.KindProductUpdate: ProductsFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if _, err := events.Decode(kind, sc.Bytes()); err != nil {
				t.Fatalf("%s line %d: %v", name, lines+1, err)
			}
			lines++
		}
		if int64(lines) != s.ByKind[kind] {
			t.Errorf("%s has %d lines, Stats says %d", name, lines, s.ByKind[kind])
		}
	}
}

// TestRunLivePacing checks with a fake clock that a live run never hands
// over a record before its event time, and that --rate spaces records.
func TestRunLivePacing(t *testing.T) {
	start := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	now := start
	var slept time.Duration
	opts := RunOptions{
		MaxRecords: 500, Live: true, Rate: 100,
		Now:   func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error { now = now.Add(d); slept += d; return nil },
	}
	sink := &checkSink{t: t, now: func() time.Time { return now }}
	g := New(Config{Seed: 4, Customers: 500, Start: start, TimeScale: 200})
	if err := Run(context.Background(), g, sink, opts); err != nil {
		t.Fatal(err)
	}
	if sink.n != 500 {
		t.Errorf("sink got %d records, want 500", sink.n)
	}
	if slept < 4*time.Second {
		t.Errorf("slept %s for 500 records at 100/s, want about 5s or more", slept)
	}
}

type checkSink struct {
	t   *testing.T
	now func() time.Time
	n   int
}

func (s *checkSink) Write(_ context.Context, recs []Record) error {
	for _, r := range recs {
		if r.EventTime.After(s.now()) {
			s.t.Fatalf("record at %s written at %s, before its event time", r.EventTime, s.now())
		}
	}
	s.n += len(recs)
	return nil
}

func (s *checkSink) Close() error { return nil }
