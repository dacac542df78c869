package engine

import (
	"bytes"
	"testing"
)

// TestOutputKeepsRecordsApart checks that records carved from one output
// block never share bytes: writing the next one, appending to one or
// outgrowing the room asked for leaves the others as written.
func TestOutputKeepsRecordsApart(t *testing.T) {
	var o output
	var recs [][]byte
	var want []string
	for i := range 3000 {
		var b []byte
		switch i % 3 {
		case 0:
			b = o.bytes("key-" + string(rune('a'+i%26)))
		case 1:
			// More than the room asked for: appends outgrow it.
			b = append(o.space(4), bytes.Repeat([]byte{byte(i)}, 1+i%50)...)
			b = o.keep(b)
		default:
			b = o.keep(append(o.space(100), bytes.Repeat([]byte{byte(i)}, 1+i%90)...))
		}
		if cap(b) != len(b) {
			t.Fatalf("record %d: cap %d > len %d", i, cap(b), len(b))
		}
		recs = append(recs, b)
		want = append(want, string(b))
		_ = append(b, "overwrite?"...)
	}
	if len(o.buf) == 0 {
		t.Fatal("no record went into the output block")
	}
	if k := o.bytes(""); k == nil || len(k) != 0 {
		t.Fatalf("empty key = %#v, want empty and not nil", k)
	}
	for i := range recs {
		if string(recs[i]) != want[i] {
			t.Fatalf("record %d changed: %q, want %q", i, recs[i], want[i])
		}
	}
}
