package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkRoundTrip encodes ev, checks the bytes against encoding/json, decodes
// them again and checks that the result is equal and still valid.
func checkRoundTrip(t *testing.T, v *Validator, ev Event) {
	t.Helper()
	enc, err := Encode(ev)
	if err != nil {
		t.Fatalf("Encode(%+v): %v", ev, err)
	}
	std, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	if !bytes.Equal(enc, std) {
		t.Fatalf("Encode differs from encoding/json:\n got %s\nwant %s", enc, std)
	}
	back, err := v.Decode(ev.Kind(), enc)
	if err != nil {
		t.Fatalf("decoding %s: %v", enc, err)
	}
	if !reflect.DeepEqual(back, ev) {
		t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", back, ev)
	}
}

func TestRoundTripExamples(t *testing.T) {
	v := testValidator()
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ev, err := v.Decode(kind, example(t, kind))
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, v, ev)
		})
	}
}

func TestRoundTripBuilt(t *testing.T) {
	v := testValidator()
	f := func(x float64) *float64 { return &x }
	n := int64(0)
	events := []Event{
		&Transaction{
			Envelope:      Envelope{EventID: "t<1>&\u2028", Type: KindTransaction, SchemaVersion: 1, EventTime: testNow.Add(-time.Nanosecond)},
			TransactionID: "tx \"quoted\" \\ \x01\b\f\n\r\t", CustomerID: "c-é-😀",
			Lines:  []Line{{ProductID: "p", Quantity: 1, UnitPrice: 0.0000001}, {ProductID: "q", Quantity: MaxQuantity, UnitPrice: 9.99}},
			Amount: 9990000.0000001, Currency: "USD",
			IP:  netip.MustParseAddr("::ffff:10.1.2.3"),
			Geo: Geo{Lat: f(0), Lon: f(-0.5)},
		},
		&UserEvent{
			Envelope:  Envelope{EventID: "u1", Type: KindUserEvent, SchemaVersion: 1, EventTime: testNow},
			SessionID: "s", Action: ActionSearch, Query: "q", UTM: UTM{Content: "c"}, Device: Device{OS: "x"},
		},
		&ProductUpdate{
			Envelope:  Envelope{EventID: "p1", Type: KindProductUpdate, SchemaVersion: 1, EventTime: testNow},
			ProductID: "p", Category: "c", Price: f(0), Cost: f(1e-7), Stock: &n, Deleted: true,
		},
	}
	for _, ev := range events {
		t.Run(string(ev.Kind()), func(t *testing.T) {
			if err := v.Validate(ev); err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, v, ev)
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	good := &ProductUpdate{Envelope: Envelope{EventID: "p1", Type: KindProductUpdate, SchemaVersion: 1, EventTime: testNow}, ProductID: "p", Category: "c"}
	nan := math.NaN()
	cases := map[string]Event{
		"nil interface": nil,
		"nil pointer":   (*Transaction)(nil),
		"NaN":           &ProductUpdate{Envelope: good.Envelope, Price: &nan},
		"year 10000":    &ProductUpdate{Envelope: Envelope{EventTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			dst := []byte("prefix")
			out, err := AppendEncode(dst, ev)
			if err == nil {
				t.Fatalf("encoded %s", out)
			}
			if string(out) != "prefix" {
				t.Errorf("dst changed to %q", out)
			}
		})
	}
	out, err := AppendEncode([]byte("x"), good)
	if err != nil || !bytes.HasPrefix(out, []byte(`x{"event_id":"p1"`)) {
		t.Errorf("AppendEncode = %s, %v", out, err)
	}
}

func TestDecodeUnknownKind(t *testing.T) {
	_, err := Decode("refund", example(t, KindTransaction))
	var r *Rejection
	if err == nil || errors.As(err, &r) {
		t.Fatalf("Decode with unknown kind = %v, want a plain error", err)
	}
}

// TestEncodeIP checks the address, written without String, against
// encoding/json for every form netip prints, including zones (which
// validation rejects, but Encode does not validate) that need escaping.
func TestEncodeIP(t *testing.T) {
	for _, s := range []string{"10.1.2.3", "0.0.0.0", "::", "::1", "2001:db8::ff00:42:8329", "::ffff:10.1.2.3",
		"fe80::1%eth0", `fe80::1%a"b\c<d>`, "fe80::1%é", "1:2:3:4:5:6:7:8"} {
		tx := &Transaction{Envelope: Envelope{EventID: "t", Type: KindTransaction, SchemaVersion: 1, EventTime: testNow},
			IP: netip.MustParseAddr(s)}
		enc, err := Encode(tx)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		std, err := json.Marshal(tx)
		if err != nil {
			t.Fatalf("%s: json.Marshal: %v", s, err)
		}
		if !bytes.Equal(enc, std) {
			t.Fatalf("%s: Encode differs from encoding/json:\n got %s\nwant %s", s, enc, std)
		}
	}
}

// TestAppendCentsMatchesStrconv checks the hundredths fast path of number
// encoding against strconv's shortest formatting (what encoding/json
// writes): whole hundredths at every magnitude up to the bound, their
// neighbouring floats, and random floats, which it must decline or write
// the same.
func TestAppendCentsMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(f float64) {
		got, ok := appendCents(nil, f)
		if !ok {
			return
		}
		if want := strconv.AppendFloat(nil, f, 'f', -1, 64); !bytes.Equal(got, want) {
			t.Fatalf("appendCents(%v) = %s, strconv %s", f, got, want)
		}
	}
	taken := 0
	for range 2_000_000 {
		scale := math.Pow(10, float64(rng.IntN(12)))
		c := math.Floor(rng.Float64() * scale)
		if rng.IntN(2) == 0 {
			c = -c
		}
		f := c / 100
		if _, ok := appendCents(nil, f); ok {
			taken++
		}
		check(f)
		check(math.Nextafter(f, math.Inf(1)))
		check(math.Nextafter(f, math.Inf(-1)))
		check(rng.NormFloat64() * scale)
	}
	for _, f := range []float64{0.01, 0.1, 0.29, 0.3, 1.005, 9.99, 100, 999999999.99, 1e9 - 0.01, 1e9, 1e9 + 0.5, -0.01, 123456.78,
		math.Copysign(0, -1), 0, math.NaN(), math.Inf(1), math.MaxFloat64, 5e-324} {
		check(f)
	}
	if taken < 1_000_000 {
		t.Fatalf("the fast path took only %d of 2,000,000 whole hundredths", taken)
	}
}

// TestAppendJSONStringEveryPosition puts each byte that needs escaping or
// a look at its UTF-8 at every position of strings of 0 to 24 bytes, so
// that plainPrefix's word-at-a-time scan meets it in every lane of a word
// and in the tail, and checks the result against encoding/json.
func TestAppendJSONStringEveryPosition(t *testing.T) {
	specials := []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", "\n", "\x7f", "é", "\u2028", "\u2029", "\xff", "😀"}
	for n := 0; n <= 24; n++ {
		base := strings.Repeat("a", n)
		check := func(s string) {
			t.Helper()
			want, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := AppendJSONString([]byte("x"), s); !bytes.Equal(got[1:], want) {
				t.Fatalf("AppendJSONString(%q) = %s, want %s", s, got[1:], want)
			}
		}
		check(base)
		for i := 0; i <= n; i++ {
			for _, sp := range specials {
				check(base[:i] + sp + base[i:])
				check(base[:i] + sp + base[i:] + sp)
			}
		}
	}
}

// TestBlockAppendEncode puts each character that JSON output escapes, or
// may, into each string of a compact transaction (where the decoder reads
// strings in place) and checks TransactionBlock.AppendEncode against
// encoding/json: for the record as decoded, and after its strings were
// replaced by ones from elsewhere, which the block knows nothing about.
func TestBlockAppendEncode(t *testing.T) {
	v := testValidator()
	full := compactExample(t, KindTransaction)
	fields := []func(m map[string]any) (get func() any, set func(any)){
		func(m map[string]any) (func() any, func(any)) {
			return func() any { return m["transaction_id"] }, func(x any) { m["transaction_id"] = x }
		},
		func(m map[string]any) (func() any, func(any)) {
			p := obj(m["device"])
			return func() any { return p["user_agent"] }, func(x any) { p["user_agent"] = x }
		},
		func(m map[string]any) (func() any, func(any)) {
			l := line(m, 1)
			return func() any { return l["product_id"] }, func(x any) { l["product_id"] = x }
		},
		func(m map[string]any) (func() any, func(any)) {
			// An unknown member: its string is read in place too.
			return func() any { return m["zz"] }, func(x any) { m["zz"] = x }
		},
	}
	var block TransactionBlock
	for _, special := range []string{"", "<", ">", "&", "é", "\u2028", "\u2029", `"`, `\`, "\n", "\x7f", "=?"} {
		for fi, field := range fields {
			for _, at := range []int{0, 3, 9} {
				data := mutate(t, full, func(m map[string]any) {
					get, set := field(m)
					old, _ := get().(string)
					if old == "" {
						old = "unknown-member-value"
					}
					set(old[:min(at, len(old))] + special + old[min(at, len(old)):])
				})
				// encoding/json escapes '<', '>' and '&'; put them back as
				// they are, as a producer may send them.
				data = bytes.NewBuffer(data).Bytes()
				for _, esc := range [][2]string{{`\u003c`, "<"}, {`\u003e`, ">"}, {`\u0026`, "&"}} {
					data = bytes.ReplaceAll(data, []byte(esc[0]), []byte(esc[1]))
				}
				txn, err := v.DecodeTransactionInto(&block, data)
				if err != nil {
					t.Fatalf("%s: %v", data, err)
				}
				check := func(what string) {
					t.Helper()
					got, err := block.AppendEncode([]byte("x"), txn)
					if err != nil {
						t.Fatal(err)
					}
					want, err := json.Marshal(txn)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got[1:], want) || got[0] != 'x' {
						t.Fatalf("field %d, %q at %d, %s:\n got %s\nwant x%s", fi, special, at, what, got, want)
					}
				}
				check("as decoded")
				// Strings that need no escaping are copied only from a
				// record taken as plain: one whose strings were all read in
				// place and hold nothing JSON escapes.
				inPlace := !strings.ContainsAny(special, "\"\\\n\u2028\u2029") // what encoding/json does not escape in the input
				if plain := inPlace && !strings.ContainsAny(special, "<>&") && special < "\x80"; block.plain != plain {
					t.Fatalf("field %d, %q at %d: plain = %v", fi, special, at, block.plain)
				}
				// Strings from elsewhere, needing escapes or not, are
				// escaped as usual, in a record whose own strings need none.
				txn.CustomerID, txn.Currency = "c<"+special+">&", strings.Clone(txn.Currency)
				txn.Lines[0].ProductID = "p\u2028&" + special
				txn.IP = mustAddr("198.51.100.7") // not the record's
				check("with strings and the address replaced")
			}
		}
	}
	if _, err := (*TransactionBlock)(nil).AppendEncode(nil, nil); err == nil {
		t.Fatal("AppendEncode of a nil transaction succeeded")
	}
}

// TestBlockAppendEncodeNumbers writes the amount, unit prices and
// coordinates of records holding numbers in many forms (the canonical ones
// the block copies, and trailing zeros, exponents, -0, long and tiny
// numbers, which it must format) and checks TransactionBlock.AppendEncode
// against encoding/json, for the numbers as decoded and after they changed.
func TestBlockAppendEncodeNumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	texts := []string{"0", "-0", "0.0", "1", "10", "19.99", "19.990", "5.5", "5.50", "0.1", "0.000001", "0.0000001",
		"0.0000012", "-0.5", "-180", "1e2", "1.5E+1", "2e-7", "123456789012345", "1234567890123456",
		"0.30000000000000004", "9999999.99", "100.000", "-0.000001"}
	for range 3000 {
		var b strings.Builder
		if rng.IntN(4) == 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(rng.IntN([]int{1, 10, 1000, 10_000_000, 1e15}[rng.IntN(5)])))
		if d := rng.IntN(9); d > 0 {
			b.WriteByte('.')
			for range d {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		texts = append(texts, b.String())
	}
	full := string(compactExample(t, KindTransaction))
	var block TransactionBlock
	for i, text := range texts {
		// The same text in every number the block keeps, the others
		// untouched: decode does not validate, so ranges do not matter.
		doc := strings.NewReplacer(`"amount":81.48`, `"amount":`+text, `"unit_price":5.5`, `"unit_price":`+text,
			`"lat":52.52`, `"lat":`+text, `"lon":13.405`, `"lon":`+text).Replace(full)
		if strings.Count(doc, text) < 4 {
			t.Fatalf("the example changed: %s", doc)
		}
		ev, err := decode(KindTransaction, []byte(doc), true, &block)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		txn := ev.(*Transaction)
		for _, what := range []string{"as decoded", "changed"} {
			checkBlockEncode(t, &block, txn, text+", "+what)
			// Values that are not the decoded ones any more.
			txn.Amount = -txn.Amount
			txn.Lines[1].UnitPrice += 0.25
			*txn.Geo.Lat, *txn.Geo.Lon = float64(i)/3, -*txn.Geo.Lon
		}
	}
}

// checkBlockEncode fails t unless block's encoding of txn is what
// encoding/json writes for it.
func checkBlockEncode(t *testing.T, block *TransactionBlock, txn *Transaction, what string) {
	t.Helper()
	got, err := block.AppendEncode(nil, txn)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(txn)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// TestBlockAppendEncodeTimes writes event times in the shapes the block
// copies (UTC with "Z", a fraction without trailing zeros or none) and in
// others (trailing zeros, offsets), as decoded and after
// they changed, and checks TransactionBlock.AppendEncode against
// encoding/json.
func TestBlockAppendEncodeTimes(t *testing.T) {
	full := string(compactExample(t, KindTransaction))
	const example = `"event_time":"2026-03-14T09:26:53.589Z"`
	if !strings.Contains(full, example) {
		t.Fatalf("the example changed: %s", full)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	texts := []string{"2026-03-14T09:26:53Z", "2026-03-14T09:26:50Z", "2026-03-14T09:26:00.5Z", "2026-03-14T09:26:53.50Z",
		"2026-03-14T09:26:53.000Z", "2026-03-14T09:26:53.123456789Z", "2026-03-14T09:26:53.100000000Z",
		"2026-03-14T10:26:53+01:00", "2026-03-14T09:26:53.25-00:00", "0001-01-01T00:00:00.1Z"}
	for range 2000 {
		tm := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)/[]int64{1, 10, 1e3, 1e6, 1e9}[rng.IntN(5)]*[]int64{1, 10, 1e3}[rng.IntN(3)]).UTC()
		texts = append(texts, tm.Format(time.RFC3339Nano), tm.Format("2006-01-02T15:04:05.000Z"))
	}
	var block TransactionBlock
	for _, text := range texts {
		doc := strings.Replace(full, example, `"event_time":"`+text+`"`, 1)
		ev, err := decode(KindTransaction, []byte(doc), true, &block)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		txn := ev.(*Transaction)
		for _, what := range []string{"as decoded", "in another zone", "another time"} {
			switch what {
			case "in another zone":
				txn.EventTime = txn.EventTime.In(time.FixedZone("X", 3600))
			case "another time":
				txn.EventTime = txn.EventTime.Add(time.Millisecond).UTC()
			}
			checkBlockEncode(t, &block, txn, text+", "+what)
		}
	}
}

// TestBlockAppendEncodeLines decodes lines arrays written in the writer's
// form, which the block copies as they are, and in forms close to it that
// it must not copy (white space, other member orders, unknown or repeated
// members, escapes, other number texts, more lines than it keeps, a second
// lines member), and checks TransactionBlock.AppendEncode against
// encoding/json: for the lines as decoded and after each kind of change.
func TestBlockAppendEncodeLines(t *testing.T) {
	full := string(compactExample(t, KindTransaction))
	const example = `"lines":[{"product_id":"sku-1001","quantity":2,"unit_price":19.99},` +
		`{"product_id":"sku-2040","quantity":1,"unit_price":5.5},{"product_id":"sku-3177","quantity":3,"unit_price":12}]`
	if !strings.Contains(full, example) {
		t.Fatalf("the example changed: %s", full)
	}
	l := func(pid, qty, price string) string {
		return `{"product_id":"` + pid + `","quantity":` + qty + `,"unit_price":` + price + `}`
	}
	canonical := l("a", "1", "2.5")
	for _, c := range []struct {
		lines  string
		copied bool
	}{
		{`[` + canonical + `]`, true},
		{`[` + canonical + `,` + l("sku-2", "10", "0.01") + `]`, true},
		{`[` + strings.Repeat(canonical+`,`, 3) + canonical + `]`, true},
		{`[` + strings.Repeat(canonical+`,`, 4) + canonical + `]`, false}, // five lines
		{`[]`, true},
		{`[ ]`, false},
		{`[ ` + canonical + `]`, false},
		{`[` + canonical + ` ]`, false},
		{`[` + canonical + ` ,` + canonical + `]`, false},
		{`[{ "product_id":"a","quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id" :"a","quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id":"a","quantity":1,"unit_price":2.5 }]`, false},
		{`[{"quantity":1,"product_id":"a","unit_price":2.5}]`, false},
		{`[{"product_id":"a","unit_price":2.5,"quantity":1}]`, false},
		{`[{"zz":0,"product_id":"a","quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id":"a","quantity":1,"unit_price":2.5,"zz":0}]`, false},
		{`[{"product_id":"b","product_id":"a","quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id":"a","quantity":1,"quantity":1,"unit_price":2.5}]`, false},
		{`[{"product\u005fid":"a","quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id":"\u0061","quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id":"a\/b","quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id":null,"quantity":1,"unit_price":2.5}]`, false},
		{`[{"quantity":1,"unit_price":2.5}]`, false},
		{`[{"product_id":"a","quantity":-0,"unit_price":2.5}]`, false},
		{`[{"product_id":"a","quantity":-3,"unit_price":2.5}]`, true},
		{`[{"product_id":"a","quantity":1,"unit_price":2.50}]`, false},
		{`[{"product_id":"a","quantity":1,"unit_price":25e-1}]`, false},
		{`[{"product_id":"a","quantity":1,"unit_price":-0}]`, false},
		{`[{"product_id":"a<","quantity":1,"unit_price":2.5}]`, false}, // escaped on output
		{`[{"product_id":"a","quantity":1,"unit_price":2.5}],"lines":[{"product_id":"a","quantity":1,"unit_price":2.50}]`, false},
		{`[{"product_id":"a","quantity":1,"unit_price":2.50}],"lines":[{"product_id":"a","quantity":1,"unit_price":2.5}]`, true},
		{`[{"product_id":"a","quantity":1,"unit_price":2.5}],"lines":null`, false},
	} {
		doc := strings.Replace(full, example, `"lines":`+c.lines, 1)
		var block TransactionBlock
		ev, err := decode(KindTransaction, []byte(doc), true, &block)
		if err != nil {
			t.Fatalf("%s: %v", c.lines, err)
		}
		txn := ev.(*Transaction)
		if copied := block.plain && block.texts.sameLines(txn.Lines); copied != c.copied {
			t.Errorf("%s: lines copied = %v, want %v", c.lines, copied, c.copied)
		}
		checkBlockEncode(t, &block, txn, c.lines+", as decoded")
		if len(txn.Lines) == 0 {
			continue
		}
		last := len(txn.Lines) - 1
		for _, change := range []struct {
			name string
			do   func()
		}{
			{"quantity", func() { txn.Lines[last].Quantity++ }},
			{"unit price", func() { txn.Lines[last].UnitPrice += 0.25 }},
			{"product ID", func() { txn.Lines[last].ProductID = "other" }},
			{"one line less", func() { txn.Lines = txn.Lines[:last] }},
			{"one line more", func() { txn.Lines = append(txn.Lines, Line{ProductID: "x", Quantity: 1, UnitPrice: 1}) }},
			{"no lines", func() { txn.Lines = nil }},
		} {
			saved := append([]Line(nil), txn.Lines...)
			change.do()
			if block.texts.sameLines(txn.Lines) {
				t.Errorf("%s: lines taken for the decoded ones after a changed %s", c.lines, change.name)
			}
			checkBlockEncode(t, &block, txn, c.lines+", changed "+change.name)
			txn.Lines = append(txn.Lines[:0], saved...)
		}
	}
}
