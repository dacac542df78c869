package events

import (
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
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := v.Decode(kind, data)
		// DecodeOwned, which reads the caller's bytes instead of a copy,
		// decodes exactly the same.
		owned, ownedErr := v.DecodeOwned(kind, slices.Clone(data))
		if !reflect.DeepEqual(owned, ev) || !reflect.DeepEqual(ownedErr, err) {
			t.Fatalf("DecodeOwned = %+v, %v; Decode = %+v, %v", owned, ownedErr, ev, err)
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
