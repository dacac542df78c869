package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestScannerStrings puts each interesting byte at every offset of strings
// long enough to cross several eight-byte words, and compares the reader
// with encoding/json on validity and value, and with PlainJSONString on
// whether it notes the string as one JSON output escapes.
func TestScannerStrings(t *testing.T) {
	specials := []string{`"`, `\\`, `\"`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\ud800\u0041`, `\x`, `\u12`,
		"\x00", "\x1f", "\x7f", " ", "é", "€", "😀", `\/`, `\b\f\n\r\t`, "<", ">", "&", "'", "=", "%", "*", "$", "^", "|"}
	// And every ASCII byte on its own: the word test flags a few of them
	// (such as '^', '|' and '~') that need nothing, which must only cost
	// time.
	for c := range utf8.RuneSelf {
		specials = append(specials, string(rune(c)))
	}
	for _, sp := range specials {
		for n := 0; n <= 24; n++ {
			for _, tail := range []string{"", "abc"} {
				body := strings.Repeat("a", n) + sp + tail
				doc := `"` + body + `"`
				var want string
				wantOK := json.Unmarshal([]byte(doc), &want) == nil
				s := newScanner([]byte(doc))
				got, err := s.readString()
				// A quote inside ends the string early, and the rest is
				// trailing data, which encoding/json refuses too.
				gotOK := err == nil && s.pos == len(doc)
				if gotOK != wantOK {
					t.Errorf("%q: accepted %v (err %v, stopped at %d), encoding/json %v", doc, gotOK, err, s.pos, wantOK)
				} else if gotOK && got != want {
					t.Errorf("%q: got %q, want %q", doc, got, want)
				}
				// The reader notes a string it returns that JSON output
				// would not write as it is: read through escapes, or
				// holding '<', '>', '&' or bytes from 0x80 on.
				if plain := PlainJSONString(body); gotOK && (s.escaped == 0) != plain {
					t.Errorf("%q: escaped = %#x, want it zero: %v", doc, s.escaped, plain)
				}
			}
		}
	}
}

// TestScannerNumbers compares number syntax with encoding/json.
func TestScannerNumbers(t *testing.T) {
	for _, num := range []string{"0", "-0", "1", "-1", "10", "01", "-01", "1.", "1.5", ".5", "1e5", "1E+5", "1e-5",
		"1e", "1e+", "-", "+1", "1.5e3", "0.0", "00", "1.2.3", "2e308", "123456789012345678901234567890"} {
		wantOK := json.Valid([]byte(num))
		s := newScanner([]byte(num))
		var n number
		err := s.readNumber(&n)
		gotOK := err == nil && s.atEnd()
		if gotOK != wantOK {
			t.Errorf("%q: accepted %v, encoding/json %v", num, gotOK, wantOK)
		}
	}
}

func TestInvalidUTF8(t *testing.T) {
	for _, doc := range []string{"{\"event_id\":\"\xc3\"}", "{\"x\":\"\xed\xa0\x80\"}", "{\"\xff\":1}"} {
		if utf8.ValidString(doc) {
			t.Fatalf("%q is valid UTF-8", doc)
		}
		_, err := Decode(KindTransaction, []byte(doc))
		if r, ok := err.(*Rejection); !ok || r.Reason != ReasonMalformedJSON {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

// TestNumberConversion checks the fast paths against strconv bit for bit.
func TestNumberConversion(t *testing.T) {
	cases := []string{"0", "-0", "1", "19.99", "0.1", "0.3", "81.48", "9999999.99", "123456789012345",
		"1234567890123456", "0.000000000000001", "-5.5", "1e3", "52.52", "13.405", "-180.0000001",
		"999999999999999999", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-1000000000000000000"}
	for i := range 2000 {
		cases = append(cases, strconv.FormatFloat(float64(i)*0.01+float64(i%7)*1e5, 'f', -1, 64))
	}
	for _, raw := range cases {
		var n number
		err := newScanner([]byte(raw)).readNumber(&n)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		want, _ := strconv.ParseFloat(raw, 64)
		if got, ok := n.float64(); !ok || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("float64(%s) = %v, want %v", raw, got, want)
		}
		if n.scale == 0 && !n.exp {
			want, err := strconv.ParseInt(raw, 10, 64)
			if got, ok := n.int64(); ok != (err == nil) || ok && got != want {
				t.Errorf("int64(%s) = %d, %v; want %d, %v", raw, got, ok, want, err)
			}
		}
	}
}

// TestInvalidUTF8EveryString breaks the UTF-8 of the example transaction
// at every byte inside a string (keys, values, unknown fields, strings that
// need unescaping, the last bytes of the input), with a lone continuation
// byte, a truncated sequence, an encoded surrogate and an overlong form:
// every decoding entry point must reject each one with the UTF-8
// rejection, whatever else the bytes break, and accept valid non-ASCII
// text put in the same places. It does so in a record whose strings are
// all read in place (UTF-8 is then checked only if a string noted a byte
// from 0x80 on), one with a string at its very end, and one with an
// escape.
func TestInvalidUTF8EveryString(t *testing.T) {
	v := testValidator()
	plain := compactExample(t, KindTransaction)
	// An unknown field with an escape and text near the end exercise the
	// slower string paths too.
	escaped := append(slices.Clone(plain[:len(plain)-1]), `,"zz_note":"a\"b","zz":"xyzzy"}`...)
	// A string in the last eight bytes is read byte by byte.
	tail := append(slices.Clone(plain[:len(plain)-1]), `,"zz":"xy"}`...)
	for _, doc := range [][]byte{plain, escaped, tail} {
		checkInvalidUTF8EveryString(t, v, doc)
	}
}

func checkInvalidUTF8EveryString(t *testing.T, v *Validator, doc []byte) {
	if _, err := v.Decode(KindTransaction, doc); err != nil {
		t.Fatal(err)
	}
	inString := make([]bool, len(doc))
	for i, in := 0, false; i < len(doc); i++ {
		switch {
		case doc[i] == '\\' && in:
			inString[i], inString[i+1] = true, true
			i++
		case doc[i] == '"':
			in = !in
		default:
			inString[i] = in
		}
	}
	var block TransactionBlock
	for i := range doc {
		if !inString[i] || doc[i] == '\\' || i > 0 && doc[i-1] == '\\' {
			continue
		}
		for _, bad := range []string{"\x80", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\xff"} {
			data := append(append(append([]byte{}, doc[:i]...), bad...), doc[i:]...)
			for name, decode := range map[string]func() error{
				"Decode":                func() error { _, err := v.Decode(KindTransaction, data); return err },
				"DecodeTransactionInto": func() error { _, err := v.DecodeTransactionInto(&block, data); return err },
				"Decode(any)":           func() error { _, err := Decode("", data); return err },
			} {
				r, ok := decode().(*Rejection)
				if !ok || r.Reason != ReasonMalformedJSON || r.Detail != "payload is not valid UTF-8" {
					t.Fatalf("%s(%q): %v, want the UTF-8 rejection", name, data, r)
				}
			}
		}
		// Valid text in the same place decodes (unless it changes a value
		// the schema checks).
		good := append(append(append([]byte{}, doc[:i]...), "é€😀"...), doc[i:]...)
		if _, err := Decode(KindTransaction, good); err != nil {
			if r, ok := err.(*Rejection); !ok || r.Reason == ReasonMalformedJSON {
				t.Fatalf("Decode(%q): %v", good, err)
			}
		}
	}
}

// compactExample returns the example of kind without white space.
func compactExample(tb testing.TB, kind Kind) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, example(tb, kind)); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestFloatFastPath holds float's one-pass reading of the usual number to
// floatSlow, the general reader, on value, text kept, position, and error,
// for numbers in every form and things that are not numbers.
func TestFloatFastPath(t *testing.T) {
	texts := []string{"0", "-0", "1", "-1", "10", "01", "-01", "1.", "1.5", ".5", "1e5", "1E+5", "1e-5", "1.5e3",
		"0.0", "00", "1.2.3", "0.5", "0.50", "0.000001", "0.0000001", "0.1234567", "100", "100.0", "19.99", "19.990",
		"123456789012345", "1234567890123456", "12345678901234.5", "1234567890123.45", "0.12345678901234",
		"0.123456789012345", "999999999999999", "9999999.99", "1e", "-", "+1", "", " 1", "null", `"1"`, "x",
		"1x", "1.5x", "1.x", "2e308", "123456789012345678901234567890"}
	for _, text := range texts {
		for _, after := range []string{"", ",", "}", " ", "e", "."} {
			doc := text + after
			fast, slow := newScanner([]byte(doc)), newScanner([]byte(doc))
			fv, fok, ferr := fast.float("x")
			sv, sok, serr := slow.floatSlow("x")
			if math.Float64bits(fv) != math.Float64bits(sv) || fok != sok || fmt.Sprint(ferr) != fmt.Sprint(serr) ||
				fast.pos != slow.pos || fast.numText != slow.numText {
				t.Errorf("%q: float = %v, %v, %v (pos %d, text %q); floatSlow = %v, %v, %v (pos %d, text %q)",
					doc, fv, fok, ferr, fast.pos, fast.numText, sv, sok, serr, slow.pos, slow.numText)
			}
		}
	}
}

// TestIntegerFastPath holds integer's one-pass reading of the usual integer
// to integerSlow, the general reader, as TestFloatFastPath does for float.
func TestIntegerFastPath(t *testing.T) {
	texts := []string{"0", "-0", "1", "-1", "10", "01", "-01", "1.", "1.5", "1.0", ".5", "1e5", "1E+5", "00", "7",
		"123456789012345678", "999999999999999999", "1234567890123456789", "9223372036854775807",
		"9223372036854775808", "1e", "-", "+1", "", " 1", "null", `"1"`, "x", "1x", "12345678901234567890123"}
	for _, text := range texts {
		for _, after := range []string{"", ",", "}", " ", "e", "E", "."} {
			doc := text + after
			fast, slow := newScanner([]byte(doc)), newScanner([]byte(doc))
			fv, fok, ferr := fast.integer("x")
			sv, sok, serr := slow.integerSlow("x")
			if fv != sv || fok != sok || fmt.Sprint(ferr) != fmt.Sprint(serr) || fast.pos != slow.pos {
				t.Errorf("%q: integer = %v, %v, %v (pos %d); integerSlow = %v, %v, %v (pos %d)",
					doc, fv, fok, ferr, fast.pos, sv, sok, serr, slow.pos)
			}
		}
	}
}

// TestLineAsWritten holds the reader of lines written as JSON output
// writes them to line, the general reader: where it takes a line, the same
// line, length and position; where it declines, the scanner unmoved. It
// must take the writer's own form.
func TestLineAsWritten(t *testing.T) {
	for _, c := range []struct {
		text  string
		taken bool
	}{
		{`{"product_id":"sku-1","quantity":2,"unit_price":19.99}`, true},
		{`{"product_id":"","quantity":1000000,"unit_price":0.5}`, true},
		{`{"product_id":"a","quantity":-3,"unit_price":12}`, true},
		{`{"product_id":"a","quantity":-0,"unit_price":12}`, false},
		{`{"product_id":"a","quantity":01,"unit_price":12}`, false},
		{`{"product_id":"a","quantity":1.0,"unit_price":12}`, false},
		{`{"product_id":"a","quantity":1,"unit_price":12.50}`, false},
		{`{"product_id":"a","quantity":1,"unit_price":1e1}`, false},
		{`{"product_id":"a","quantity":1,"unit_price":null}`, false},
		{`{"product_id":"a","quantity":null,"unit_price":1}`, false},
		{`{"product_id":"a","quantity":"1","unit_price":1}`, false},
		{`{"product_id":"a\u0062","quantity":1,"unit_price":1}`, false},
		{`{"product_id":"a<","quantity":1,"unit_price":1}`, true}, // in place; JSON output escapes it
		{`{"product_id":"a","quantity":1,"unit_price":1,"zz":0}`, false},
		{`{"product_id":"a","quantity":1,"unit_price":1 }`, false},
		{`{"product_id":"a", "quantity":1,"unit_price":1}`, false},
		{`{"product_id":"a","unit_price":1,"quantity":1}`, false},
		{`{"product_id":null,"quantity":1,"unit_price":1}`, false},
		{`{"product_id":"a`, false},
		{`{"product_id":"a","quantity":1,"unit_price":`, false},
		{`{"product_id":"a","quantity":1,"unit_price":1`, false},
		{`{"product_id":"a","quantity":99999999999999999999,"unit_price":1}`, false},
	} {
		for _, i := range []int{0, 3, 4} {
			doc := `[` + c.text + `]`
			fast, general := newScanner([]byte(doc)), newScanner([]byte(doc))
			var texts, generalTexts decodedTexts
			fast.texts, general.texts = &texts, &generalTexts
			fast.pos, general.pos = 1, 1
			var got, want Line
			n, ok := fast.lineAsWritten(i, &got)
			if taken := c.taken && i < len(texts.prices); ok != taken {
				t.Errorf("%s, line %d: taken = %v, want %v", c.text, i, ok, taken)
			}
			if !ok {
				if fast.pos != 1 {
					t.Errorf("%s, line %d: declined at %d, not where it started", c.text, i, fast.pos)
				}
				continue
			}
			wantN, err := general.line(i, &want)
			if err != nil || got != want || n != wantN || fast.pos != general.pos || texts.prices[i] != generalTexts.prices[i] {
				t.Errorf("%s, line %d: %+v, %d at %d; line gives %+v, %d at %d (%v)", c.text, i, got, n, fast.pos, want, wantN, general.pos, err)
			}
		}
	}
}

// TestTextWords holds textWords.at to strings.HasPrefix for texts of 8 to
// 16 bytes at every place of an input, up to its end, with each of the
// text's bytes changed once, and cut short at the input's end.
func TestTextWords(t *testing.T) {
	for _, text := range []string{`{"product_id":"`, `,"quantity":`, `,"unit_price":`, "12345678", "0123456789abcdef"} {
		tw := newTextWords(text)
		inputs := []string{text}
		for i := range len(text) {
			b := []byte(text)
			b[i] ^= 0x20
			inputs = append(inputs, string(b), text[:i]) // changed, cut short
		}
		for _, in := range inputs {
			for pad := range 12 {
				raw := strings.Repeat("x", pad) + in + strings.Repeat("y", pad%3)
				for i := -1; i <= len(raw); i++ {
					want := i >= 0 && strings.HasPrefix(raw[i:], text)
					if got := tw.at([]byte(raw), i); got != want {
						t.Fatalf("%q at %d of %q: %v, want %v", text, i, raw, got, want)
					}
				}
			}
		}
	}
}
