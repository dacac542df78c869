package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The seed corpora live in testdata/fuzz/<target>/; the examples are added
// here as well so that a plain go test always runs them.

func FuzzDecodeTransaction(f *testing.F)   { fuzzDecode(f, KindTransaction) }
func FuzzDecodeUserEvent(f *testing.F)     { fuzzDecode(f, KindUserEvent) }
func FuzzDecodeProductUpdate(f *testing.F) { fuzzDecode(f, KindProductUpdate) }

// FuzzDecodeAny decodes with an empty kind, which sniffs the type first.
func FuzzDecodeAny(f *testing.F) { fuzzDecode(f, "") }

func fuzzDecode(f *testing.F, kind Kind) {
	for _, k := range Kinds {
		if kind == "" || kind == k {
			f.Add(example(f, k))
		}
	}
	v := testValidator()
	// One block for every input: each decode must leave nothing of the
	// previous transaction behind.
	var block TransactionBlock
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := v.Decode(kind, data)
		// DecodeOwned, which reads the caller's bytes instead of a copy,
		// decodes exactly the same.
		owned, ownedErr := v.DecodeOwned(kind, slices.Clone(data))
		if !reflect.DeepEqual(owned, ev) || !reflect.DeepEqual(ownedErr, err) {
			t.Fatalf("DecodeOwned = %+v, %v; Decode = %+v, %v", owned, ownedErr, ev, err)
		}
		if kind == KindTransaction {
			into, intoErr := v.DecodeTransactionInto(&block, slices.Clone(data))
			if (into == nil) != (ev == nil) || into != nil && !reflect.DeepEqual(into, ev) || !reflect.DeepEqual(intoErr, err) {
				t.Fatalf("DecodeTransactionInto = %+v, %v; Decode = %+v, %v", into, intoErr, ev, err)
			}
			if into != nil && into.IP.IsValid() && block.IPText() != into.IP.String() {
				t.Fatalf("IPText() = %q, want %q", block.IPText(), into.IP.String())
			}
			// The block's encoding, which copies the record's strings when
			// they need no escaping, is Encode's.
			if into != nil {
				got, gotErr := block.AppendEncode(nil, into)
				want, wantErr := Encode(into)
				if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
					t.Fatalf("TransactionBlock.AppendEncode = %s, %v; Encode = %s, %v", got, gotErr, want, wantErr)
				}
			}
		}
		if err != nil {
			var r *Rejection
			if !errors.As(err, &r) {
				t.Fatalf("error %v (%T) is not a *Rejection", err, err)
			}
			if !slices.Contains(Reasons, r.Reason) {
				t.Fatalf("undocumented reason %q", r.Reason)
			}
			// The reader is as strict as encoding/json, plus UTF-8 and depth.
			if r.Reason == ReasonMalformedJSON && utf8.Valid(data) && json.Valid(data) &&
				!strings.Contains(r.Detail, "nesting") {
				t.Fatalf("valid JSON %q called malformed: %v", data, r)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		// What is accepted is valid UTF-8 throughout.
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		if kind != "" && ev.Kind() != kind {
			t.Fatalf("decoded a %s on a %s topic", ev.Kind(), kind)
		}
		checkRoundTrip(t, v, ev)
	})
}

// TestDecodeOwnedSavesTheCopy checks that DecodeOwned allocates one block
// less than Decode: the copy of the record it does not make.
func TestDecodeOwnedSavesTheCopy(t *testing.T) {
	data := example(t, KindTransaction)
	v := testValidator()
	copied := testing.AllocsPerRun(50, func() { _, _ = v.Decode(KindTransaction, data) })
	owned := testing.AllocsPerRun(50, func() { _, _ = v.DecodeOwned(KindTransaction, data) })
	if copied-owned != 1 {
		t.Fatalf("Decode allocates %v times, DecodeOwned %v: want one less", copied, owned)
	}
}

// TestDecodeTransactionIntoReusesTheBlock decodes transactions of different
// shapes into one block, one after the other, and checks each against
// Decode: nothing of a longer or richer transaction may leak into the next.
func TestDecodeTransactionIntoReusesTheBlock(t *testing.T) {
	v := testValidator()
	full := example(t, KindTransaction)
	lean := mutate(t, full, func(m map[string]any) {
		for _, k := range []string{"geo", "label", "ip", "device", "payment", "merchant_id", "channel"} {
			delete(m, k)
		}
		first := line(m, 0)
		m["lines"] = m["lines"].([]any)[:1]
		m["amount"] = first["quantity"].(float64) * first["unit_price"].(float64)
	})
	long := mutate(t, full, func(m map[string]any) {
		ls := m["lines"].([]any)
		first := obj(ls[0])
		for len(ls) < 6 {
			ls = append(ls, first)
			m["amount"] = m["amount"].(float64) + first["quantity"].(float64)*first["unit_price"].(float64)
		}
		m["lines"] = ls
	})
	for i, data := range [][]byte{full, lean, long} {
		if _, err := v.Decode(KindTransaction, data); err != nil {
			t.Fatalf("record %d does not decode: %v", i, err)
		}
	}
	var block TransactionBlock
	for i, data := range [][]byte{full, lean, long, full, []byte(`{"type":"transaction"}`), lean} {
		want, wantErr := v.Decode(KindTransaction, data)
		got, err := v.DecodeTransactionInto(&block, data)
		if (got == nil) != (want == nil) || got != nil && !reflect.DeepEqual(got, want) || !reflect.DeepEqual(err, wantErr) {
			t.Fatalf("record %d: DecodeTransactionInto = %+v, %v; Decode = %+v, %v", i, got, err, want, wantErr)
		}
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = v.DecodeTransactionInto(&block, full) }); n != 0 {
		t.Fatalf("DecodeTransactionInto allocates %v times", n)
	}
}

// TestIPText checks TransactionBlock.IPText against netip's String for
// addresses written canonically or not, escaped, and absent, and that a
// canonical one costs no allocation.
func TestIPText(t *testing.T) {
	v := testValidator()
	full := example(t, KindTransaction)
	var block TransactionBlock
	for _, ip := range []any{"10.1.2.3", "0.0.0.0", "255.255.255.255", "2001:DB8::1", "2001:0db8:0:0::1", "::ffff:10.1.2.3", "::1", "10.1.2.\u0033", nil} {
		data := mutate(t, full, func(m map[string]any) {
			if ip == nil {
				delete(m, "ip")
			} else {
				m["ip"] = ip
			}
		})
		txn, err := v.DecodeTransactionInto(&block, data)
		if err != nil {
			t.Fatalf("%v: %v", ip, err)
		}
		want := ""
		if txn.IP.IsValid() {
			want = txn.IP.String()
		}
		if got := block.IPText(); got != want {
			t.Errorf("%v: IPText() = %q, want %q", ip, got, want)
		}
	}
	data := mutate(t, full, func(m map[string]any) { m["ip"] = "192.0.2.44" })
	if _, err := v.DecodeTransactionInto(&block, data); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() { ipSink = block.IPText() }); n != 0 {
		t.Errorf("IPText of a canonical address allocates %v times", n)
	}
}

// ipSink keeps IPText's result alive.
var ipSink string
