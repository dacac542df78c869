package events

import (
	"strings"
	"testing"
)

// TestNextField reads every name of every field table, and names close to
// them, as members written in each way JSON allows (compact, with white
// space, escaped, near the end of the input), and checks that nextField
// gives the number lookup gives the unescaped name, and leaves the scanner
// at the value, as nextKey does.
func TestNextField(t *testing.T) {
	tables := map[string]*fieldTable{
		"transaction": transactionFields, "line": lineFields, "payment": paymentFields, "label": labelFields,
		"device": deviceFieldTable, "geo": geoFieldTable, "user event": userEventFields, "utm": utmFields,
		"product update": productUpdateFields,
	}
	for tname, table := range tables {
		var keys []string
		for _, name := range table.names {
			keys = append(keys, name, name[:len(name)-1], name+"x", "x"+name, name[:1]+"\x7f"+name[2:],
				strings.ToUpper(name), name[:len(name)-1]+string(name[len(name)-1]^1))
		}
		keys = append(keys, "", "a", "zz_unknown_field_name_longer_than_three_words")
		for _, key := range keys {
			want := table.lookup(key)
			// The name as written: plain, and with its first byte escaped.
			forms := []string{key}
			if key != "" {
				forms = append(forms, `\u00`+string(hexDigits[key[0]>>4])+string(hexDigits[key[0]&0xF])+key[1:])
			}
			for _, form := range forms {
				for _, layout := range []struct{ before, colon, tail string }{
					{`{`, `:`, `1,"zz":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}`}, // compact, room after
					{`{ `, ` : `, `1 }`}, // white space
					{`{`, `:`, `1}`},     // the end of the input within 24 bytes
				} {
					for _, first := range []bool{true, false} {
						prefix := layout.before
						if !first {
							prefix = `{"a":0,`
						}
						doc := prefix + `"` + form + `"` + layout.colon + layout.tail
						s := newScanner([]byte(doc))
						s.pos = len(prefix) - 1 // at '{' (first) or ','
						if first {
							s.pos = 0
							if err := s.enter(); err != nil {
								t.Fatal(err)
							}
						}
						id, ok, err := s.nextField(first, table)
						if err != nil || !ok || id != want {
							t.Fatalf("%s: nextField in %q = %d, %v, %v; want %d", tname, doc, id, ok, err, want)
						}
						if s.peek() != '1' {
							t.Fatalf("%s: nextField in %q stopped at %d, not at the value", tname, doc, s.pos)
						}
					}
				}
			}
		}
		// Each name cut short by the input's end, at every byte: nextField
		// reads the last bytes from a zero-padded copy, and must agree
		// with nextKey and lookup on all of them.
		for _, name := range table.names {
			for _, first := range []bool{true, false} {
				prefix := `{`
				if !first {
					prefix = `{"a":0,`
				}
				doc := prefix + `"` + name + `":1}`
				for k := len(prefix); k <= len(doc); k++ {
					start := len(prefix)
					if !first {
						start--
					}
					s, ref := newScanner([]byte(doc[:k])), newScanner([]byte(doc[:k]))
					s.pos, ref.pos = start, start
					id, ok, err := s.nextField(first, table)
					key, refOK, refErr := ref.nextKey(first)
					if (err != nil) != (refErr != nil) || ok != refOK || id != table.lookup(key) || s.pos != ref.pos {
						t.Fatalf("%s: nextField in %q = %d, %v, %v at %d; nextKey %q, %v, %v at %d",
							tname, doc[:k], id, ok, err, s.pos, key, refOK, refErr, ref.pos)
					}
				}
			}
		}
		// The end of the object, near the end of the input and not (white
		// space after the object), and a trailing comma, which is an error.
		for _, pad := range []string{"", strings.Repeat(" ", 30)} {
			for _, doc := range []string{`{}`, `{ }`, `{"a":0}`, `{"a":0 }`, `{"a":0,}`, `{,}`, `{"a":0"b":1}`} {
				s := newScanner([]byte(doc + pad))
				if err := s.enter(); err != nil {
					t.Fatal(err)
				}
				first := true
				if len(doc) > 3 {
					s.pos = strings.IndexByte(doc, '0') + 1
					first = false
				}
				id, ok, err := s.nextField(first, table)
				if valid := !strings.ContainsAny(doc, ",b"); valid != (err == nil) {
					t.Fatalf("%s: nextField at the end of %q: error %v", tname, doc, err)
				}
				if err == nil && (id != 0 || ok || s.pos != len(doc) || s.depth != 0) {
					t.Fatalf("%s: nextField at the end of %q = %d, %v, %v (pos %d, depth %d)", tname, doc, id, ok, err, s.pos, s.depth)
				}
			}
		}
	}
}

// TestFieldTableNumbers checks that each table numbers its names in the
// order of the constants the decoders switch on.
func TestFieldTableNumbers(t *testing.T) {
	for _, c := range []struct {
		table *fieldTable
		name  string
		id    int
	}{
		{transactionFields, "event_id", envEventID}, {transactionFields, "type", envType},
		{transactionFields, "schema_version", envSchemaVersion}, {transactionFields, "event_time", envEventTime},
		{transactionFields, "transaction_id", txnTransactionID}, {transactionFields, "label", txnLabel},
		{lineFields, "unit_price", lineUnitPrice}, {paymentFields, "card_bin", paymentCardBIN},
		{labelFields, "pattern", labelPattern}, {deviceFieldTable, "user_agent", deviceUserAgent},
		{geoFieldTable, "lon", geoLon}, {userEventFields, "event_time", envEventTime},
		{userEventFields, "channel", ueChannel}, {utmFields, "content", utmContent},
		{productUpdateFields, "event_time", envEventTime}, {productUpdateFields, "deleted", puDeleted},
	} {
		if got := c.table.lookup(c.name); got != c.id {
			t.Errorf("%s is number %d, want %d", c.name, got, c.id)
		}
	}
}
