package lake_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/lake"
)

// listing is every object of a store with its size and content, to prove a
// dry run changes nothing.
func listing(t *testing.T, s lake.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	objs, err := s.List(ctx, "")
	must(t, err)
	out := map[string]string{}
	for _, o := range objs {
		data, err := s.Get(ctx, o.Key)
		must(t, err)
		out[o.Key] = string(data)
	}
	return out
}

// fillHours commits two files into each of the given hours after t0.
func fillHours(t *testing.T, l *lake.Lake, hours ...int) {
	for _, h := range hours {
		at := t0.Add(time.Duration(h) * time.Hour)
		a := stage(t, l, "w0", uint64(2*h), 0, int64(10*h), int64(10*h+1), []lake.TransactionRow{txn(10*h, at, "c1"), txn(10*h+1, at.Add(time.Minute), "c2")})
		b := stage(t, l, "w1", uint64(2*h+1), 1, int64(10*h), int64(10*h), []lake.TransactionRow{txn(10*h+2, at.Add(30*time.Minute), "c3")})
		commit(t, l, a)
		commit(t, l, b)
	}
}

// TestExpire with a fake clock: exactly the partitions whose hour ended
// more than olderThan ago go; archive moves them intact; dry runs change
// nothing.
func TestExpire(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			l, c := newLake(t, s)
			fillHours(t, l, 0, 1, 2, 3)
			c.t = t0.Add(4 * time.Hour) // hours 0..3 end at +1h..+4h
			// olderThan 2h: cutoff t0+2h, hours 0 and 1 have ended by then.
			before := listing(t, s)
			dry, err := l.Expire(ctx, lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: 2 * time.Hour, Action: lake.ExpireArchive, ArchivePrefix: "archive", DryRun: true})
			must(t, err)
			if !reflect.DeepEqual(listing(t, s), before) {
				t.Fatal("dry run changed the store")
			}
			want := []string{lake.PartitionOf(t0), lake.PartitionOf(t0.Add(time.Hour))}
			if !equal(dry.Partitions, want) || dry.BytesFreed == 0 {
				t.Fatalf("dry run = %+v, want partitions %v", dry, want)
			}
			oldRows := map[string][]lake.TransactionRow{}
			for _, p := range want {
				oldRows[p] = readPartition(t, l, p)
			}
			res, err := l.Expire(ctx, lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: 2 * time.Hour, Action: lake.ExpireArchive, ArchivePrefix: "archive"})
			must(t, err)
			if !reflect.DeepEqual(res, dry) {
				t.Fatalf("expire = %+v, dry run said %+v", res, dry)
			}
			rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			if got := eventIDs(rows); !equal(got, []string{"e0020", "e0021", "e0022", "e0030", "e0031", "e0032"}) {
				t.Fatalf("rows left = %v", got)
			}
			// The archive is a lake of its own and reads identically.
			arch := lake.New(s, lake.Options{Prefix: "archive"})
			for _, p := range want {
				got := readPartition(t, arch, p)
				if !reflect.DeepEqual(byEventID(got), byEventID(oldRows[p])) || len(got) != 3 {
					t.Fatalf("archived %s reads %v, want %v", p, eventIDs(got), eventIDs(oldRows[p]))
				}
			}
			// Only the empty marker version is left in an expired partition,
			// and a later commit continues its version count.
			objs, err := s.List(ctx, "lake/transactions/"+want[0]+"/")
			must(t, err)
			if len(objs) != 1 || !strings.HasSuffix(objs[0].Key, "v00000000000000000003.json") {
				t.Fatalf("left in expired partition: %v", keysOf(objs))
			}
			late := stage(t, l, "w0", 99, 0, 1000, 1000, []lake.TransactionRow{txn(99, t0, "c9")})
			if r := commit(t, l, late); r.Version != 4 {
				t.Fatalf("commit after expiry wrote version %d, want 4", r.Version)
			}
			// Expiring again finds the late file only.
			c.add(time.Hour)
			res, err = l.Expire(ctx, lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: 2 * time.Hour, Action: lake.ExpireDelete})
			must(t, err)
			if !equal(res.Partitions, []string{want[0], lake.PartitionOf(t0.Add(2 * time.Hour))}) {
				t.Fatalf("second expiry = %+v", res)
			}
		})
	}
}

func readPartition(t *testing.T, l *lake.Lake, part string) []lake.TransactionRow {
	t.Helper()
	ctx := context.Background()
	m, err := l.Manifest(ctx, lake.Transactions, part, 0)
	must(t, err)
	var out []lake.TransactionRow
	files, err := l.Files(ctx, lake.Transactions, lake.AsOf{})
	must(t, err)
	for _, f := range files {
		if f.Partition != part || f.Version != m.Version {
			continue
		}
		data, err := l.Store().Get(ctx, f.Key)
		must(t, err)
		rows, err := lake.DecodeRows[lake.TransactionRow](data)
		must(t, err)
		out = append(out, rows...)
	}
	return out
}

func TestExpireRefusesBadOptions(t *testing.T) {
	l, _ := newLake(t, mustLocal(t))
	for _, tc := range []struct {
		o    lake.ExpireOptions
		want string
	}{
		{lake.ExpireOptions{Dataset: lake.Transactions, Action: lake.ExpireDelete}, "olderThan"},
		{lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: time.Hour, Action: "shred"}, "action"},
		{lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: time.Hour, Action: lake.ExpireArchive}, "archivePrefix"},
		{lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: time.Hour, Action: lake.ExpireArchive, ArchivePrefix: "/lake/"}, "archivePrefix"},
	} {
		if _, err := l.Expire(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Expire(%+v) = %v, want an error naming %s", tc.o, err, tc.want)
		}
	}
}

// TestVacuum keeps the newest versions and the files they list, deletes
// files only dropped versions listed, and orphans after the grace period.
func TestVacuum(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			l, c := newLake(t, s)
			fillHours(t, l, 0)                                    // versions 1, 2 with 2 files
			_, err := l.Compact(ctx, lake.Transactions, 2, false) // version 3, 1 file
			must(t, err)
			orphan := stage(t, l, "w9", 1, 9, 0, 0, []lake.TransactionRow{txn(500, t0, "c5")}) // never committed
			part := lake.PartitionOf(t0)
			if _, err := l.Vacuum(ctx, lake.VacuumOptions{Dataset: lake.Transactions}); err == nil || !strings.Contains(err.Error(), "keepVersions") {
				t.Fatalf("keepVersions 0 accepted: %v", err)
			}
			before := listing(t, s)
			dry, err := l.Vacuum(ctx, lake.VacuumOptions{Dataset: lake.Transactions, KeepVersions: 1, OrphanGrace: time.Hour, DryRun: true})
			must(t, err)
			if !reflect.DeepEqual(listing(t, s), before) {
				t.Fatal("dry run changed the store")
			}
			if dry.ManifestsDeleted != 2 || dry.FilesDeleted != 2 {
				t.Fatalf("dry run = %+v", dry)
			}
			res, err := l.Vacuum(ctx, lake.VacuumOptions{Dataset: lake.Transactions, KeepVersions: 1, OrphanGrace: time.Hour})
			must(t, err)
			if res != dry {
				t.Fatalf("vacuum = %+v, dry run said %+v", res, dry)
			}
			objs, err := s.List(ctx, "lake/transactions/"+part+"/")
			must(t, err)
			// v3, its compacted file, and the young orphan.
			if len(objs) != 3 {
				t.Fatalf("left: %v", keysOf(objs))
			}
			rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			if len(rows) != 3 {
				t.Fatalf("rows after vacuum = %v", eventIDs(rows))
			}
			// The orphan goes once it is older than the grace period. Local
			// files carry the real mtime, so the fake clock moves past it.
			c.t = time.Now().Add(2 * time.Hour)
			res, err = l.Vacuum(ctx, lake.VacuumOptions{Dataset: lake.Transactions, KeepVersions: 1, OrphanGrace: time.Hour})
			must(t, err)
			if res.FilesDeleted != 1 || res.ManifestsDeleted != 0 {
				t.Fatalf("second vacuum = %+v", res)
			}
			if _, err := s.Stat(ctx, "lake/transactions/"+part+"/"+orphan.Entry.Path); err == nil {
				t.Fatal("orphan still there")
			}
		})
	}
}

// TestErase removes exactly the named customers' rows; every other row
// decodes identically, and a dry run changes nothing.
func TestErase(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			l, _ := newLake(t, s)
			fillHours(t, l, 0, 1)
			// A file with only the erased customer disappears entirely.
			only := stage(t, l, "w2", 1, 2, 0, 0, []lake.TransactionRow{txn(77, t0, "c1")})
			commit(t, l, only)
			before, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			snap := listing(t, s)
			dry, err := l.Erase(ctx, lake.Transactions, []string{"c1", "nobody"}, true)
			must(t, err)
			if !reflect.DeepEqual(listing(t, s), snap) {
				t.Fatal("dry run changed the store")
			}
			if dry.RowsErased != 3 || dry.FilesRewritten != 3 || dry.Partitions != 2 {
				t.Fatalf("dry run = %+v", dry)
			}
			res, err := l.Erase(ctx, lake.Transactions, []string{"c1", "nobody"}, false)
			must(t, err)
			if !reflect.DeepEqual(res, dry) || len(res.PartitionNames) != 2 {
				t.Fatalf("erase = %+v, dry run said %+v", res, dry)
			}
			after, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
			must(t, err)
			want := map[string]lake.TransactionRow{}
			for id, r := range byEventID(before) {
				if r.CustomerID != "c1" {
					want[id] = r
				}
			}
			if !reflect.DeepEqual(byEventID(after), want) || len(after) != len(want) {
				t.Fatalf("after erase: %v, want %v", eventIDs(after), keys(want))
			}
			// Erasure is then made final by vacuuming the older versions.
			_, err = l.Vacuum(ctx, lake.VacuumOptions{Dataset: lake.Transactions, KeepVersions: 1})
			must(t, err)
			objs, err := s.List(ctx, "lake/")
			must(t, err)
			for _, o := range objs {
				if !strings.HasSuffix(o.Key, ".parquet") {
					continue
				}
				data, err := s.Get(ctx, o.Key)
				must(t, err)
				rows, err := lake.DecodeRows[lake.TransactionRow](data)
				must(t, err)
				for _, r := range rows {
					if r.CustomerID == "c1" {
						t.Fatalf("%s still holds a row of c1", o.Key)
					}
				}
			}
			// KPIs have no customers: nothing to erase.
			if r, err := l.Erase(ctx, lake.KPIs, []string{"c1"}, false); err != nil || r.RowsErased != 0 {
				t.Fatalf("erase kpis = %+v, %v", r, err)
			}
		})
	}
}

func keys(m map[string]lake.TransactionRow) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestExpireArchiveToAnotherStore moves expired partitions into another
// store (another bucket) under the same prefix; they read identically there.
func TestExpireArchiveToAnotherStore(t *testing.T) {
	ctx := context.Background()
	src := mustLocal(t)
	dst := stores(t)["s3"](t)
	l, c := newLake(t, src)
	fillHours(t, l, 0, 5)
	c.t = t0.Add(6 * time.Hour)
	old := readPartition(t, l, lake.PartitionOf(t0))
	res, err := l.Expire(ctx, lake.ExpireOptions{Dataset: lake.Transactions, OlderThan: 3 * time.Hour, Action: lake.ExpireArchive,
		ArchivePrefix: "lake", ArchiveStore: dst})
	must(t, err)
	if !equal(res.Partitions, []string{lake.PartitionOf(t0)}) {
		t.Fatalf("expired %v", res.Partitions)
	}
	arch := lake.New(dst, lake.Options{Prefix: "lake"})
	got := readPartition(t, arch, lake.PartitionOf(t0))
	if !reflect.DeepEqual(byEventID(got), byEventID(old)) || len(got) != 3 {
		t.Fatalf("archive reads %v, want %v", eventIDs(got), eventIDs(old))
	}
	rows, err := lake.Read[lake.TransactionRow](ctx, l, lake.Transactions, lake.AsOf{})
	must(t, err)
	if got := eventIDs(rows); !equal(got, []string{"e0050", "e0051", "e0052"}) {
		t.Fatalf("left in the lake: %v", got)
	}
}
