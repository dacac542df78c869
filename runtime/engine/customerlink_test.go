package engine

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/state"
)

// The customer state found through the fraud state's link
// (state.Store.ApplyLinked) is the one Apply's own lookup finds: with no,
// one and two rule sets, and customers erased from the customer state
// only, from the fraud states only, from both, and expired, then coming
// back, the customer state checkpoints byte for byte what a partition
// without rule sets (no links) checkpoints.
func TestCustomerStateLinksStayTrue(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets int
	}{{"no rule set", 0}, {"one rule set", 1}, {"two rule sets", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			rc := testRuntimeConfig([]string{"unused:9092"})
			second := rc.FraudRuleSets[0]
			second.Name = "small"
			second.Spec.Rules = []v1alpha1.FraudRule{{Name: "small-amount", Expression: "txn.amount < 20.0", Score: 100}}
			sets := append(rc.FraudRuleSets, second)[:tc.sets]
			s, err := Resolve(rc)
			if err != nil {
				t.Fatal(err)
			}
			l, err := NewLocal(s, sets)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := NewLocal(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			msgs := txnMessages(11, 4000)
			v := events.NewValidator(s.Validator)
			const batch = 500
			for i := 0; i < len(msgs); i += batch {
				part := msgs[i:min(i+batch, len(msgs))]
				l.ProcessTransactions(part)
				ref.ProcessTransactions(part)
				if len(l.p.fraud) != tc.sets {
					t.Fatalf("%d fraud states, want %d", len(l.p.fraud), tc.sets)
				}
				sameStoreRecords(t, l.p.store.Checkpoint(), ref.p.store.Checkpoint())

				// Customers of this batch, removed in different ways; most
				// come back in the next batches.
				var ids []string
				for _, m := range part[len(part)-40:] {
					ev, err := v.Decode(events.KindTransaction, m.Value)
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, ev.(*events.Transaction).CustomerID)
				}
				for j, id := range ids {
					switch j % 4 {
					case 0: // erased from the customer state only
						l.p.store.Forget(id)
						ref.p.store.Forget(id)
					case 1: // erased from the fraud states only
						for _, st := range l.p.fraud {
							st.ForgetCustomer(id)
						}
					case 2: // erased from both
						l.p.store.Forget(id)
						ref.p.store.Forget(id)
						for _, st := range l.p.fraud {
							st.ForgetCustomer(id)
						}
					}
				}
				if i/batch%3 == 2 {
					// Customers idle for the last minute expire from the
					// customer state.
					cutoff := ref.p.latest.Add(-time.Minute)
					if a, b := l.p.store.Expire(cutoff), ref.p.store.Expire(cutoff); a != b || a == 0 {
						t.Fatalf("expired %d and %d customers, want the same, some", a, b)
					}
				}
			}
			sameStoreRecords(t, l.p.store.Checkpoint(), ref.p.store.Checkpoint())
			if l.p.store.Stats() != ref.p.store.Stats() {
				t.Fatalf("state counters %+v, want %+v", l.p.store.Stats(), ref.p.store.Stats())
			}
		})
	}
}

func sameStoreRecords(t *testing.T, got, want []state.Record) {
	t.Helper()
	if len(got) < 2 {
		t.Fatalf("checkpoint of %d records: nothing changed", len(got))
	}
	if !slices.EqualFunc(got, want, func(a, b state.Record) bool {
		return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && (a.Value == nil) == (b.Value == nil)
	}) {
		t.Fatalf("customer state checkpoint (%d records) differs from the one without links (%d records)", len(got), len(want))
	}
}
