package lake_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/ecap-dev/ecap/runtime/lake"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func newLake(t *testing.T, s lake.Store) (*lake.Lake, *clock) {
	c := &clock{t: t0.Add(24 * time.Hour)}
	return lake.New(s, lake.Options{Prefix: "lake", Now: c.now}), c
}

func txn(i int, at time.Time, customer string) lake.TransactionRow {
	return lake.TransactionRow{EventID: fmt.Sprintf("e%04d", i), TransactionID: fmt.Sprintf("t%04d", i), CustomerID: customer,
		EventTime: at.UTC(), Amount: float64(i) + 0.25, Currency: "EUR", Lines: 1, Units: int64(i%3 + 1),
		Categories: []string{"books"}, Brands: []string{"acme", "zeta"}, Margin: 0.5, Country: "DE", City: "Berlin",
		Channel: "web", PaymentMethod: "card", DeviceID: "d1"}
}

// stage writes rows as one staged file from source partition src,
// offsets first..last.
func stage(t *testing.T, l *lake.Lake, writer string, seq uint64, src int, first, last int64, rows []lake.TransactionRow) lake.StagedFile {
	t.Helper()
	data, err := lake.EncodeRows(rows)
	must(t, err)
	e := lake.FileEntry{Path: lake.NewFileName(writer, seq), Rows: int64(len(rows)),
		MinEventTime: rows[0].EventTime, MaxEventTime: rows[len(rows)-1].EventTime,
		Sources: []lake.SourceRange{{Topic: "txns", Partition: src, First: first, Last: last}},
		Lineage: lake.Lineage{Pipeline: "shop", Generation: 3, InputTopics: []string{"txns"}}}
	sf, err := l.Stage(context.Background(), lake.Transactions, lake.PartitionOf(rows[0].EventTime), e, data)
	must(t, err)
	return sf
}

func commit(t *testing.T, l *lake.Lake, files ...lake.StagedFile) lake.CommitResult {
	t.Helper()
	entries := make([]lake.FileEntry, len(files))
	for i, f := range files {
		entries[i] = f.Entry
	}
	res, err := l.Commit(context.Background(), files[0].Dataset, files[0].Partition, entries)
	must(t, err)
	return res
}

func eventIDs(rows []lake.TransactionRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.EventID
	}
	sort.Strings(out)
	return out
}

func byEventID(rows []lake.TransactionRow) map[string]lake.TransactionRow {
	m := map[string]lake.TransactionRow{}
	for _, r := range rows {
		m[r.EventID] = r
	}
	return m
}

// TestParquetSchemas writes each dataset and reads it back, typed and
// through parquet-go's file API, checking the documented columns.
func TestParquetSchemas(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 30, 0, 123e6, time.UTC)
	check := func(t *testing.T, data []byte, want []string) {
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		must(t, err)
		var got []string
		for _, fld := range f.Schema().Fields() {
			got = append(got, fld.Name())
		}
		if !equal(got, want) {
			t.Fatalf("columns = %v, want %v", got, want)
		}
	}
	t.Run("transactions", func(t *testing.T) {
		rows := []lake.TransactionRow{txn(1, at, "c1"), txn(2, at.Add(time.Second), "c2")}
		data, err := lake.EncodeRows(rows)
		must(t, err)
		back, err := lake.DecodeRows[lake.TransactionRow](data)
		must(t, err)
		if !reflect.DeepEqual(back, rows) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, rows)
		}
		check(t, data, []string{"event_id", "transaction_id", "customer_id", "merchant_id", "event_time", "amount", "currency",
			"lines", "units", "categories", "brands", "margin", "unknown_products", "country", "city", "channel", "payment_method", "device_id"})
	})
	t.Run("user_events", func(t *testing.T) {
		rows := []lake.UserEventRow{{EventID: "u1", EventTime: at, SessionID: "s1", CustomerID: "c1", Action: "search", Query: "shoes", Channel: "web"}}
		data, err := lake.EncodeRows(rows)
		must(t, err)
		back, err := lake.DecodeRows[lake.UserEventRow](data)
		must(t, err)
		if !reflect.DeepEqual(back, rows) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, rows)
		}
		check(t, data, []string{"event_id", "event_time", "session_id", "customer_id", "action", "product_id", "query", "order_id",
			"transaction_id", "page", "channel", "device_id", "country"})
	})
	t.Run("fraud_decisions", func(t *testing.T) {
		rows := []lake.FraudDecisionRow{{AlertID: "a1", TransactionID: "t1", CustomerID: "c1", EventTime: at, RuleSet: "big", Generation: 2,
			Decision: "block", Priority: "high", Score: 120, RulesHit: []string{"big-amount", "velocity"}}}
		data, err := lake.EncodeRows(rows)
		must(t, err)
		back, err := lake.DecodeRows[lake.FraudDecisionRow](data)
		must(t, err)
		if !reflect.DeepEqual(back, rows) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, rows)
		}
		check(t, data, []string{"alert_id", "transaction_id", "customer_id", "merchant_id", "event_time", "rule_set", "generation",
			"decision", "priority", "score", "shadow_score", "rules_hit"})
	})
	t.Run("kpis", func(t *testing.T) {
		rows := []lake.KPIRow{{ID: "1m/x", Window: "1m", WindowStart: at.Truncate(time.Minute), WindowEnd: at.Truncate(time.Minute).Add(time.Minute),
			Dimension: "country", Value: "DE", Partition: 2, Revenue: 10.5, Orders: 2, Units: 3, AOV: 5.25, UniqueCustomers: 2}}
		data, err := lake.EncodeRows(rows)
		must(t, err)
		back, err := lake.DecodeRows[lake.KPIRow](data)
		must(t, err)
		if !reflect.DeepEqual(back, rows) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, rows)
		}
		check(t, data, []string{"id", "window", "window_start", "window_end", "dimension", "value", "partition", "revenue",
			"orders", "units", "aov", "margin", "unique_customers", "late_orders"})
	})
}

func TestPartitionOf(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 20, 9, 59, 59, 999e6, time.UTC), "date=2026-11-20/hour=09"},
		{time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), "date=2026-11-20/hour=10"},
		{time.Date(2026, 11, 20, 23, 30, 0, 0, time.FixedZone("x", -2*3600)), "date=2026-11-21/hour=01"},
	} {
		if got := lake.PartitionOf(tc.at); got != tc.want {
			t.Errorf("PartitionOf(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
}

// TestStagedInvisibleCommitTimeTravel: a staged file is invisible, a commit
// makes it visible as a new version, and a read as of an earlier time sees
// the earlier version.
func TestStagedInvisibleCommitTimeTravel(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			l, c := newLake(t, mk(t))
			a := stage(t, l, "w0", 1, 0, 0, 1, []lake.TransactionRow{txn(1, t0, "c1"), txn(2, t0.Add(time.Minute), "c2")})
			rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			if len(rows) != 0 {
				t.Fatalf("staged rows visible: %v", eventIDs(rows))
			}
			if res := commit(t, l, a); res.Version != 1 || len(res.Added) != 1 {
				t.Fatalf("first commit = %+v", res)
			}
			v1 := c.now()
			c.add(time.Minute)
			b := stage(t, l, "w0", 2, 0, 2, 2, []lake.TransactionRow{txn(3, t0.Add(2*time.Minute), "c3")})
			if res := commit(t, l, b); res.Version != 2 {
				t.Fatalf("second commit = %+v", res)
			}
			rows, err = lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			if got := eventIDs(rows); !equal(got, []string{"e0001", "e0002", "e0003"}) {
				t.Fatalf("latest = %v", got)
			}
			old, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{Time: v1})
			must(t, err)
			if got := eventIDs(old); !equal(got, []string{"e0001", "e0002"}) {
				t.Fatalf("as of v1 = %v", got)
			}
			m, err := l.Manifest(ctx, lake.Transactions, a.Partition, 2)
			must(t, err)
			f := m.Files[1]
			if f.Rows != 1 || f.Bytes == 0 || f.SchemaVersion != lake.SchemaVersion || f.Lineage.Pipeline != "shop" ||
				f.Lineage.Generation != 3 || f.Sources[0].First != 2 || !f.CommitTime.Equal(c.now()) || m.Committed["/shop/txns/0"] != 2 {
				t.Fatalf("manifest entry = %+v, committed %v", f, m.Committed)
			}
		})
	}
}

// TestCommitIdempotent: repeating a commit (a writer restarted from a
// snapshot that still lists its staged files) adds nothing, even after the
// files were compacted away.
func TestCommitIdempotent(t *testing.T) {
	ctx := context.Background()
	l, _ := newLake(t, mustLocal(t))
	a := stage(t, l, "w0", 1, 0, 0, 1, []lake.TransactionRow{txn(1, t0, "c1"), txn(2, t0, "c2")})
	b := stage(t, l, "w0", 2, 0, 2, 3, []lake.TransactionRow{txn(3, t0, "c1"), txn(4, t0, "c2")})
	commit(t, l, a, b)
	if res := commit(t, l, a, b); len(res.Added) != 0 || len(res.Skipped) != 2 || res.Version != 1 {
		t.Fatalf("repeated commit = %+v", res)
	}
	if _, err := l.Compact(ctx, lake.Transactions, 2, false); err != nil {
		t.Fatal(err)
	}
	if res := commit(t, l, a, b); len(res.Added) != 0 {
		t.Fatalf("commit after compaction = %+v", res)
	}
	rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
	must(t, err)
	if len(rows) != 4 {
		t.Fatalf("rows = %v", eventIDs(rows))
	}
	// Another Pipeline reading the same topic is not taken for this one.
	other := stage(t, l, "w0", 9, 0, 0, 1, []lake.TransactionRow{txn(90, t0, "c9")})
	other.Entry.Lineage.Pipeline = "shop-v2"
	if res := commit(t, l, other); len(res.Added) != 1 {
		t.Fatalf("commit of another pipeline's file = %+v", res)
	}
	// A file that no longer exists is not committed.
	c := stage(t, l, "w0", 3, 0, 4, 4, []lake.TransactionRow{txn(5, t0, "c1")})
	must(t, l.Store().Delete(ctx, "lake/transactions/"+c.Partition+"/"+c.Entry.Path))
	if res := commit(t, l, c); len(res.Missing) != 1 || len(res.Added) != 0 {
		t.Fatalf("commit of a missing file = %+v", res)
	}
}

// TestConcurrentWriters: writers of different source partitions commit into
// one date/hour partition at once; every file is committed exactly once
// and version numbers are contiguous (none written twice).
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			l, _ := newLake(t, mk(t))
			const writers, commits = 3, 8
			var wg sync.WaitGroup
			errs := make(chan error, writers*commits)
			for w := range writers {
				wg.Go(func() {
					for i := range commits {
						n := w*100 + i
						sf := stage(t, l, fmt.Sprintf("w%d", w), uint64(i), w, int64(i), int64(i), []lake.TransactionRow{txn(n, t0.Add(time.Duration(n)*time.Second), "c")})
						if _, err := l.Commit(ctx, sf.Dataset, sf.Partition, []lake.FileEntry{sf.Entry}); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			part := lake.PartitionOf(t0)
			vs, err := l.Versions(ctx, lake.Transactions, part)
			must(t, err)
			if len(vs) != writers*commits || vs[0] != 1 || vs[len(vs)-1] != writers*commits {
				t.Fatalf("versions = %v", vs)
			}
			rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			if len(rows) != writers*commits || len(byEventID(rows)) != writers*commits {
				t.Fatalf("rows = %v", eventIDs(rows))
			}
			m, err := l.Manifest(ctx, lake.Transactions, part, 0)
			must(t, err)
			for w := range writers {
				if got := m.Committed[fmt.Sprintf("/shop/txns/%d", w)]; got != commits-1 {
					t.Fatalf("committed offsets = %v", m.Committed)
				}
			}
		})
	}
}

// TestCompact merges a partition's files into one; the rows are the same,
// the old version still reads the old files.
func TestCompact(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			l, c := newLake(t, mk(t))
			var files []lake.StagedFile
			for i := range 5 {
				files = append(files, stage(t, l, "w0", uint64(i), 0, int64(2*i), int64(2*i+1),
					[]lake.TransactionRow{txn(2*i, t0.Add(time.Duration(i)*time.Minute), "c1"), txn(2*i+1, t0.Add(time.Duration(i)*time.Minute+time.Second), "c2")}))
			}
			commit(t, l, files...)
			before, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			v1 := c.now()
			c.add(time.Minute)
			dry, err := l.Compact(ctx, lake.Transactions, 2, true)
			must(t, err)
			if dry.FilesIn != 5 || dry.FilesOut != 1 || dry.Rows != 10 {
				t.Fatalf("dry run = %+v", dry)
			}
			res, err := l.Compact(ctx, lake.Transactions, 2, false)
			must(t, err)
			if res != dry {
				t.Fatalf("compact = %+v, dry run said %+v", res, dry)
			}
			after, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			if !reflect.DeepEqual(byEventID(after), byEventID(before)) || len(after) != len(before) {
				t.Fatalf("rows changed by compaction")
			}
			m, err := l.Manifest(ctx, lake.Transactions, files[0].Partition, 0)
			must(t, err)
			if len(m.Files) != 1 || m.Version != 2 || m.Operation != "compact" || m.Files[0].Rows != 10 ||
				m.Files[0].Sources[0].First != 0 || m.Files[0].Sources[0].Last != 9 ||
				!m.Files[0].MinEventTime.Equal(t0) || !m.Files[0].MaxEventTime.Equal(t0.Add(4*time.Minute+time.Second)) {
				t.Fatalf("manifest after compaction = %+v", m)
			}
			old, err := l.Files(ctx, lake.Transactions, lake.AsOf{Time: v1})
			must(t, err)
			if len(old) != 5 {
				t.Fatalf("time travel to v1 lists %d files", len(old))
			}
			oldRows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{Time: v1})
			must(t, err)
			if len(oldRows) != 10 {
				t.Fatalf("time travel to v1 reads %d rows", len(oldRows))
			}
		})
	}
}

func mustLocal(t *testing.T) lake.Store {
	s, err := lake.NewLocalStore(t.TempDir())
	must(t, err)
	return s
}
