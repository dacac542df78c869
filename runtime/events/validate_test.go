package events

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExamplesPass(t *testing.T) {
	v := testValidator()
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ev, err := v.Decode(kind, example(t, kind))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Kind() != kind {
				t.Fatalf("Kind() = %s, want %s", ev.Kind(), kind)
			}
			// An empty kind reads the type from the event.
			if ev2, err := v.Decode("", example(t, kind)); err != nil || ev2.Kind() != kind {
				t.Fatalf("Decode(any) = %v, %v", ev2, err)
			}
		})
	}
}

func TestDecodeFields(t *testing.T) {
	ev, err := testValidator().Decode(KindTransaction, example(t, KindTransaction))
	if err != nil {
		t.Fatal(err)
	}
	tx := ev.(*Transaction)
	want := time.Date(2026, 3, 14, 9, 26, 53, 589e6, time.UTC)
	if !tx.EventTime.Equal(want) || tx.EventTime.Location() != time.UTC {
		t.Errorf("EventTime = %v, want %v in UTC", tx.EventTime, want)
	}
	if len(tx.Lines) != 3 || tx.Lines[2] != (Line{ProductID: "sku-3177", Quantity: 3, UnitPrice: 12}) {
		t.Errorf("Lines = %+v", tx.Lines)
	}
	if tx.Amount != 81.48 || tx.Currency != "EUR" || tx.Payment.Method != PaymentCard {
		t.Errorf("amount/currency/payment = %v %v %+v", tx.Amount, tx.Currency, tx.Payment)
	}
	if tx.IP.String() != "203.0.113.57" || *tx.Geo.Lat != 52.52 || tx.Label == nil || tx.Label.Fraud {
		t.Errorf("ip/geo/label = %v %+v %+v", tx.IP, tx.Geo, tx.Label)
	}
	if tx.ID() != "0f8fad5b-d9cb-469f-a165-70867728950e" || !tx.Time().Equal(want) {
		t.Errorf("ID/Time = %q %v", tx.ID(), tx.Time())
	}

	ev, err = testValidator().Decode(KindProductUpdate, example(t, KindProductUpdate))
	if err != nil {
		t.Fatal(err)
	}
	p := ev.(*ProductUpdate)
	if p.EventTime != time.Date(2026, 3, 14, 7, 0, 0, 0, time.UTC) {
		t.Errorf("offset not converted to UTC: %v", p.EventTime)
	}
	if p.Stock == nil || *p.Stock != 340 || p.Price == nil || *p.Price != 19.99 {
		t.Errorf("stock/price = %v %v", p.Stock, p.Price)
	}
}

// TestAccepted lists inputs that look odd but are valid.
func TestAccepted(t *testing.T) {
	tx := example(t, KindTransaction)
	cases := []struct {
		name string
		kind Kind
		doc  []byte
	}{
		{"amount within one cent per line", KindTransaction, mutate(t, tx, func(m map[string]any) { m["amount"] = 81.51 })},
		{"zero amount", KindTransaction, mutate(t, tx, func(m map[string]any) {
			for i := range 3 {
				line(m, i)["unit_price"] = 0
			}
			m["amount"] = 0
		})},
		{"yen has no minor unit", KindTransaction, mutate(t, tx, func(m map[string]any) {
			m["currency"] = "JPY"
			line(m, 0)["unit_price"] = 1999
			line(m, 1)["unit_price"] = 550
			line(m, 2)["unit_price"] = 1200
			m["amount"] = 2*1999 + 550 + 3*1200 + 2
		})},
		{"optional fields null", KindTransaction, mutate(t, tx, func(m map[string]any) {
			for _, k := range []string{"merchant_id", "channel", "payment", "device", "ip", "geo", "label"} {
				m[k] = nil
			}
		})},
		{"optional fields absent", KindTransaction, mutate(t, tx, func(m map[string]any) {
			for _, k := range []string{"merchant_id", "channel", "payment", "device", "ip", "geo", "label"} {
				delete(m, k)
			}
		})},
		{"unknown fields anywhere", KindTransaction, mutate(t, tx, func(m map[string]any) {
			m["x_new"] = map[string]any{"a": []any{1.5, "b", nil, true, map[string]any{}}}
			line(m, 0)["discount"] = "none"
			obj(m["payment"])["wallet"] = 3
		})},
		{"ipv6", KindTransaction, mutate(t, tx, func(m map[string]any) { m["ip"] = "2001:db8::17" })},
		{"non-card payment without fingerprint", KindTransaction, mutate(t, tx, func(m map[string]any) {
			m["payment"] = map[string]any{"method": "paypal"}
		})},
		{"eight digit bin", KindTransaction, mutate(t, tx, func(m map[string]any) { obj(m["payment"])["card_bin"] = "42424242" })},
		{"timestamp without fraction, with offset", KindTransaction, mutate(t, tx, func(m map[string]any) {
			m["event_time"] = "2026-03-14T11:26:53+02:00"
		})},
		{"escapes and unicode", KindUserEvent, []byte(`{"event_id":"e\u00e9\"1","type":"user_event","schema_version":1,` +
			`"event_time":"2026-03-14T09:25:10Z","session_id":"s\ud83d\ude00","action":"search","query":"caf\u00e9 \\ \/ \t"}`)},
		{"white space everywhere", KindProductUpdate, []byte(" \n\t{ \"event_id\" : \"e1\" ,\r\n \"type\":\"product_update\", \"schema_version\" : 1 ," +
			" \"event_time\":\"2026-03-14T09:00:00Z\",\"product_id\":\"p\",\"category\":\"c\" } \n")},
		{"anonymous page view", KindUserEvent, []byte(`{"event_id":"e1","type":"user_event","schema_version":1,` +
			`"event_time":"2026-03-14T09:25:10Z","session_id":"s1","action":"page_view"}`)},
		{"purchase with order id only", KindUserEvent, mutate(t, example(t, KindUserEvent), func(m map[string]any) {
			m["action"] = "purchase"
			m["order_id"] = "ord-1"
		})},
		{"tombstone", KindProductUpdate, []byte(`{"event_id":"e1","type":"product_update","schema_version":1,` +
			`"event_time":"2026-03-14T09:00:00Z","product_id":"p","category":"c","deleted":true}`)},
		{"sold out", KindProductUpdate, mutate(t, example(t, KindProductUpdate), func(m map[string]any) { m["stock"] = 0 })},
	}
	v := testValidator()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Decode(tc.kind, tc.doc); err != nil {
				t.Fatalf("rejected %s: %v", tc.doc, err)
			}
		})
	}
}

func TestRejections(t *testing.T) {
	tx := example(t, KindTransaction)
	ue := example(t, KindUserEvent)
	pu := example(t, KindProductUpdate)
	set := func(doc []byte, key string, v any) []byte {
		return mutate(t, doc, func(m map[string]any) { m[key] = v })
	}
	del := func(doc []byte, key string) []byte {
		return mutate(t, doc, func(m map[string]any) { delete(m, key) })
	}
	editTx := func(edit func(m map[string]any)) []byte { return mutate(t, tx, edit) }
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)

	cases := []struct {
		name   string
		kind   Kind
		doc    []byte
		reason string
		field  string
	}{
		// malformed_json
		{"truncated", KindTransaction, tx[:len(tx)/2], ReasonMalformedJSON, ""},
		{"empty", KindTransaction, nil, ReasonMalformedJSON, ""},
		{"trailing comma", KindTransaction, []byte(`{"event_id":"e",}`), ReasonMalformedJSON, ""},
		{"trailing data", KindTransaction, append(append([]byte{}, tx...), "{}"...), ReasonMalformedJSON, ""},
		{"invalid utf-8", KindTransaction, []byte("{\"event_id\":\"\xff\"}"), ReasonMalformedJSON, ""},
		{"NaN literal", KindTransaction, []byte(`{"amount":NaN}`), ReasonMalformedJSON, ""},
		{"leading zero", KindTransaction, []byte(`{"amount":01}`), ReasonMalformedJSON, ""},
		{"raw control character", KindTransaction, []byte("{\"event_id\":\"a\tb\"}"), ReasonMalformedJSON, ""},
		{"bad escape", KindTransaction, []byte(`{"event_id":"a\qb"}`), ReasonMalformedJSON, ""},
		{"single quotes", KindTransaction, []byte(`{'event_id':'a'}`), ReasonMalformedJSON, ""},
		{"too deep", KindTransaction, []byte(`{"x":` + deep + `}`), ReasonMalformedJSON, ""},
		// wrong_type
		{"not an object", KindTransaction, []byte(`[1,2]`), ReasonWrongType, ""},
		{"string quantity", KindTransaction, editTx(func(m map[string]any) { line(m, 0)["quantity"] = "2" }), ReasonWrongType, "lines[0].quantity"},
		{"fractional quantity", KindTransaction, editTx(func(m map[string]any) { line(m, 2)["quantity"] = 2.5 }), ReasonWrongType, "lines[2].quantity"},
		{"string amount", KindTransaction, set(tx, "amount", "81.48"), ReasonWrongType, "amount"},
		{"numeric event_id", KindTransaction, set(tx, "event_id", 5), ReasonWrongType, "event_id"},
		{"lines object", KindTransaction, set(tx, "lines", map[string]any{}), ReasonWrongType, "lines"},
		{"line not object", KindTransaction, editTx(func(m map[string]any) { m["lines"].([]any)[1] = "x" }), ReasonWrongType, "lines[1]"},
		{"device string", KindTransaction, set(tx, "device", "iphone"), ReasonWrongType, "device"},
		{"label fraud string", KindTransaction, editTx(func(m map[string]any) { obj(m["label"])["fraud"] = "no" }), ReasonWrongType, "label.fraud"},
		{"lat string", KindTransaction, editTx(func(m map[string]any) { obj(m["geo"])["lat"] = "52" }), ReasonWrongType, "geo.lat"},
		{"schema_version string", KindTransaction, set(tx, "schema_version", "1"), ReasonWrongType, "schema_version"},
		{"schema_version fractional", KindTransaction, set(tx, "schema_version", 1.5), ReasonWrongType, "schema_version"},
		// missing_field
		{"no event_id", KindTransaction, del(tx, "event_id"), ReasonMissingField, "event_id"},
		{"empty event_id", KindTransaction, set(tx, "event_id", ""), ReasonMissingField, "event_id"},
		{"no type", KindTransaction, del(tx, "type"), ReasonMissingField, "type"},
		{"no schema_version", KindTransaction, del(tx, "schema_version"), ReasonMissingField, "schema_version"},
		{"no event_time", KindTransaction, del(tx, "event_time"), ReasonMissingField, "event_time"},
		{"no transaction_id", KindTransaction, del(tx, "transaction_id"), ReasonMissingField, "transaction_id"},
		{"no customer_id", KindTransaction, set(tx, "customer_id", nil), ReasonMissingField, "customer_id"},
		{"no lines", KindTransaction, del(tx, "lines"), ReasonMissingField, "lines"},
		{"no amount", KindTransaction, del(tx, "amount"), ReasonMissingField, "amount"},
		{"null amount", KindTransaction, set(tx, "amount", nil), ReasonMissingField, "amount"},
		{"no currency", KindTransaction, del(tx, "currency"), ReasonMissingField, "currency"},
		{"no line product", KindTransaction, editTx(func(m map[string]any) { delete(line(m, 1), "product_id") }), ReasonMissingField, "lines[1].product_id"},
		{"no line quantity", KindTransaction, editTx(func(m map[string]any) { delete(line(m, 0), "quantity") }), ReasonMissingField, "lines[0].quantity"},
		{"no line unit_price", KindTransaction, editTx(func(m map[string]any) { delete(line(m, 2), "unit_price") }), ReasonMissingField, "lines[2].unit_price"},
		{"payment without method", KindTransaction, editTx(func(m map[string]any) { delete(obj(m["payment"]), "method") }), ReasonMissingField, "payment.method"},
		{"card without fingerprint", KindTransaction, editTx(func(m map[string]any) { delete(obj(m["payment"]), "card_fingerprint") }), ReasonMissingField, "payment.card_fingerprint"},
		{"lat without lon", KindTransaction, editTx(func(m map[string]any) { delete(obj(m["geo"]), "lon") }), ReasonMissingField, "geo.lon"},
		// out_of_range
		{"zero quantity", KindTransaction, editTx(func(m map[string]any) { line(m, 1)["quantity"] = 0 }), ReasonOutOfRange, "lines[1].quantity"},
		{"huge quantity", KindTransaction, editTx(func(m map[string]any) { line(m, 1)["quantity"] = MaxQuantity + 1 }), ReasonOutOfRange, "lines[1].quantity"},
		{"int64 overflow", KindTransaction, []byte(strings.Replace(string(tx), `"quantity": 2`, `"quantity": 99999999999999999999`, 1)), ReasonOutOfRange, "lines[0].quantity"},
		{"negative unit price", KindTransaction, editTx(func(m map[string]any) { line(m, 2)["unit_price"] = -0.01 }), ReasonOutOfRange, "lines[2].unit_price"},
		{"negative amount", KindTransaction, set(tx, "amount", -1), ReasonOutOfRange, "amount"},
		{"absurd amount", KindTransaction, set(tx, "amount", 2e7), ReasonOutOfRange, "amount"},
		{"float overflow", KindTransaction, []byte(strings.Replace(string(tx), `"amount": 81.48`, `"amount": 1e400`, 1)), ReasonOutOfRange, "amount"},
		{"no lines at all", KindTransaction, set(tx, "lines", []any{}), ReasonOutOfRange, "lines"},
		{"long event_id", KindTransaction, set(tx, "event_id", strings.Repeat("x", MaxIDLength+1)), ReasonOutOfRange, "event_id"},
		{"latitude", KindTransaction, editTx(func(m map[string]any) { obj(m["geo"])["lat"] = 90.5 }), ReasonOutOfRange, "geo.lat"},
		{"longitude", KindTransaction, editTx(func(m map[string]any) { obj(m["geo"])["lon"] = -180.01 }), ReasonOutOfRange, "geo.lon"},
		// invalid_format
		{"short card bin", KindTransaction, editTx(func(m map[string]any) { obj(m["payment"])["card_bin"] = "42424" }), ReasonInvalidFormat, "payment.card_bin"},
		{"letters in card bin", KindTransaction, editTx(func(m map[string]any) { obj(m["payment"])["card_bin"] = "4242ab" }), ReasonInvalidFormat, "payment.card_bin"},
		// invalid_currency
		{"test currency", KindTransaction, set(tx, "currency", "XXX"), ReasonInvalidCurrency, "currency"},
		{"lower case currency", KindTransaction, set(tx, "currency", "eur"), ReasonInvalidCurrency, "currency"},
		{"withdrawn currency", KindTransaction, set(tx, "currency", "HRK"), ReasonInvalidCurrency, "currency"},
		{"long currency", KindTransaction, set(tx, "currency", "EURO"), ReasonInvalidCurrency, "currency"},
		// invalid_country
		{"unassigned country", KindTransaction, editTx(func(m map[string]any) { obj(m["geo"])["country"] = "ZZ" }), ReasonInvalidCountry, "geo.country"},
		{"lower case country", KindTransaction, editTx(func(m map[string]any) { obj(m["geo"])["country"] = "de" }), ReasonInvalidCountry, "geo.country"},
		{"alpha-3 country", KindTransaction, editTx(func(m map[string]any) { obj(m["geo"])["country"] = "DEU" }), ReasonInvalidCountry, "geo.country"},
		// invalid_enum
		{"channel", KindTransaction, set(tx, "channel", "email"), ReasonInvalidEnum, "channel"},
		{"payment method", KindTransaction, editTx(func(m map[string]any) { obj(m["payment"])["method"] = "cheque" }), ReasonInvalidEnum, "payment.method"},
		{"device type", KindTransaction, editTx(func(m map[string]any) { obj(m["device"])["type"] = "watch" }), ReasonInvalidEnum, "device.type"},
		{"unknown type", KindTransaction, set(tx, "type", "refund"), ReasonInvalidEnum, "type"},
		{"unknown type on any topic", "", set(tx, "type", "refund"), ReasonInvalidEnum, "type"},
		// invalid_timestamp
		{"space separated", KindTransaction, set(tx, "event_time", "2026-03-14 09:26:53Z"), ReasonInvalidTimestamp, "event_time"},
		{"no zone", KindTransaction, set(tx, "event_time", "2026-03-14T09:26:53"), ReasonInvalidTimestamp, "event_time"},
		{"unix seconds as string", KindTransaction, set(tx, "event_time", "1773480413"), ReasonInvalidTimestamp, "event_time"},
		// timestamp_skew
		{"future", KindTransaction, set(tx, "event_time", testNow.Add(6*time.Minute).Format(time.RFC3339)), ReasonTimestampSkew, "event_time"},
		{"too old", KindTransaction, set(tx, "event_time", testNow.Add(-DefaultMaxAge-time.Second).Format(time.RFC3339)), ReasonTimestampSkew, "event_time"},
		// unsupported_schema_version
		{"newer version", KindTransaction, set(tx, "schema_version", 2), ReasonUnsupportedSchemaVersion, "schema_version"},
		{"version zero", KindTransaction, set(tx, "schema_version", 0), ReasonUnsupportedSchemaVersion, "schema_version"},
		{"newer version wins over field errors", KindTransaction,
			[]byte(`{"amount":{"value":"81.48"},"type":"transaction","schema_version":2}`), ReasonUnsupportedSchemaVersion, "schema_version"},
		// type_mismatch
		{"user event on transaction topic", KindTransaction, ue, ReasonTypeMismatch, "type"},
		{"mismatch wins over field errors", KindProductUpdate, tx, ReasonTypeMismatch, "type"},
		// inconsistent_amount
		{"amount off by more than a cent per line", KindTransaction, set(tx, "amount", 81.52), ReasonInconsistentAmount, "amount"},
		{"amount of a different order", KindTransaction, set(tx, "amount", 8148), ReasonInconsistentAmount, "amount"},
		// invalid_ip
		{"ip out of range", KindTransaction, set(tx, "ip", "300.1.1.1"), ReasonInvalidIP, "ip"},
		{"ip with zone", KindTransaction, set(tx, "ip", "fe80::1%eth0"), ReasonInvalidIP, "ip"},
		{"host name", KindTransaction, set(tx, "ip", "example.com"), ReasonInvalidIP, "ip"},
		// user_event rules
		{"no session", KindUserEvent, del(ue, "session_id"), ReasonMissingField, "session_id"},
		{"no action", KindUserEvent, del(ue, "action"), ReasonMissingField, "action"},
		{"unknown action", KindUserEvent, set(ue, "action", "wishlist"), ReasonInvalidEnum, "action"},
		{"add to cart without product", KindUserEvent, del(ue, "product_id"), ReasonMissingField, "product_id"},
		{"search without query", KindUserEvent, set(ue, "action", "search"), ReasonMissingField, "query"},
		{"purchase without ids", KindUserEvent, set(ue, "action", "purchase"), ReasonMissingField, "transaction_id"},
		{"utm source number", KindUserEvent, mutate(t, ue, func(m map[string]any) { obj(m["utm"])["source"] = 1 }), ReasonWrongType, "utm.source"},
		{"user event country", KindUserEvent, mutate(t, ue, func(m map[string]any) { obj(m["geo"])["country"] = "UK" }), ReasonInvalidCountry, "geo.country"},
		// product_update rules
		{"no product", KindProductUpdate, del(pu, "product_id"), ReasonMissingField, "product_id"},
		{"no category", KindProductUpdate, del(pu, "category"), ReasonMissingField, "category"},
		{"negative price", KindProductUpdate, set(pu, "price", -1), ReasonOutOfRange, "price"},
		{"absurd cost", KindProductUpdate, set(pu, "cost", 1e8), ReasonOutOfRange, "cost"},
		{"negative stock", KindProductUpdate, set(pu, "stock", -1), ReasonOutOfRange, "stock"},
		{"fractional stock", KindProductUpdate, set(pu, "stock", 1.5), ReasonWrongType, "stock"},
		{"product currency", KindProductUpdate, set(pu, "currency", "ABC"), ReasonInvalidCurrency, "currency"},
		{"deleted string", KindProductUpdate, set(pu, "deleted", "yes"), ReasonWrongType, "deleted"},
	}
	v := testValidator()
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := v.Decode(tc.kind, tc.doc)
			if err == nil {
				t.Fatalf("accepted %s as %+v", tc.doc, ev)
			}
			var r *Rejection
			if !errors.As(err, &r) {
				t.Fatalf("error %v (%T) is not a *Rejection", err, err)
			}
			if r.Reason != tc.reason || r.Field != tc.field {
				t.Fatalf("got %s at %q (%s), want %s at %q", r.Reason, r.Field, r.Detail, tc.reason, tc.field)
			}
			if r.Detail == "" {
				t.Error("empty Detail")
			}
			covered[r.Reason] = true
		})
	}
	for _, reason := range Reasons {
		if !covered[reason] {
			t.Errorf("no case covers reason %s", reason)
		}
	}
}

func TestValidateGoValues(t *testing.T) {
	v := testValidator()
	ok := func() *ProductUpdate {
		return &ProductUpdate{
			Envelope:  Envelope{EventID: "e1", Type: KindProductUpdate, SchemaVersion: 1, EventTime: testNow},
			ProductID: "p1", Category: "c",
		}
	}
	if err := v.Validate(ok()); err != nil {
		t.Fatalf("valid product update: %v", err)
	}
	nan := func(x float64) *float64 { return &x }
	for name, tc := range map[string]struct {
		edit   func(p *ProductUpdate)
		reason string
	}{
		"zero type":        {func(p *ProductUpdate) { p.Type = "" }, ReasonMissingField},
		"other kind":       {func(p *ProductUpdate) { p.Type = KindTransaction }, ReasonTypeMismatch},
		"zero version":     {func(p *ProductUpdate) { p.SchemaVersion = 0 }, ReasonUnsupportedSchemaVersion},
		"zero time":        {func(p *ProductUpdate) { p.EventTime = time.Time{} }, ReasonMissingField},
		"NaN price":        {func(p *ProductUpdate) { p.Price = nan(zero / zero) }, ReasonOutOfRange},
		"infinite cost":    {func(p *ProductUpdate) { p.Cost = nan(1 / zero) }, ReasonOutOfRange},
		"no category":      {func(p *ProductUpdate) { p.Category = "" }, ReasonMissingField},
		"lower currency":   {func(p *ProductUpdate) { p.Currency = "usd" }, ReasonInvalidCurrency},
		"empty everything": {func(p *ProductUpdate) { *p = ProductUpdate{} }, ReasonMissingField},
	} {
		t.Run(name, func(t *testing.T) {
			p := ok()
			tc.edit(p)
			var r *Rejection
			if err := v.Validate(p); !errors.As(err, &r) || r.Reason != tc.reason {
				t.Fatalf("Validate = %v, want reason %s", err, tc.reason)
			}
		})
	}
	if err := v.Validate(nil); err == nil {
		t.Error("Validate(nil) succeeded")
	}
}

var zero float64

func TestClockLimits(t *testing.T) {
	tx := example(t, KindTransaction)
	at := func(d time.Duration) []byte {
		return mutate(t, tx, func(m map[string]any) { m["event_time"] = testNow.Add(d).Format(time.RFC3339Nano) })
	}
	cases := []struct {
		name string
		cfg  ValidatorConfig
		doc  []byte
		ok   bool
	}{
		{"at the skew limit", ValidatorConfig{}, at(DefaultMaxFutureSkew), true},
		{"just past the skew limit", ValidatorConfig{}, at(DefaultMaxFutureSkew + time.Nanosecond), false},
		{"custom skew", ValidatorConfig{MaxFutureSkew: time.Hour}, at(59 * time.Minute), true},
		{"skew check off", ValidatorConfig{MaxFutureSkew: -1}, at(24 * time.Hour), true},
		{"custom max age", ValidatorConfig{MaxAge: time.Hour}, at(-61 * time.Minute), false},
		{"age check off", ValidatorConfig{MaxAge: -1}, at(-365 * 24 * time.Hour), true},
		{"at the age limit", ValidatorConfig{}, at(-DefaultMaxAge), true},
		{"just past the age limit", ValidatorConfig{}, at(-DefaultMaxAge - time.Nanosecond), false},
		{"custom skew, just past", ValidatorConfig{MaxFutureSkew: time.Hour}, at(time.Hour + time.Nanosecond), false},
		{"custom max age, at it", ValidatorConfig{MaxAge: time.Hour}, at(-time.Hour), true},
		// Further apart than a Duration holds: Sub saturates.
		{"year 1", ValidatorConfig{}, mutate(t, tx, func(m map[string]any) { m["event_time"] = "0001-01-01T00:00:01Z" }), false},
		{"year 9999", ValidatorConfig{}, mutate(t, tx, func(m map[string]any) { m["event_time"] = "9999-12-31T23:59:59Z" }), false},
		{"year 1, age check off", ValidatorConfig{MaxAge: -1}, mutate(t, tx, func(m map[string]any) { m["event_time"] = "0001-01-01T00:00:01Z" }), true},
		{"year 9999, skew check off", ValidatorConfig{MaxFutureSkew: -1}, mutate(t, tx, func(m map[string]any) { m["event_time"] = "9999-12-31T23:59:59Z" }), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = func() time.Time { return testNow }
			_, err := NewValidator(tc.cfg).Decode(KindTransaction, tc.doc)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestCodeLists(t *testing.T) {
	countries := CountryCodes()
	if len(countries) != 249 {
		t.Errorf("%d country codes, ISO 3166-1 assigns 249", len(countries))
	}
	currencies := CurrencyCodes()
	for name, list := range map[string][]string{"countries": countries, "currencies": currencies} {
		if !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
			t.Errorf("%s are not sorted and unique", name)
		}
	}
	for code, exp := range map[string]int{"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3, "CLP": 0, "XOF": 0} {
		if got, ok := currencyExponent(code); !ok || got != exp {
			t.Errorf("currencyExponent(%s) = %d, %v; want %d", code, got, ok, exp)
		}
	}
	for _, code := range []string{"", "US", "usd", "XAU", "XXX", "CHE", "AAA", "ÄUR"} {
		if _, ok := currencyExponent(code); ok {
			t.Errorf("currency %q accepted", code)
		}
	}
	for _, code := range []string{"", "D", "XK", "EU", "UK", "aa", "ÄÄ"} {
		if validCountry(code) {
			t.Errorf("country %q accepted", code)
		}
	}
}

func TestRejectionError(t *testing.T) {
	r := &Rejection{Reason: ReasonOutOfRange, Field: "lines[2].quantity", Detail: "quantity 0 is outside 1 to 1000000"}
	want := "event rejected: out_of_range at lines[2].quantity: quantity 0 is outside 1 to 1000000"
	if r.Error() != want {
		t.Errorf("Error() = %q, want %q", r.Error(), want)
	}
	if got := (&Rejection{Reason: ReasonMalformedJSON}).Error(); got != "event rejected: malformed_json" {
		t.Errorf("Error() = %q", got)
	}
}

// TestParseIPv4 holds the IPv4 fast path to netip.ParseAddr: every string
// it accepts (edge cases, and random strings of digits, dots and other
// address characters) netip.ParseAddr reads as the same address, and it
// accepts every IPv4 address as netip.Addr.String writes it.
func TestParseIPv4(t *testing.T) {
	cases := []string{"", ".", "0.0.0.0", "255.255.255.255", "256.0.0.0", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04",
		"1.2.3.0", "10.0.0.1", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "1.2.3.4%eth0", "::1", "::ffff:1.2.3.4",
		"0x1.2.3.4", "1.2.3.255", "1.2.3.2555", "999.1.1.1", "00.0.0.0", "0.0.0.00", "1.2.3.-4", "+1.2.3.4"}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 200_000 {
		b := make([]byte, rng.IntN(17))
		for i := range b {
			b[i] = "0123456789.......:af"[rng.IntN(20)]
		}
		cases = append(cases, string(b))
	}
	for range 20_000 {
		cases = append(cases, netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(3)), byte(rng.IntN(256))}).String())
	}
	accepted := 0
	for _, s := range cases {
		got, ok := parseIPv4(s)
		want, err := netip.ParseAddr(s)
		if ok {
			accepted++
			if err != nil || got != want {
				t.Fatalf("parseIPv4(%q) = %v, netip.ParseAddr = %v, %v", s, got, want, err)
			}
		} else if err == nil && want.Is4() {
			t.Fatalf("parseIPv4(%q) refused what netip.ParseAddr reads as %v", s, want)
		}
	}
	if accepted < 20_000 {
		t.Fatalf("only %d of the cases were IPv4 addresses", accepted)
	}
}

func BenchmarkParseIPv4(b *testing.B) {
	var sink netip.Addr
	for b.Loop() {
		sink, _ = parseIPv4("203.0.113.121")
	}
	if sink != netip.AddrFrom4([4]byte{203, 0, 113, 121}) {
		b.Fatalf("got %v", sink)
	}
}
