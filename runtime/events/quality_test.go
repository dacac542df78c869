package events

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
)

func TestQuality(t *testing.T) {
	v := testValidator()
	full, err := v.Decode(KindTransaction, example(t, KindTransaction))
	if err != nil {
		t.Fatal(err)
	}
	bare, err := v.Decode(KindTransaction, mutate(t, example(t, KindTransaction), func(m map[string]any) {
		for _, k := range []string{"merchant_id", "device", "geo", "label"} {
			delete(m, k)
		}
		m["payment"] = map[string]any{"method": "paypal"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	pu, err := v.Decode(KindProductUpdate, example(t, KindProductUpdate))
	if err != nil {
		t.Fatal(err)
	}

	var q Quality
	var wg sync.WaitGroup
	for range 4 { // concurrent use must count every call
		wg.Go(func() {
			for range 25 {
				q.Observe(full)
				q.Observe(bare)
				q.Observe(pu)
				q.Reject(KindTransaction, &Rejection{Reason: ReasonMissingField})
			}
		})
	}
	wg.Wait()
	q.Reject(KindUserEvent, &Rejection{Reason: ReasonInvalidEnum})
	q.Reject("", &Rejection{Reason: ReasonMalformedJSON})

	snap := q.Snapshot()
	if len(snap) != 4 || snap[0].Kind != KindTransaction || snap[1].Kind != KindUserEvent ||
		snap[2].Kind != KindProductUpdate || snap[3].Kind != "" {
		t.Fatalf("snapshot kinds: %+v", snap)
	}
	tx := snap[0]
	if tx.Accepted != 200 || tx.Rejected[ReasonMissingField] != 100 {
		t.Errorf("transaction accepted %d, rejected %v", tx.Accepted, tx.Rejected)
	}
	want := map[string]uint64{
		"merchant_id": 100, "channel": 200, "payment": 200, "payment.card_bin": 100,
		"ip": 200, "label": 100, "device": 100, "device.user_agent": 100,
		"geo": 100, "geo.country": 100, "geo.lat": 100, "geo.lon": 100,
	}
	for _, f := range tx.Fields {
		if f.Total != 200 {
			t.Errorf("%s: total %d, want 200", f.Field, f.Total)
		}
		if n, ok := want[f.Field]; ok && f.Present != n {
			t.Errorf("%s: present %d, want %d", f.Field, f.Present, n)
		}
	}
	if got := fieldNames(tx.Fields); !slices.Equal(got, OptionalFields(KindTransaction)) {
		t.Errorf("fields %v", got)
	}
	for _, f := range snap[2].Fields {
		if f.Present != 100 || f.Ratio() != 1 {
			t.Errorf("product_update %s: %d present, ratio %v", f.Field, f.Present, f.Ratio())
		}
	}
	if snap[1].Rejected[ReasonInvalidEnum] != 1 || snap[3].Rejected[ReasonMalformedJSON] != 1 {
		t.Errorf("rejections: %v, %v", snap[1].Rejected, snap[3].Rejected)
	}
	if (FieldCompleteness{}).Ratio() != 0 {
		t.Error("Ratio of nothing is not 0")
	}

	// A snapshot is a copy.
	snap[0].Rejected[ReasonMissingField] = 0
	if q.Snapshot()[0].Rejected[ReasonMissingField] != 100 {
		t.Error("snapshot shares its map with the counters")
	}
}

func TestQualityFieldListsMatchMasks(t *testing.T) {
	// An event with every optional field set must fill every tracked bit.
	f := 1.0
	n := int64(1)
	events := []Event{
		&Transaction{MerchantID: "m", Channel: ChannelWeb, Payment: Payment{Method: PaymentCard, CardBIN: "424242"},
			IP: mustAddr("192.0.2.1"), Label: &Label{}, Device: Device{ID: "d", Type: DeviceOther, OS: "o", UserAgent: "u"},
			Geo: Geo{Country: "DE", City: "c", Lat: &f, Lon: &f}},
		&UserEvent{CustomerID: "c", ProductID: "p", Query: "q", OrderID: "o", TransactionID: "t", Page: "p", URL: "u",
			Referrer: "r", UTM: UTM{Source: "s", Medium: "m", Campaign: "c"}, Channel: ChannelWeb,
			Device: Device{ID: "d", Type: DeviceOther, OS: "o", UserAgent: "u"}, Geo: Geo{Country: "DE", City: "c", Lat: &f, Lon: &f}},
		&ProductUpdate{Name: "n", Brand: "b", Price: &f, Cost: &f, Currency: "EUR", Stock: &n},
	}
	for _, ev := range events {
		var q Quality
		q.Observe(ev)
		for _, fc := range q.Snapshot()[kindIndex(ev.Kind())].Fields {
			if fc.Present != 1 {
				t.Errorf("%s: %s not counted", ev.Kind(), fc.Field)
			}
		}
	}
}

func fieldNames(fs []FieldCompleteness) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Field)
	}
	return out
}

func TestDeadLetterHeaders(t *testing.T) {
	_, err := testValidator().Decode(KindTransaction, mutate(t, example(t, KindTransaction), func(m map[string]any) {
		line(m, 2)["quantity"] = 0
	}))
	var r *Rejection
	if !errors.As(err, &r) {
		t.Fatal(err)
	}
	hs := DeadLetterHeaders(r, Source{Topic: "ecap.transactions", Partition: 7, Offset: 1234567890123})
	want := [][2]string{
		{"ecap-dlq-reason", "out_of_range"},
		{"ecap-dlq-field", "lines[2].quantity"},
		{"ecap-dlq-detail", r.Detail},
		{"ecap-source-topic", "ecap.transactions"},
		{"ecap-source-partition", "7"},
		{"ecap-source-offset", strconv.FormatInt(1234567890123, 10)},
	}
	if len(hs) != len(want) {
		t.Fatalf("%d headers, want %d", len(hs), len(want))
	}
	for i, h := range hs {
		if h.Key != want[i][0] || string(h.Value) != want[i][1] {
			t.Errorf("header %d = %s: %q, want %s: %q", i, h.Key, h.Value, want[i][0], want[i][1])
		}
	}
}
