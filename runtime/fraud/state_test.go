package fraud

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
)

// busyState scores a mixed stream so that every kind of entry exists.
func busyState(t testing.TB) (*RuleSet, *State) {
	rs := mustCompile(t, sampleSpec())
	st := NewState(StateConfig{TrackChanges: true})
	for i := range 300 {
		txn := baseTxn(fmt.Sprint("b", i), t0.Add(time.Duration(i)*37*time.Second))
		txn.CustomerID = fmt.Sprint("c", i%7)
		txn.CardFingerprint = fmt.Sprint("card", i%11)
		txn.DeviceID = fmt.Sprint("dev", i%5)
		txn.MerchantID = fmt.Sprint("m", i%3)
		txn.Country = []string{"DE", "FR", "US"}[i%3]
		txn.Amount = float64(1 + i%13)
		txn.Lat += float64(i % 4)
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
	return rs, st
}

func TestCustomerStateRoundTrip(t *testing.T) {
	_, st := busyState(t)
	c := st.Customer("c3")
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back CustomerState
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	back.id, back.marks, back.ents = c.id, c.marks, c.ents // the table's key and book-keeping, not history
	if !reflect.DeepEqual(*c, back) {
		t.Errorf("round trip differs:\n%+v\n%+v", *c, back)
	}
	t.Logf("customer record: %d bytes with %d devices and %d countries", len(b), c.Devices(), c.Countries())
	if len(b) > 300 {
		t.Errorf("customer record is %d bytes; expected a compact encoding", len(b))
	}
}

func TestMerchantStateRoundTrip(t *testing.T) {
	m := MerchantState{Transactions: 12345, Alerts: 67, ConfirmedFraud: 8, ConfirmedLegit: 9, Last: t0.UnixNano()}
	b, _ := m.MarshalBinary()
	var back MerchantState
	if err := back.UnmarshalBinary(b); err != nil || back != m {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

func TestStateSnapshotRoundTrip(t *testing.T) {
	rs, st := busyState(t)
	snap, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := NewState(StateConfig{TrackChanges: true})
	if err := back.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := back.MarshalBinary()
	if !bytes.Equal(snap, again) {
		t.Error("snapshot of the restored state differs")
	}
	if st.Size() != back.Size() {
		t.Errorf("sizes differ: %+v vs %+v", st.Size(), back.Size())
	}
	t.Logf("snapshot: %d bytes for %+v", len(snap), st.Size())
	// Both states score the next transaction identically.
	txn := baseTxn("next", t0.Add(3*time.Hour))
	if a, b := rs.Features(&txn, st), rs.Features(&txn, back); !reflect.DeepEqual(a, b) {
		t.Errorf("features differ after restore:\n%+v\n%+v", a, b)
	}
}

func TestChangelogRebuildsState(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	st := NewState(StateConfig{TrackChanges: true})
	replica := NewState(StateConfig{TrackChanges: true})
	records := 0
	apply := func() {
		err := st.FlushChanges(func(key string, value []byte) error {
			records++
			return replica.Restore(key, value)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		txn := baseTxn(fmt.Sprint("x", i), t0.Add(time.Duration(i)*time.Minute))
		txn.CustomerID = fmt.Sprint("c", i%5)
		txn.CardFingerprint = fmt.Sprint("card", i%9)
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
		if i%17 == 0 {
			apply()
		}
	}
	st.ForgetCustomer("c2")
	st.Expire(t0.Add(500 * time.Minute)) // the 10m and 1h windows have all expired by now
	apply()
	a, _ := st.MarshalBinary()
	b, _ := replica.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Errorf("replica rebuilt from %d changelog records differs: %+v vs %+v", records, st.Size(), replica.Size())
	}
	if st.Customer("c2") != nil || replica.Customer("c2") != nil {
		t.Error("erased customer still present")
	}
	if n := st.Size().Entities; n != 0 {
		t.Errorf("%d entities left after every window expired", n)
	}
	// Nothing changed since: an empty flush.
	if err := st.FlushChanges(func(string, []byte) error { t.Error("unexpected record"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestFlushChangesRetriesAfterFailure(t *testing.T) {
	_, st := busyState(t)
	fail := errors.New("broker down")
	calls := 0
	err := st.FlushChanges(func(string, []byte) error {
		calls++
		if calls == 3 {
			return fail
		}
		return nil
	})
	if !errors.Is(err, fail) {
		t.Fatalf("err = %v", err)
	}
	replica := NewState(StateConfig{TrackChanges: true})
	// The records accepted before the failure are not offered again, the rest are.
	n := 0
	if err := st.FlushChanges(func(k string, v []byte) error { n++; return replica.Restore(k, v) }); err != nil {
		t.Fatal(err)
	}
	total := st.Size()
	if want := total.Customers + total.Merchants + total.Entities + total.Alerts + total.Rules - 2; n != want {
		t.Errorf("retry flushed %d records, want %d", n, want)
	}
}

func TestExpireAndTTLs(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	st := NewState(StateConfig{TrackChanges: true, CustomerTTL: 30 * 24 * time.Hour, MerchantTTL: 60 * 24 * time.Hour, AlertTTL: 7 * 24 * time.Hour})
	txn := baseTxn("a", t0)
	d := rs.Evaluate(&txn, st)
	d.AlertID, d.Hits = "alert-1", []Hit{{Rule: "card-testing"}}
	rs.Observe(&txn, st, &d)
	if st.Size().Alerts != 1 {
		t.Fatalf("alert not recorded: %+v", st.Size())
	}
	if n := st.Expire(t0.Add(time.Minute)); n != 0 {
		t.Errorf("expired %d entries a minute later", n)
	}
	st.Expire(t0.Add(8 * 24 * time.Hour))
	if z := st.Size(); z.Entities != 0 || z.Alerts != 0 || z.Customers != 1 || z.Merchants != 1 {
		t.Errorf("after 8 days: %+v, want windows and alerts gone", z)
	}
	st.Expire(t0.Add(31 * 24 * time.Hour))
	if z := st.Size(); z.Customers != 0 || z.Merchants != 1 {
		t.Errorf("after 31 days: %+v, want the customer gone", z)
	}
	st.Expire(t0.Add(61 * 24 * time.Hour))
	// Rule tallies are lifetime counters, one per rule: they stay.
	if z := st.Size(); z != (StateSize{Rules: z.Rules}) || z.Rules == 0 {
		t.Errorf("after 61 days: %+v, want empty but for the rule tallies", z)
	}
}

func TestCorruptRecordsAreRejected(t *testing.T) {
	_, st := busyState(t)
	snap, _ := st.MarshalBinary()
	for cut := 0; cut < len(snap); cut += max(1, len(snap)/200) {
		if err := NewState(StateConfig{TrackChanges: true}).UnmarshalBinary(snap[:cut]); err == nil {
			t.Fatalf("truncated snapshot (%d of %d bytes) accepted", cut, len(snap))
		}
	}
	for _, key := range []string{"", "x/1", "c", "e/9/x", "e/x", "z/1"} {
		if err := st.Restore(key, []byte{1}); err == nil {
			t.Errorf("Restore(%q) accepted", key)
		}
	}
	if err := st.Restore("c/x", []byte{2, 0}); err == nil {
		t.Error("unknown record version accepted")
	}
}

// The snapshot is every entry's changelog record, sorted by key: the same
// bytes as the records FlushChanges writes, put in key order.
func TestMarshalBinaryIsTheSortedChangelog(t *testing.T) {
	_, st := busyState(t)
	got, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ k, v string }
	var recs []rec
	if err := st.FlushChanges(func(k string, v []byte) error { recs = append(recs, rec{k, string(v)}); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) < 100 {
		t.Fatalf("only %d records", len(recs))
	}
	slices.SortFunc(recs, func(a, b rec) int { return strings.Compare(a.k, b.k) })
	want := encoder{}
	want.byte1(recordVersion)
	want.uvarint(uint64(len(recs)))
	for _, r := range recs {
		want.str(r.k)
		want.str(r.v)
	}
	if !bytes.Equal(got, want.b) {
		t.Fatalf("MarshalBinary (%d bytes) differs from the sorted changelog records (%d bytes)", len(got), len(want.b))
	}
	if numKinds > 10 {
		t.Fatal("entity kinds must stay single digits: MarshalBinary orders keys by the kind's value")
	}
}

// TestUntrackedStateKeepsNoChangeList: the engine's states (TrackChanges
// off) must not accumulate a change list, which would grow with every
// entry ever touched; with tracking on the same stream flushes records.
func TestUntrackedStateKeepsNoChangeList(t *testing.T) {
	rs := mustCompile(t, sampleSpec())
	for _, track := range []bool{false, true} {
		st := NewState(StateConfig{TrackChanges: track})
		for i := range 500 {
			txn := baseTxn(fmt.Sprint("u", i), t0.Add(time.Duration(i)*time.Minute))
			txn.CustomerID = fmt.Sprint("c", i)
			d := rs.Evaluate(&txn, st)
			rs.Observe(&txn, st, &d)
		}
		st.Expire(t0.Add(30 * 24 * time.Hour))
		flushed := 0
		if err := st.FlushChanges(func(string, []byte) error { flushed++; return nil }); err != nil {
			t.Fatal(err)
		}
		if track && flushed < 500 {
			t.Fatalf("tracked state flushed %d records, want at least one per customer", flushed)
		}
		if !track && (flushed != 0 || cap(st.dirty) != 0) {
			t.Fatalf("untracked state flushed %d records and holds a change list of capacity %d", flushed, cap(st.dirty))
		}
	}
}

// TestRecordAndKeysMatchFlush: Keys lists exactly the entries a first
// flush writes, and AppendRecord returns the value flushed for each (and a
// tombstone for an entry that is gone).
func TestRecordAndKeysMatchFlush(t *testing.T) {
	_, st := busyState(t)
	flushed := map[string][]byte{}
	if err := st.FlushChanges(func(k string, v []byte) error { flushed[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	st.Keys(func(r EntryRef) { keys[r.Key()] = true })
	if len(keys) != len(flushed) || len(keys) < 20 {
		t.Fatalf("Keys lists %d entries, the flush wrote %d", len(keys), len(flushed))
	}
	record := func(key string) ([]byte, bool) {
		r, ok := ParseEntryKey(key)
		if !ok {
			return nil, false
		}
		return st.AppendRecord(nil, r)
	}
	for k, v := range flushed {
		if !keys[k] {
			t.Fatalf("Keys misses %s", k)
		}
		got, ok := record(k)
		if !ok || !bytes.Equal(got, v) {
			t.Fatalf("Record(%s) = %x, %v; flushed %x", k, got, ok, v)
		}
	}
	st.ForgetCustomer("c3")
	if v, ok := record("c/c3"); ok || v != nil {
		t.Fatalf("Record of a forgotten customer = %x, %v", v, ok)
	}
	if _, ok := record("x/bogus"); ok {
		t.Fatal("Record of an invalid key succeeded")
	}
}

// TestTakeChangesYieldsTheFlushKeys: TakeChanges reports the keys a flush
// would write and leaves nothing for the next flush.
func TestTakeChangesYieldsTheFlushKeys(t *testing.T) {
	_, a := busyState(t)
	_, b := busyState(t)
	flushed := map[string]bool{}
	if err := a.FlushChanges(func(k string, _ []byte) error { flushed[k] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	taken := map[string]bool{}
	b.TakeChanges(func(r EntryRef) { taken[r.Key()] = true })
	if !reflect.DeepEqual(flushed, taken) || len(taken) == 0 {
		t.Fatalf("TakeChanges gave %d keys, FlushChanges wrote %d", len(taken), len(flushed))
	}
	n := 0
	_ = b.FlushChanges(func(string, []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d changes left after TakeChanges", n)
	}
}

// TestBeforeChangeKeepsTheCapturedImage: a copy-on-write capture through
// BeforeChange, as the engine takes while it writes a checkpoint out, gives
// exactly the state as of the moment the capture started, whatever changes
// meanwhile: scoring, new entries, feedback, erasure, expiry and alert
// eviction.
func TestBeforeChangeKeepsTheCapturedImage(t *testing.T) {
	spec := sampleSpec()
	spec.Rules = append(spec.Rules, rule("one-in-three", `txn.id.endsWith("1") || txn.id.endsWith("5") || txn.id.endsWith("8")`, 100, v1alpha1.RuleModeEnforce))
	rs := mustCompile(t, spec)
	var st *State
	var captured map[string][]byte // at the capture, of the entries changed since; nil: absent
	st = NewState(StateConfig{TrackChanges: true, MaxAlerts: 25, CustomerTTL: time.Hour,
		BeforeChange: func(r EntryRef, _ *Mark) {
			if _, done := captured[r.Key()]; done || captured == nil {
				return
			}
			v, _ := st.AppendRecord(nil, r)
			captured[r.Key()] = v
		}})
	image := func() map[string][]byte {
		m := map[string][]byte{}
		st.Keys(func(r EntryRef) { m[r.Key()], _ = st.AppendRecord(nil, r) })
		return m
	}
	var alerts []string
	step := func(i int) {
		at := t0.Add(time.Duration(i) * 2 * time.Minute)
		txn := baseTxn(fmt.Sprint("s", i), at)
		txn.CustomerID = fmt.Sprint("c", (i*7)%50)
		txn.CardFingerprint = fmt.Sprint("card", i%17)
		txn.DeviceID = fmt.Sprint("dev", i%23)
		txn.MerchantID = fmt.Sprint("m", i%5)
		txn.Country = []string{"DE", "FR", "US", "BR"}[i%4]
		txn.Amount = float64(5 + (i*37)%400)
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
		if d.AlertID != "" {
			alerts = append(alerts, d.AlertID)
		}
		switch {
		case i%7 == 3 && len(alerts) > 0:
			label := []Label{LabelFraud, LabelLegit}[i%2]
			if err := st.ApplyFeedback(Feedback{AlertID: alerts[len(alerts)-1-i%min(len(alerts), 5)], Label: label}, nil); err != nil && !errors.Is(err, ErrUnknownAlert) {
				t.Fatal(err)
			}
		case i%31 == 0:
			st.ForgetCustomer(fmt.Sprint("c", (i*3)%50))
		case i%37 == 0:
			st.Expire(at)
		}
	}
	var created, removed, changed int
	i := 0
	for round := range 6 {
		for end := i + 120; i < end; i++ {
			step(i)
		}
		want := image()
		st.TakeChanges(func(EntryRef) {}) // as a checkpoint does: a new epoch
		captured = map[string][]byte{}
		for end := i + 80; i < end; i++ {
			step(i)
		}
		got := image()
		for k, v := range captured {
			_, was := want[k]
			_, is := got[k]
			switch {
			case !was:
				created++
			case !is:
				removed++
			default:
				changed++
			}
			if v == nil {
				delete(got, k)
			} else {
				got[k] = v
			}
		}
		captured = nil
		if len(got) != len(want) {
			t.Fatalf("round %d: the capture holds %d entries, the state had %d", round, len(got), len(want))
		}
		for k, v := range want {
			if !bytes.Equal(got[k], v) {
				t.Fatalf("round %d: %s captured as %x, was %x", round, k, got[k], v)
			}
		}
	}
	t.Logf("%d alerts; entries captured: %d changed, %d created, %d removed", len(alerts), changed, created, removed)
	if created == 0 || removed == 0 || changed == 0 || len(alerts) < 30 {
		t.Fatal("the stream does not exercise every kind of change")
	}
}

// TestEntityGrowsPastItsFirstWindow: an entity created with room for one
// window (allocated with it) takes a second when a new generation keys a
// second window definition by the same entity, and both count on.
func TestEntityGrowsPastItsFirstWindow(t *testing.T) {
	one := scoreSpec(rule("r", "features.card_txns_10m >= 100", 1, ""))
	one.Features = []v1alpha1.VelocityFeature{
		{Name: "card_txns_10m", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "10m"},
	}
	two := one
	two.Features = append(slices.Clone(one.Features),
		v1alpha1.VelocityFeature{Name: "card_sum_1h", Aggregation: v1alpha1.AggregationSum, Field: "amount", KeyBy: v1alpha1.KeyCard, Window: "1h"})
	rs1, rs2 := mustCompile(t, one), mustCompile(t, two)
	st := NewState(StateConfig{})
	observe := func(rs *RuleSet, i int) {
		txn := baseTxn(fmt.Sprint("t", i), t0.Add(time.Duration(i)*time.Second))
		txn.Amount = 10
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
	for i := range 3 {
		observe(rs1, i)
	}
	if e := st.entities[kindCard]["card-1"]; e == nil || len(e.windows) != 1 || cap(e.windows) != 1 {
		t.Fatalf("card entity after one window definition: %+v", e)
	}
	for i := 3; i < 5; i++ {
		observe(rs2, i)
	}
	txn := baseTxn("next", t0.Add(5*time.Second))
	txn.Amount = 10
	f := rs2.Features(&txn, st)
	if f.Velocity["card_txns_10m"] != 6 || f.Velocity["card_sum_1h"] != 30 {
		t.Errorf("features after growing: %v, want 6 transactions and a sum of 30", f.Velocity)
	}
	snap, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := NewState(StateConfig{})
	if err := back.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if g := rs2.Features(&txn, back); !reflect.DeepEqual(g.Velocity, f.Velocity) {
		t.Errorf("restored features %v, want %v", g.Velocity, f.Velocity)
	}
}

// TestCustomerEntityLink: the customer's links to the entities of its
// latest transaction (CustomerState.ents, which spare a lookup per entity
// and transaction: its own customer-keyed windows, its card's) never count
// for an entity the state no longer holds or for another ID, through
// expiry, erasure, changelog restores, customers changing cards and cards
// shared by customers, and scoring through them sees what a state rebuilt
// from a snapshot, without links, sees.
func TestCustomerEntityLink(t *testing.T) {
	spec := scoreSpec(rule("r", "features.customer_txns_1h >= 3 || features.card_txns_1h >= 4", 1, ""))
	spec.Features = []v1alpha1.VelocityFeature{
		{Name: "customer_txns_1h", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCustomer, Window: "1h"},
		{Name: "card_txns_1h", Aggregation: v1alpha1.AggregationCount, KeyBy: v1alpha1.KeyCard, Window: "1h"},
	}
	rs := mustCompile(t, spec)
	st := NewState(StateConfig{CustomerTTL: 5 * time.Hour})
	other := NewState(StateConfig{})
	at := t0
	n := 0
	expired := false // Expire ran since the last transactions
	txnOf := func(c int) Transaction {
		txn := baseTxn(fmt.Sprint("t", at.UnixNano(), c), at)
		txn.CustomerID = fmt.Sprint("c", c)
		txn.CardFingerprint = fmt.Sprint("k", (c+n/5)%3) // customers change cards and share them
		return txn
	}
	check := func(step string, wantLinks bool) {
		t.Helper()
		links := 0
		for id, c := range st.customers.all() {
			for k, e := range c.ents {
				if e != nil && e.gone && expired {
					t.Fatalf("%s: customer %s still links a dropped entity of kind %d after Expire", step, id, k)
				}
				if e == nil || e.gone {
					continue
				}
				links++
				if st.entities[k][e.id] != e {
					t.Fatalf("%s: customer %s links an entity of kind %d the state does not hold under its ID %s", step, id, k, e.id)
				}
				if entityKind(k) == kindCustomer && e.id != id {
					t.Fatalf("%s: customer %s links the customer windows of %s", step, id, e.id)
				}
			}
		}
		if links == 0 && wantLinks {
			t.Fatalf("%s: no customer links an entity", step)
		}
		snap, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		fresh := NewState(StateConfig{})
		if err := fresh.UnmarshalBinary(snap); err != nil {
			t.Fatal(err)
		}
		for c := range 4 {
			txn := txnOf(c)
			if got, want := rs.Features(&txn, st).Velocity, rs.Features(&txn, fresh).Velocity; !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: customer %d sees %v, a restored state %v", step, c, got, want)
			}
		}
	}
	observe := func(st *State, c int) {
		txn := txnOf(c)
		d := rs.Evaluate(&txn, st)
		rs.Observe(&txn, st, &d)
	}
	linked := 0
	for round := range 6 {
		for i := range 12 {
			at = at.Add(time.Minute)
			n++
			if c := st.customers.get(fmt.Sprint("c", i%4)); c != nil && c.ents[kindCard] != nil {
				txn := txnOf(i % 4)
				if c.ents[kindCard].id != txn.CardFingerprint {
					linked++ // the link is to another card than this transaction's
				}
			}
			observe(st, i%4)
			observe(other, i%4)
		}
		expired = false
		check(fmt.Sprint("round ", round), true)
		switch round {
		case 0:
			// Windows of an idle customer expire; the history stays.
			at = at.Add(2 * time.Hour)
			if st.Expire(at) == 0 {
				t.Fatal("nothing expired")
			}
			expired = true
		case 1:
			st.ForgetCustomer("c1")
		case 2:
			// The changelog replaces one customer's windows and removes
			// another's.
			b, ok := other.AppendRecord(nil, EntryRef{rec: recEntity, kind: kindCustomer, id: "c2"})
			if !ok {
				t.Fatal("no record for c2")
			}
			if err := st.Restore("e/0/c2", b); err != nil {
				t.Fatal(err)
			}
			if err := st.Restore("e/0/c3", nil); err != nil {
				t.Fatal(err)
			}
			b, ok = other.AppendRecord(nil, EntryRef{rec: recEntity, kind: kindCard, id: "k1"})
			if !ok {
				t.Fatal("no record for k1")
			}
			if err := st.Restore("e/1/k1", b); err != nil {
				t.Fatal(err)
			}
		case 3:
			// Customers idle past the TTL go, their windows before them.
			at = at.Add(6 * time.Hour)
			st.Expire(at)
			expired = true
		}
		check(fmt.Sprint("after round ", round), false)
	}
	if linked == 0 {
		t.Fatal("no customer changed cards")
	}
}

// TestBeforeCreateGetsTheStatesOwnIDs: every entry a transaction creates
// (customer, merchant, entities, alert, rule tally) is announced to
// BeforeCreate, not BeforeChange, with an ID that does not point into the
// transaction's record, which the hook may therefore keep as it is.
func TestBeforeCreateGetsTheStatesOwnIDs(t *testing.T) {
	spec := scoreSpec(rule("always", "true", 10, ""), rule("never", "false", 10, ""))
	spec.Features = sampleSpec().Features
	rs := mustCompile(t, spec)
	record := []byte("c-77|card-77|dev-77|m-77|203.0.113.9")
	inRecord := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&record[0]))
		return len(s) > 0 && p >= start && p < start+uintptr(len(record))
	}
	field := func(i int) string { return strings.Split(unsafe.String(&record[0], len(record)), "|")[i] }
	var created, changed []EntryRef
	st := NewState(StateConfig{
		BeforeChange: func(r EntryRef, _ *Mark) { changed = append(changed, r) },
		BeforeCreate: func(r EntryRef, _ *Mark) { created = append(created, r) },
	})
	txn := baseTxn("t-1", t0)
	txn.CustomerID, txn.CardFingerprint, txn.DeviceID, txn.MerchantID, txn.IP = field(0), field(1), field(2), field(3), field(4)
	txn.Amount, txn.Country, txn.Lat, txn.Lon = 5000, "BR", -23.55, -46.63
	if !inRecord(txn.CustomerID) {
		t.Fatal("the test's IDs do not point into its record")
	}
	d := rs.Evaluate(&txn, st)
	rs.Observe(&txn, st, &d)
	if !d.Publish() {
		t.Fatalf("the transaction published no alert: %+v", d)
	}
	want := map[byte]int{recCustomer: 1, recMerchant: 1, recEntity: 3, recAlert: 1, recRule: len(d.Hits)}
	got := map[byte]int{}
	for _, r := range created {
		got[r.rec]++
		if inRecord(r.id) {
			t.Errorf("BeforeCreate got %s, an ID inside the event's record", r.Key())
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BeforeCreate calls by record kind %v, want %v (%v)", got, want, created)
	}
	if len(changed) != 0 {
		t.Errorf("BeforeChange called for new entries: %v", changed)
	}
	// Known entries changing in a new epoch go to BeforeChange.
	st.TakeChanges(func(EntryRef) {})
	created = created[:0]
	txn.ID, txn.EventTime = "t-2", t0.Add(time.Minute)
	d = rs.Evaluate(&txn, st)
	rs.Observe(&txn, st, &d)
	if len(changed) == 0 || slices.ContainsFunc(created, func(r EntryRef) bool { return r.rec != recAlert }) {
		t.Errorf("after TakeChanges: created %v, changed %v", created, changed)
	}
	// Removals go to BeforeRemove, also with IDs of the State's own: an
	// erasure by the event's customer ID, then expiry of everything else.
	var removed []EntryRef
	st.cfg.BeforeRemove = func(r EntryRef, _ *Mark) { removed = append(removed, r) }
	changed = changed[:0]
	if !st.ForgetCustomer(txn.CustomerID) {
		t.Fatal("nothing to forget")
	}
	st.cfg.CustomerTTL, st.cfg.MerchantTTL = time.Hour, time.Hour
	st.Expire(t0.Add(400 * 24 * time.Hour))
	got = map[byte]int{}
	for _, r := range removed {
		got[r.rec]++
		if inRecord(r.id) {
			t.Errorf("BeforeRemove got %s, an ID inside the event's record", r.Key())
		}
	}
	if want := map[byte]int{recCustomer: 1, recMerchant: 1, recEntity: 3, recAlert: 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("BeforeRemove calls by record kind %v, want %v (%v)", got, want, removed)
	}
	if len(changed) != 0 {
		t.Errorf("BeforeChange called for removed entries: %v", changed)
	}
}

// TestDuplicateSeenKeysAreRejected: a customer record whose device set
// names one device twice (which touch never writes) is refused rather
// than making lookups depend on the scan order.
func TestDuplicateSeenKeysAreRejected(t *testing.T) {
	c := CustomerState{Count: 2, devices: seenSet{{key: 7, first: 1, last: 2}, {key: 9, first: 1, last: 1}}}
	b, _ := c.MarshalBinary()
	var back CustomerState
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatalf("a valid record refused: %v", err)
	}
	c.devices[1].key = 7
	b, _ = c.MarshalBinary()
	if err := back.UnmarshalBinary(b); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("a record with a device twice: %v", err)
	}
}

// TestKeptIDsStayTheirKeys: customers and entities that Observe creates are
// kept under a copy of their ID that, when short, shares the entry's
// allocation (keepID). Through garbage collections and further changes,
// each is still found under its ID, the state's keys are exactly the IDs
// observed, and a short ID's bytes lie just before its entry, in the same
// allocation.
func TestKeptIDsStayTheirKeys(t *testing.T) {
	rs := mustCompile(t, enginetest.ChainRuleSet("t")) // windows per card and per customer
	st := NewState(StateConfig{})
	id := func(prefix string, i, n int) string {
		return (fmt.Sprint(prefix, i, "-") + strings.Repeat("x", 40))[:n]
	}
	customers, cards := map[string]bool{}, map[string]bool{}
	lengths := []int{1, 9, idRoom - 1, idRoom, idRoom + 1, 40}
	observe := func(round int) {
		for i := range 600 {
			n := lengths[i%len(lengths)]
			cid, card := id("c", i, n), id("k", i, n)
			// IDs inside a larger record, as a decoded event's are.
			rec := "{" + cid + "," + card + "}"
			txn := baseTxn(fmt.Sprint("t", round, "-", i), t0.Add(time.Duration(round*600+i)*time.Second))
			txn.CustomerID, txn.CardFingerprint = rec[1:1+len(cid)], rec[2+len(cid):2+len(cid)+len(card)]
			d := rs.Evaluate(&txn, st)
			rs.Observe(&txn, st, &d)
			customers[cid], cards[card] = true, true
		}
	}
	observe(0)
	runtime.GC()
	observe(1) // every entry changes
	runtime.GC()

	got := map[string]bool{}
	for k, c := range st.customers.all() {
		got[k] = true
		if st.Customer(strings.Clone(k)) != c {
			t.Fatalf("customer %q is not found under a copy of its key", k)
		}
		if len(k) <= idRoom {
			key, entry := uintptr(unsafe.Pointer(unsafe.StringData(k))), uintptr(unsafe.Pointer(c))
			if key+idRoom != entry {
				t.Fatalf("customer %q: key at %#x, entry at %#x: not in the entry's allocation", k, key, entry)
			}
		}
	}
	if !maps.Equal(got, customers) {
		t.Fatalf("the state holds %d customer keys, want the %d observed", len(got), len(customers))
	}
	got = map[string]bool{}
	for k, e := range st.entities[kindCard] {
		got[k] = true
		if st.entities[kindCard][strings.Clone(k)] != e {
			t.Fatalf("card %q is not found under a copy of its key", k)
		}
		if len(k) <= idRoom {
			key, entry := uintptr(unsafe.Pointer(unsafe.StringData(k))), uintptr(unsafe.Pointer(e))
			if key+idRoom != entry {
				t.Fatalf("card %q: key at %#x, entry at %#x: not in the entry's allocation", k, key, entry)
			}
		}
		if w := e.windows[0].w; len(w.buckets) == 0 || w.buckets[len(w.buckets)-1].n == 0 {
			t.Fatalf("card %q: empty window %+v", k, w)
		}
	}
	if !maps.Equal(got, cards) {
		t.Fatalf("the state holds %d card keys, want the %d observed", len(got), len(cards))
	}
}
