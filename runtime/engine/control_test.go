package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/audit"
	"github.com/ecap-dev/ecap/runtime/catalog"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
	"github.com/ecap-dev/ecap/runtime/segmentation"
	"github.com/ecap-dev/ecap/runtime/state"
)

func TestDecodeControl(t *testing.T) {
	cases := map[string]struct {
		in            string
		reason, field string
	}{
		"erase":           {`{"request_id":"r","seq":1,"action":"EraseCustomer","customer_id":"c"}`, "", ""},
		"forget":          {`{"request_id":"r","action":"ForgetInactive","inactive_before":"2026-01-01T00:00:00Z","dry_run":true}`, "", ""},
		"broken":          {`{"request_id":`, events.ReasonMalformedJSON, ""},
		"unknown field":   {`{"request_id":"r","action":"EraseCustomer","customer_id":"c","x":1}`, events.ReasonMalformedJSON, ""},
		"no request":      {`{"action":"EraseCustomer","customer_id":"c"}`, events.ReasonMissingField, "request_id"},
		"no customer":     {`{"request_id":"r","action":"EraseCustomer"}`, events.ReasonMissingField, "customer_id"},
		"no cutoff":       {`{"request_id":"r","action":"ForgetInactive"}`, events.ReasonMissingField, "inactive_before"},
		"unknown action":  {`{"request_id":"r","action":"Shred","customer_id":"c"}`, events.ReasonInvalidEnum, "action"},
		"wrong type":      {`{"request_id":"r","seq":"one","action":"EraseCustomer","customer_id":"c"}`, events.ReasonWrongType, "seq"},
		"trailing object": {`{"request_id":"r","action":"EraseCustomer","customer_id":"c"} {}`, events.ReasonMalformedJSON, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeControl([]byte(tc.in))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			rej, ok := err.(*events.Rejection)
			if !ok || rej.Reason != tc.reason || rej.Field != tc.field {
				t.Fatalf("got %v, want a rejection %s at %q", err, tc.reason, tc.field)
			}
		})
	}
}

// TestSnapshotWithoutControlOffsetDecodes: snapshots written before the
// control topic existed end after the feedback offset; they restore with
// control offset 0, and a new snapshot carries the offset through.
func TestSnapshotWithoutControlOffsetDecodes(t *testing.T) {
	s, err := Resolve(testRuntimeConfig([]string{"localhost:9092"}))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newPartition(&s, 0)
	p.nextUE, p.nextFB, p.nextCtl = 11, 22, 33
	blob, err := encodeSnapshot(p)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := newPartition(&s, 0)
	if err := decodeSnapshot(q, blob); err != nil || q.nextUE != 11 || q.nextFB != 22 || q.nextCtl != 33 {
		t.Fatalf("round trip: %v, offsets %d %d %d", err, q.nextUE, q.nextFB, q.nextCtl)
	}
	// The layout ends with the control offset (varint 33: one byte) and the
	// staged lake files (none: one length byte).
	if blob[len(blob)-1] != 0 {
		t.Fatalf("snapshot does not end with an empty lake blob: % x", blob[len(blob)-4:])
	}
	old := blob[:len(blob)-2]
	r, _ := newPartition(&s, 0)
	if err := decodeSnapshot(r, old); err != nil || r.nextFB != 22 || r.nextCtl != 0 {
		t.Fatalf("old snapshot: %v, feedback %d control %d", err, r.nextFB, r.nextCtl)
	}
}

// compactedChangelog returns the compacted view of every changelog
// partition.
func compactedChangelog(t *testing.T, env *testEnv) map[string]kafkatest.Record {
	return kafkatest.Compacted(env.cluster.ReadAll(t, env.s.Changelog))
}

// auditRecords reads the audit topic.
func auditRecords(t *testing.T, c *kafkatest.Cluster, topic string) []audit.Record {
	var out []audit.Record
	for _, r := range c.ReadAll(t, topic) {
		var a audit.Record
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("audit record %q: %v", r.Value, err)
		}
		if string(r.Key) != a.RequestID {
			t.Errorf("audit record keyed %q, request %q", r.Key, a.RequestID)
		}
		out = append(out, a)
	}
	return out
}

func waitAudit(t *testing.T, c *kafkatest.Cluster, topic, requestID string, n int) []audit.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []audit.Record
		for _, a := range auditRecords(t, c, topic) {
			if a.RequestID == requestID {
				got = append(got, a)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s: %d audit records, want %d", requestID, len(got), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func controlRecord(t *testing.T, cr ControlRecord) []byte {
	b, err := json.Marshal(cr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// holdsBytes reports whether any key or value of the records contains b.
func holdsBytes(recs map[string]kafkatest.Record, b []byte) bool {
	for _, r := range recs {
		if bytes.Contains(r.Key, b) || bytes.Contains(r.Value, b) {
			return true
		}
	}
	return false
}

// TestEngineErasesCustomer: an EraseCustomer request keyed by the customer
// reaches the partition that owns it, which removes the customer from the
// Store, every fraud state and the profile topic, and forces checkpoints
// until neither the compacted changelog nor the profile topic holds the
// customer's ID anywhere; every other customer's records stay
// byte-identical. A restart neither resurrects the customer nor applies the
// request again; a dry run changes nothing and counts.
func TestEngineErasesCustomer(t *testing.T) {
	env := newTestEnv(t)
	c := env.cluster
	c.CreateTopic(t, "profiles", testPartitions, map[string]*string{"cleanup.policy": ptrTo("compact")})
	env.s.ProfilesTopic = "profiles"

	gen := enginetest.NewGenerator(11, 60, 20, time.Now().Add(-5*time.Minute), 50*time.Millisecond)
	ref := enginetest.NewReference()
	var txns []enginetest.Txn
	for range 400 {
		x := gen.Next()
		ref.Add(x)
		txns = append(txns, x)
	}
	// A profile per customer, as a Segmentation run would have published.
	var profiles []kafkatest.Record
	for id := range ref.Customers {
		profiles = append(profiles, kafkatest.Record{Key: []byte(id), Value: []byte(`{"customer_id":"` + id + `","segment":"loyal"}`)})
	}
	c.Produce(t, "profiles", profiles...)

	e, stop := env.run()
	produceTxns(t, c, txns)
	waitCaughtUp(t, e, int64(len(txns)))
	waitCheckpointed(t, e)

	// The victim: the customer with the most transactions.
	ids := make([]string, 0, len(ref.Customers))
	for id := range ref.Customers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ref.Customers[ids[i]].Transactions, ref.Customers[ids[j]].Transactions
		return a > b || (a == b && ids[i] < ids[j])
	})
	victim, dry := ids[0], ids[1]
	if !fraudHolds(e, victim) {
		t.Fatalf("fraud state does not hold %s before the erasure", victim)
	}
	beforeLog := compactedChangelog(t, env)
	if !holdsBytes(beforeLog, []byte(victim)) {
		t.Fatalf("changelog does not hold %s before the erasure", victim)
	}
	beforeProfiles := kafkatest.Compacted(c.ReadAll(t, "profiles"))

	policy := &audit.Policy{Namespace: "shop", Name: "gdpr"}
	t0 := time.Now()
	c.Produce(t, env.s.Control,
		kafkatest.Record{Key: []byte(dry), Value: controlRecord(t, ControlRecord{RequestID: "dry-1", Action: ControlEraseCustomer, CustomerID: dry, Policy: policy, DryRun: true})},
		kafkatest.Record{Key: []byte(victim), Value: controlRecord(t, ControlRecord{RequestID: "erase-1", Seq: 0, Action: ControlEraseCustomer, CustomerID: victim, Policy: policy})},
		kafkatest.Record{Key: []byte(victim), Value: []byte(`{"request_id":"bad","action":"Shred"}`)},
	)
	erased := waitAudit(t, c, env.s.Audit, "erase-1", 1)[0]
	acked := time.Since(t0)
	if erased.Customers != 1 || erased.Entries < 3 || erased.DryRun || erased.Policy != *policy || erased.Partition == nil ||
		erased.Source != audit.SourceRuntime || erased.Target.Kind != "Erasure" || erased.Target.Name != "shop" {
		t.Errorf("erase audit %+v: want 1 customer, >= 3 entries (store, fraud, profile tombstone) on the owning partition", erased)
	}
	var hash kafka.Murmur2Balancer
	if home := hash.Balance(kafka.Message{Key: []byte(victim)}, 0, 1, 2, 3); erased.Partition != nil && int(*erased.Partition) != home {
		t.Errorf("applied on partition %d, the customer lives on %d", *erased.Partition, home)
	}
	dryAudit := waitAudit(t, c, env.s.Audit, "dry-1", 1)[0]
	if !dryAudit.DryRun || dryAudit.Customers != 1 || dryAudit.Entries < 2 {
		t.Errorf("dry-run audit %+v: want 1 customer counted", dryAudit)
	}

	if _, ok := e.Customer(victim); ok {
		t.Errorf("Store still holds %s", victim)
	}
	if fraudHolds(e, victim) {
		t.Errorf("fraud state still holds %s", victim)
	}
	if _, ok := e.Customer(dry); !ok || !fraudHolds(e, dry) {
		t.Errorf("the dry run removed %s", dry)
	}
	// Both snapshot slots are rewritten by the forced checkpoints.
	deadline := time.Now().Add(20 * time.Second)
	for holdsBytes(compactedChangelog(t, env), []byte(victim)) {
		if time.Now().After(deadline) {
			t.Fatalf("the compacted changelog still holds %s", victim)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("erasure acknowledged after %s, gone from the compacted changelog after %s (checkpoint interval %s)",
		acked.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), env.s.CheckpointInterval)
	afterLog := compactedChangelog(t, env)
	for k, r := range beforeLog {
		if k == victim || k[0] == 0 {
			continue // the victim, snapshots and markers
		}
		if a, ok := afterLog[k]; !ok || !bytes.Equal(a.Value, r.Value) {
			t.Errorf("changelog record of %q changed by the erasure", k)
		}
	}
	afterProfiles := kafkatest.Compacted(c.ReadAll(t, "profiles"))
	if _, ok := afterProfiles[victim]; ok || holdsBytes(afterProfiles, []byte(victim)) {
		t.Errorf("profile topic still holds %s", victim)
	}
	if len(afterProfiles) != len(beforeProfiles)-1 {
		t.Errorf("%d profiles after, %d before", len(afterProfiles), len(beforeProfiles))
	}
	for k, r := range afterProfiles {
		if !bytes.Equal(beforeProfiles[k].Value, r.Value) {
			t.Errorf("profile of %q changed", k)
		}
	}
	if got := testutil.ToFloat64(e.metrics.control.removed.WithLabelValues("EraseCustomer")); got != 1 {
		t.Errorf("removed metric %v, want 1", got)
	}
	var dlq int
	for _, r := range c.ReadAll(t, "dlq") {
		for _, h := range r.Headers {
			if h.Key == events.HeaderSourceTopic && string(h.Value) == env.s.Control {
				dlq++
			}
		}
	}
	if dlq != 1 {
		t.Errorf("%d control records dead-lettered, want 1", dlq)
	}
	stop()

	// Restart: the input still holds the victim's purchases, but the state
	// resumes after them; the request is not applied again.
	e2, stop2 := env.run()
	defer stop2()
	waitCaughtUp(t, e2, int64(len(txns)))
	waitControl(t, e2, 3)
	if _, ok := e2.Customer(victim); ok || fraudHolds(e2, victim) {
		t.Errorf("restart resurrected %s", victim)
	}
	if got := testutil.ToFloat64(e2.metrics.control.removed.WithLabelValues("EraseCustomer")); got != 0 {
		t.Errorf("restart applied the request again (%v removed)", got)
	}
	got := restoredCustomers(t, env)
	delete(ref.Customers, victim)
	checkCustomers(t, got, ref)
	if n := len(waitAudit(t, c, env.s.Audit, "erase-1", 1)); n != 1 {
		t.Errorf("%d audit records of erase-1 after restart, want 1", n)
	}
}

// TestEngineForgetsInactiveCustomers: a ForgetInactive request sent to every
// partition forgets exactly the customers whose last purchase is before the
// cutoff, and the audit records count them.
func TestEngineForgetsInactiveCustomers(t *testing.T) {
	env := newTestEnv(t)
	c := env.cluster
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	// Customers 0..29 buy in the first 5 minutes; 20..39 in the last 5.
	var txns []enginetest.Txn
	early := enginetest.NewGenerator(3, 30, 10, base, 500*time.Millisecond)
	late := enginetest.NewGenerator(4, 20, 10, base.Add(5*time.Minute), 500*time.Millisecond)
	last := map[string]time.Time{}
	for range 300 {
		x := early.Next()
		txns = append(txns, x)
	}
	for range 200 {
		x := late.Next()
		x = renumber(t, x, 20)
		txns = append(txns, x)
	}
	for _, x := range txns {
		if x.EventTime.After(last[x.CustomerID]) {
			last[x.CustomerID] = x.EventTime
		}
	}
	cutoff := base.Add(5 * time.Minute)
	var want, keep []string
	for id, at := range last {
		if at.Before(cutoff) {
			want = append(want, id)
		} else {
			keep = append(keep, id)
		}
	}
	if len(want) == 0 || len(keep) == 0 {
		t.Fatalf("workload: %d inactive, %d active", len(want), len(keep))
	}

	e, stop := env.run()
	defer stop()
	produceTxns(t, c, txns)
	waitCaughtUp(t, e, int64(len(txns)))
	for n := range testPartitions {
		c.ProduceTo(t, env.s.Control, n,
			kafkatest.Record{Key: []byte("ttl-dry"), Value: controlRecord(t, ControlRecord{RequestID: "ttl-dry", Seq: n, Action: ControlForgetInactive, InactiveBefore: &cutoff, DryRun: true})},
			kafkatest.Record{Key: []byte("ttl-1"), Value: controlRecord(t, ControlRecord{RequestID: "ttl-1", Seq: n, Action: ControlForgetInactive, InactiveBefore: &cutoff})})
	}
	for _, req := range []string{"ttl-dry", "ttl-1"} {
		var total int64
		parts := map[int32]bool{}
		for _, a := range waitAudit(t, c, env.s.Audit, req, testPartitions) {
			total += a.Customers
			parts[*a.Partition] = true
			if a.Target.Kind != "CustomerState" || a.Action != audit.ActionForgetInactive {
				t.Errorf("audit %+v", a)
			}
		}
		if total != int64(len(want)) || len(parts) != testPartitions {
			t.Errorf("%s: %d customers over partitions %v, want %d over all %d", req, total, parts, len(want), testPartitions)
		}
	}
	for _, id := range want {
		if _, ok := e.Customer(id); ok || fraudHolds(e, id) {
			t.Errorf("inactive customer %s kept", id)
		}
	}
	for _, id := range keep {
		if _, ok := e.Customer(id); !ok {
			t.Errorf("active customer %s forgotten", id)
		}
	}
	if got := int(testutil.ToFloat64(e.metrics.control.removed.WithLabelValues("ForgetInactive"))); got != len(want) {
		t.Errorf("removed metric %d, want %d", got, len(want))
	}
}

// renumber moves a generated transaction to customer index + offset, so
// two generators share some customers.
func renumber(t *testing.T, x enginetest.Txn, offset int) enginetest.Txn {
	var m map[string]any
	if err := json.Unmarshal(x.Value, &m); err != nil {
		t.Fatal(err)
	}
	var i int
	if _, err := fmt.Sscanf(x.CustomerID, "cus-%06d", &i); err != nil {
		t.Fatal(err)
	}
	id := enginetest.CustomerID(i + offset)
	m["customer_id"] = id
	m["event_id"] = "late-" + x.EventID
	m["transaction_id"] = "late-" + m["transaction_id"].(string)
	b, _ := json.Marshal(m)
	x.Key, x.Value, x.CustomerID, x.EventID = []byte(id), b, id, "late-"+x.EventID
	return x
}

// fraudHolds reports whether any fraud state of e holds the customer.
func fraudHolds(e *Engine, id string) bool {
	for _, o := range e.owned() {
		o.mu.Lock()
		for _, st := range o.p.fraud {
			if st.Customer(id) != nil {
				o.mu.Unlock()
				return true
			}
		}
		o.mu.Unlock()
	}
	return false
}

// waitCheckpointed waits until every partition's checkpoint covers its
// state.
func waitCheckpointed(t *testing.T, e *Engine) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, p := range e.Status().Partitions {
			if p.CheckpointedUpTo != p.Offset {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("checkpoints did not catch up")
}

// waitControl waits until the engine's state includes n control records.
func waitControl(t *testing.T, e *Engine, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var sum int64
		for _, p := range e.Status().Partitions {
			sum += p.ControlOffset
		}
		if sum == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("control records not restored: %+v", e.Status().Partitions)
}

func ptrTo[T any](v T) *T { return &v }

// TestForgetCustomersDropsSegmentationRows: the last results of every
// Segmentation lose the erased customers (a dry run only counts them), and
// a run in flight does not bring them back.
func TestForgetCustomersDropsSegmentationRows(t *testing.T) {
	e := &Engine{s: Settings{ProfilesTopic: "profiles"}}
	e.seg = newSegmenter(e)
	rows := func(ids ...string) []segmentation.Row {
		var out []segmentation.Row
		for _, id := range ids {
			out = append(out, segmentation.Row{CustomerID: id})
		}
		return out
	}
	e.seg.jobs["rfm"] = &segJob{name: "rfm", topic: "rfm-profiles", last: &segResult{rows: rows("a", "b", "c")}}
	e.seg.jobs["clv"] = &segJob{name: "clv", topic: "profiles", last: &segResult{rows: rows("b", "d")}}
	n, topics := e.seg.forgetCustomers(map[string]bool{"b": true}, true)
	if n != 2 || len(e.seg.jobs["rfm"].last.rows) != 3 {
		t.Fatalf("dry run: %d rows, rfm rows %d", n, len(e.seg.jobs["rfm"].last.rows))
	}
	if fmt.Sprint(topics) != "[profiles rfm-profiles]" {
		t.Errorf("profile topics %v", topics)
	}
	e.erasing.begin()
	n, _ = e.seg.forgetCustomers(map[string]bool{"b": true}, false)
	if n != 2 {
		t.Errorf("removed %d rows, want 2", n)
	}
	for name, want := range map[string]string{"rfm": "ac", "clv": "d"} {
		got := ""
		for _, r := range e.seg.jobs[name].last.rows {
			got += r.CustomerID
		}
		if got != want {
			t.Errorf("%s rows %q, want %q", name, got, want)
		}
	}
	// The run in flight copied b before the erasure.
	if inFlight := e.erasing.filter(rows("a", "b", "e")); len(inFlight) != 2 || !e.erasing.skip("b") || e.erasing.skip("a") {
		t.Errorf("run in flight keeps %v", inFlight)
	}
	e.erasing.end()
	if e.erasing.skip("b") {
		t.Error("guard kept the erasure after the run")
	}
}

// TestErasureFenceAfterCrashMidCheckpoint: a crash after the checkpoint
// that first includes an erasure wrote its body (the customer's tombstone)
// but not its marker restores the older marker. Replaying the erasure
// request first and the transactions since the older marker second must
// not re-create the customer from purchases made before the erasure; the
// other customers end exactly as before the crash.
func TestErasureFenceAfterCrashMidCheckpoint(t *testing.T) {
	rc := testRuntimeConfig([]string{"localhost:9092"})
	s, err := Resolve(rc)
	if err != nil {
		t.Fatal(err)
	}
	h := fraud.NewHolder()
	if _, err := h.Update(rc.FraudRuleSets[0].Name, 1, rc.FraudRuleSets[0].Spec); err != nil {
		t.Fatal(err)
	}
	e := &Engine{s: s, metrics: newMetrics(), log: slog.New(slog.DiscardHandler)}
	e.seg = newSegmenter(e)
	proc := &processor{s: &e.s, validator: events.NewValidator(s.Validator), catalog: catalog.New(),
		rules: func() []*fraud.Holder { return []*fraud.Holder{h} }, metrics: e.metrics}

	gen := enginetest.NewGenerator(5, 5, 10, time.Now().Add(-5*time.Minute), 100*time.Millisecond)
	msgs := make([]kafka.Message, 200)
	for i := range msgs {
		x := gen.Next()
		msgs[i] = kafka.Message{Topic: "txns", Offset: int64(i), Key: x.Key, Value: x.Value}
	}
	victim := string(msgs[150].Key)
	erase := kafka.Message{Topic: s.Control, Offset: 0, Key: []byte(victim), Time: time.Now(),
		Value: controlRecord(t, ControlRecord{RequestID: "r", Action: ControlEraseCustomer, CustomerID: victim})}

	// The changelog partition as the engine writes it.
	var changelog []kafka.Message
	checkpoint := func(p *partition, marker bool) {
		recs := p.store.Checkpoint()
		blob, err := encodeSnapshot(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[:len(recs)-1] {
			changelog = append(changelog, kafka.Message{Key: r.Key, Value: r.Value})
		}
		changelog = append(changelog, snapshotChunks(s.Transactions, p, blob)...)
		changelog = append(changelog, p.fencePending...)
		p.fencePending = nil
		p.snapSlot, p.snapSeq = 1-p.snapSlot, p.snapSeq+1
		if marker {
			m := recs[len(recs)-1]
			changelog = append(changelog, kafka.Message{Key: m.Key, Value: m.Value})
		}
	}
	p, _ := newPartition(&s, 0)
	var out output
	proc.processTransactions(p, "txns", msgs[:100], &out)
	checkpoint(p, true)
	proc.processTransactions(p, "txns", msgs[100:], &out)
	e.processControl(p, proc, s.Control, []kafka.Message{erase}, &out)
	if _, held := p.store.Get(victim); held {
		t.Fatal("erasure did not apply")
	}
	checkpoint(p, false) // the crash: body written, marker not

	restore := func(withFences bool) *partition {
		rc := newRestoreCollector(s.Transactions, 0)
		for _, m := range changelog {
			if err := rc.add(m.Key, m.Value); err != nil {
				t.Fatal(err)
			}
		}
		if !withFences {
			clear(rc.fences)
		}
		q, _ := newPartition(&s, 0)
		q, err := finishRestore(&s, q, rc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if q.store.Meta().NextOffset != 100 || q.nextCtl != 0 {
			t.Fatalf("restored at offset %d, control %d; want the older marker 100 and control 0", q.store.Meta().NextOffset, q.nextCtl)
		}
		// Replay, the erasure request first.
		e.processControl(q, proc, s.Control, []kafka.Message{erase}, &out)
		proc.processTransactions(q, "txns", msgs[100:], &out)
		return q
	}
	q := restore(true)
	if _, held := q.store.Get(victim); held {
		t.Error("replay re-created the erased customer in the Store")
	}
	if q.fraud["big"].Customer(victim) != nil {
		t.Error("replay re-created the erased customer in the fraud state")
	}
	p.store.Range(func(id string, c *state.Customer) bool {
		got, ok := q.store.Get(id)
		a, _ := c.AppendBinary(nil)
		b, _ := got.AppendBinary(nil)
		if !ok || !bytes.Equal(a, b) {
			t.Errorf("customer %s differs after the replay", id)
		}
		return true
	})
	if n := len(q.fences); n != 1 {
		t.Errorf("%d fences after the replay, want 1 until a marker passes it", n)
	}
	q.dropFences(200)
	if len(q.fences) != 0 || len(q.fencePending) == 0 || q.fencePending[len(q.fencePending)-1].Value != nil {
		t.Errorf("a durable marker past the fence must tombstone it: %v", q.fencePending)
	}
	// Without the fences the same replay brings the customer back: the
	// case the fences exist for.
	if _, held := restore(false).store.Get(victim); !held {
		t.Error("the replay without fences did not re-create the customer; the test no longer covers the crash")
	}
}
