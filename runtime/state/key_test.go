package state

import (
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// TestKeysStayTheirCustomers: the map key of a customer whose ID lives in
// its allocation (keyedCustomer) must stay that ID through everything that
// overwrites a customer: Apply's reset of an empty customer, a caller's
// UnmarshalBinary on the customer Get returned, and the Restorer replacing
// a customer it holds. IDs of 1 to 40 bytes take both paths of newCustomer;
// the caller's buffer is reused after each Apply, as the engine's decoded
// events are.
func TestKeysStayTheirCustomers(t *testing.T) {
	if s := unsafe.Sizeof(keyedCustomer{}); s != 208 {
		t.Errorf("keyedCustomer is %d bytes, want 208 (a Customer and a key in one size class)", s)
	}
	var ids []string
	for n := 1; n <= 40; n++ {
		ids = append(ids, strings.Repeat(string(rune('a'+n%26)), n))
	}
	s := NewStore(topic, 0)
	buf := make([]byte, 64)
	for i, id := range ids {
		n := copy(buf, id)
		// The engine's IDs point into the Kafka record's bytes: no copy.
		p := Purchase{Offset: int64(i), CustomerID: unsafe.String(&buf[0], n), EventTime: at(1, 0), Amount: 1}
		if _, err := s.Apply(p); err != nil {
			t.Fatal(err)
		}
		clear(buf)
	}
	// Overwrite every customer as a caller may.
	other, _ := s.Get(ids[0])
	enc, err := other.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		c, ok := s.Get(id)
		if !ok {
			t.Fatalf("customer %q not found", id)
		}
		if err := c.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		*c = Customer{} // and Apply's reset path next
	}
	for i, id := range ids {
		if _, err := s.Apply(Purchase{Offset: int64(len(ids) + i), CustomerID: id, EventTime: at(2, 0), Amount: 2}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		var got []string
		s.Range(func(id string, c *Customer) bool {
			got = append(got, strings.Clone(id))
			return true
		})
		slices.Sort(got)
		want := slices.Clone(ids)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("the store's keys are %q, want %q", got, want)
		}
		for _, id := range ids {
			if _, ok := s.Get(id); !ok {
				t.Fatalf("customer %q not found", id)
			}
		}
	}
	check(s)

	// Restore twice over the same store: the second replaces every customer.
	r := NewRestorer(topic, 0)
	for range 2 {
		s.Range(func(id string, c *Customer) bool {
			v, err := c.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Add([]byte(id), v); err != nil {
				t.Fatal(err)
			}
			return true
		})
	}
	check(r.Stores()[0])
}
