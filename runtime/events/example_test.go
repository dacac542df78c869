package events_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ecap-dev/ecap/runtime/events"
)

func ExampleValidator_Decode() {
	v := events.NewValidator(events.ValidatorConfig{
		Now: func() time.Time { return time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC) },
	})
	record := []byte(`{"event_id":"e-1","type":"transaction","schema_version":1,` +
		`"event_time":"2026-03-14T09:26:53Z","transaction_id":"t-1","customer_id":"c-1",` +
		`"lines":[{"product_id":"sku-1","quantity":0,"unit_price":9.5}],"amount":9.5,"currency":"EUR"}`)

	_, err := v.Decode(events.KindTransaction, record)
	var r *events.Rejection
	if errors.As(err, &r) {
		fmt.Println(r.Reason, r.Field)
		for _, h := range events.DeadLetterHeaders(r, events.Source{Topic: "transactions", Partition: 3, Offset: 42}) {
			if h.Key != events.HeaderDLQDetail {
				fmt.Printf("%s=%s\n", h.Key, h.Value)
			}
		}
	}
	// Output:
	// out_of_range lines[0].quantity
	// ecap-dlq-reason=out_of_range
	// ecap-dlq-field=lines[0].quantity
	// ecap-source-topic=transactions
	// ecap-source-partition=3
	// ecap-source-offset=42
}

func ExampleEncode() {
	ev := &events.ProductUpdate{
		Envelope: events.Envelope{
			EventID:       "p-1",
			Type:          events.KindProductUpdate,
			SchemaVersion: events.SchemaVersion,
			EventTime:     time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC),
		},
		ProductID: "sku-1",
		Category:  "socks",
		Deleted:   true,
	}
	b, err := events.Encode(ev)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {"event_id":"p-1","type":"product_update","schema_version":1,"event_time":"2026-03-14T08:00:00Z","product_id":"sku-1","category":"socks","deleted":true}
}
