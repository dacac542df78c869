package retention

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/lake"
)

// TestSelectDatasets: names match exactly, patterns are anchored, and
// what matches nothing the lake sink writes is reported.
func TestSelectDatasets(t *testing.T) {
	have := []lake.Dataset{lake.Transactions, lake.UserEvents, lake.KPIs}
	for _, tc := range []struct {
		name      string
		sel       v1alpha1.TargetSelector
		chosen    []lake.Dataset
		unmatched []string
	}{
		{"names", v1alpha1.TargetSelector{Names: []string{"kpis", "transactions"}}, []lake.Dataset{lake.Transactions, lake.KPIs}, nil},
		{"unknown name", v1alpha1.TargetSelector{Names: []string{"transactions", "fraud_decisions"}}, []lake.Dataset{lake.Transactions}, []string{"fraud_decisions"}},
		{"anchored pattern", v1alpha1.TargetSelector{Pattern: "events"}, nil, []string{"pattern events"}},
		{"pattern", v1alpha1.TargetSelector{Pattern: ".*_events|kpis"}, []lake.Dataset{lake.UserEvents, lake.KPIs}, nil},
		{"names and pattern", v1alpha1.TargetSelector{Names: []string{"kpis"}, Pattern: "trans.*"}, []lake.Dataset{lake.Transactions, lake.KPIs}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chosen, unmatched, err := SelectDatasets(tc.sel, have)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(chosen, tc.chosen) || !reflect.DeepEqual(unmatched, tc.unmatched) {
				t.Fatalf("got %v, unmatched %v; want %v, %v", chosen, unmatched, tc.chosen, tc.unmatched)
			}
		})
	}
	if _, _, err := SelectDatasets(v1alpha1.TargetSelector{Pattern: "(["}, have); err == nil || !strings.Contains(err.Error(), "selector.pattern") {
		t.Fatalf("bad pattern: %v", err)
	}
}

// TestLakeErasureFinishesEarlierVacuum: a run whose vacuum did not happen
// after its rewrite (simulated by erasing without one) leaves the rows in
// older versions; the next LakeErasure finds nothing to rewrite but
// vacuums those versions, so no object holds the customer, while a
// partition never erased keeps its history.
func TestLakeErasureFinishesEarlierVacuum(t *testing.T) {
	ctx := context.Background()
	st, err := lake.NewLocalStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	l := lake.New(st, lake.Options{Now: func() time.Time { return t0.Add(24 * time.Hour) }})
	seq := 0
	for h, customers := range [][]string{{"a", "b"}, {"a", "c"}} {
		for f := range 2 {
			var rows []lake.TransactionRow
			for i, c := range customers {
				rows = append(rows, lake.TransactionRow{EventID: fmt.Sprintf("e%d%d%d", h, f, i), CustomerID: c, Currency: "EUR",
					EventTime: t0.Add(time.Duration(h)*time.Hour + time.Duration(f*10+i)*time.Minute)})
			}
			seq++
			data, err := lake.EncodeRows(rows)
			if err != nil {
				t.Fatal(err)
			}
			part := lake.PartitionOf(rows[0].EventTime)
			sf, err := l.Stage(ctx, lake.Transactions, part, lake.FileEntry{Path: lake.NewFileName("p0", uint64(seq)), Rows: int64(len(rows)),
				SchemaVersion: lake.SchemaVersion, MinEventTime: rows[0].EventTime, MaxEventTime: rows[len(rows)-1].EventTime,
				Sources: []lake.SourceRange{{Topic: "txns", First: int64(10 * seq), Last: int64(10*seq + 9)}}}, data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Commit(ctx, lake.Transactions, part, []lake.FileEntry{sf.Entry}); err != nil {
				t.Fatal(err)
			}
		}
	}
	holders := func() []string {
		objs, err := st.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			if !strings.HasSuffix(o.Key, ".parquet") {
				continue
			}
			data, err := st.Get(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := lake.DecodeRows[lake.TransactionRow](data)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.CustomerID == "b" {
					out = append(out, o.Key)
				}
			}
		}
		return out
	}
	if _, err := l.Erase(ctx, lake.Transactions, []string{"b"}, false); err != nil {
		t.Fatal(err)
	}
	if len(holders()) == 0 {
		t.Fatal("the old versions should still hold the rows before the vacuum")
	}
	run := &Run{Now: t0.Add(24 * time.Hour)}
	out, err := (&LakeErasure{Lake: l, Dataset: lake.Transactions, CustomerIDs: []string{"b"}}).Enforce(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if out.RowsErased != 0 || out.BytesFreed == 0 || !strings.Contains(out.Message, "versions before the erasure vacuumed") {
		t.Fatalf("outcome = %+v", out)
	}
	if h := holders(); len(h) != 0 {
		t.Fatalf("still holding the erased customer: %v", h)
	}
	for h, want := range []int{1, 2} {
		vs, err := l.Versions(ctx, lake.Transactions, lake.PartitionOf(t0.Add(time.Duration(h)*time.Hour)))
		if err != nil || len(vs) != want {
			t.Fatalf("hour %d: versions %v (%v), want %d", h, vs, err, want)
		}
	}
}
