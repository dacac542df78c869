package state

import (
	"errors"
	"reflect"
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
	// A version 2 record: activity in three months, a frozen summary.
	s := NewStore("t", 0)
	end := time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC)
	s.SetCalibrationDays([]int32{DayOf(end)})
	for i, days := range []int{-40, -3, 0, 25} {
		_, _ = s.Apply(Purchase{Offset: int64(i), CustomerID: "c", EventTime: end.AddDate(0, 0, days), Amount: 4.5})
	}
	v2, _ := s.Get("c")
	b, _ = v2.MarshalBinary()
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
		if !reflect.DeepEqual(d, c) {
			t.Fatalf("re-encoded customer differs:\n %+v\n %+v", d, c)
		}
		_, _ = c.AsOf(c.FirstDay())
		now := c.LastPurchase()
		_ = c.TxnsLastHour(now) + c.TxnsLast24h(now) + c.RepeatDays()
		c.Apply(now.Add(-90*24*time.Hour), 1, "d", "FR")
		c.Apply(now.Add(time.Hour), 1, "d", "FR")
		if _, err := c.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}
