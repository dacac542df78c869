package fraud

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/ecap-dev/ecap/runtime/state"
)

// StateLink hands out the slot of the latest transaction's customer, once;
// nil for one removed since (erased, expired), whose re-created history
// starts with an empty slot.
func TestStateLink(t *testing.T) {
	h := NewHolder(WithClock(fixedClock))
	if _, err := h.Update("card-fraud", 1, sampleSpec()); err != nil {
		t.Fatal(err)
	}
	st := NewState(StateConfig{CustomerTTL: time.Hour})
	at := t0
	process := func(customer string) {
		t.Helper()
		at = at.Add(time.Minute)
		txn := baseTxn(fmt.Sprint("t", at.UnixNano()), at)
		txn.CustomerID = customer
		if _, ok := h.ProcessAt(&txn, st, at); !ok {
			t.Fatal("nothing scored")
		}
	}
	var target state.Customer // what the engine would link: any state.Customer

	process("a")
	l := st.StateLink()
	if l == nil || *l != nil {
		t.Fatalf("slot %p of a customer new to the State, want an empty one", l)
	}
	if again := st.StateLink(); again != nil {
		t.Fatal("the slot was handed out twice")
	}
	*l = &target
	process("b")
	if lb := st.StateLink(); lb == nil || lb == l || *lb != nil {
		t.Fatalf("customer b got slot %p (a's is %p)", lb, l)
	}
	process("a")
	if la := st.StateLink(); la != l || *la != &target {
		t.Fatalf("a's slot moved: %p, want %p holding the link", la, l)
	}

	// Not taken: the next transaction's customer has its own.
	process("a")
	process("c")
	if lc := st.StateLink(); lc == nil || lc == l {
		t.Fatalf("customer c got slot %p (a's is %p)", lc, l)
	}

	// Evaluated but not observed, a customer new to the State has none:
	// nothing holds it.
	process("a")
	ev := baseTxn("ev", at)
	ev.CustomerID = "d"
	h.Current().Evaluate(&ev, st)
	if st.StateLink() != nil {
		t.Fatal("a slot for a customer only evaluated")
	}

	// Erased: not handed out after the removal, and the re-created
	// customer's slot is empty.
	process("a")
	st.ForgetCustomer("a")
	if st.StateLink() != nil {
		t.Fatal("the slot of an erased customer was handed out")
	}
	process("a")
	if la := st.StateLink(); la == nil || la == l || *la != nil {
		t.Fatalf("re-created customer a: slot %p holding %p, want a new empty one", la, *la)
	}

	// Expired likewise.
	process("a")
	if n := st.Expire(at.Add(2 * time.Hour)); n == 0 {
		t.Fatal("nothing expired")
	}
	if st.Customer("a") != nil {
		t.Fatal("customer a did not expire")
	}
	if st.StateLink() != nil {
		t.Fatal("the slot of an expired customer was handed out")
	}

	// Nor after a restored record of the customer (which replaces it).
	process("a")
	if err := st.Restore("c/a", nil); err != nil {
		t.Fatal(err)
	}
	if st.StateLink() != nil {
		t.Fatal("the slot of a customer removed by Restore was handed out")
	}

	// A transaction without a customer has no slot.
	process("a")
	process("")
	if st.StateLink() != nil {
		t.Fatal("a slot for a transaction without a customer")
	}
}

// The link rides in the customer's allocation without moving it to a
// larger size class (the room of newCustomer: 288 bytes; with a long ID
// 256 before the customer kept its ID for the customer table, 288 since).
func TestStateLinkCostsNoAllocation(t *testing.T) {
	short := unsafe.Sizeof(struct {
		id        [idRoom]byte
		c         CustomerState
		dev, ctry [customerSeen]seenEntry
	}{})
	long := unsafe.Sizeof(struct {
		c         CustomerState
		dev, ctry [customerSeen]seenEntry
	}{})
	if short > 288 || long > 288 {
		t.Fatalf("customer allocations of %d and %d bytes, want at most 288", short, long)
	}
}
