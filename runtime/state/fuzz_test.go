package state

import (
	"errors"
	"testing"
	"time"
)

// FuzzDecodeCustomer feeds arbitrary bytes to the decoder: it must never
// panic, must report failures as ErrCorrupt, and whatever it accepts must
// re-encode to an equal customer that the rest of the API can use. The seed
// corpus is in testdata/fuzz/FuzzDecodeCustomer.
func FuzzDecodeCustomer(f *testing.F) {
	var c Customer
	c.Apply(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), 9.99, "device", "DE")
	b, _ := c.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCustomer(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeCustomer(b)
		if err != nil {
			t.Fatalf("re-encoded customer does not decode: %v", err)
		}
		if *d != *c {
			t.Fatalf("re-encoded customer differs:\n %+v\n %+v", d, c)
		}
		now := c.LastPurchase()
		_ = c.TxnsLastHour(now) + c.TxnsLast24h(now) + c.RepeatDays()
		c.Apply(now.Add(-90*24*time.Hour), 1, "d", "FR")
		c.Apply(now.Add(time.Hour), 1, "d", "FR")
		if _, err := c.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}
