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

// fillChunks writes records of 1 KiB into o until n blocks filled up, and
// returns the records and copies of them.
func fillChunks(o *output, n int, fill byte) (recs [][]byte, want []string) {
	for len(o.filled) < n {
		b := o.keep(append(o.space(1024), bytes.Repeat([]byte{fill}, 1000)...))
		recs = append(recs, b)
		want = append(want, string(b))
		fill++
	}
	return recs, want
}

func checkRecords(t *testing.T, what string, recs [][]byte, want []string) {
	t.Helper()
	for i := range recs {
		if string(recs[i]) != want[i] {
			t.Fatalf("%s: record %d was overwritten", what, i)
		}
	}
}

// TestOutputReusesOnlyWrittenBlocks checks that a block is written into
// again only after written: the records of a batch stay intact while the
// batch fills more blocks, the blocks filled before written come back, the
// current one does not, and abandon never lets a block come back.
func TestOutputReusesOnlyWrittenBlocks(t *testing.T) {
	var o output
	recs, want := fillChunks(&o, 3, 0)
	if len(o.spare) != 0 {
		t.Fatalf("%d spare blocks before anything was written", len(o.spare))
	}
	// More records of the same batch: no block may be reused yet.
	more, moreWant := fillChunks(&o, 6, 100)
	checkRecords(t, "same batch", recs, want)
	checkRecords(t, "same batch", more, moreWant)

	filled := map[*byte]bool{}
	for _, b := range o.filled {
		filled[&b[:1][0]] = true
	}
	current := &o.buf[:1][0]
	o.written()
	if len(o.spare) != 6 || len(o.filled) != 0 {
		t.Fatalf("after written: %d spare, %d filled; want 6 and 0", len(o.spare), len(o.filled))
	}
	// The next batch writes into the spare blocks, never into the current
	// one's records.
	last := o.keep(append(o.space(10), "last"...))
	next, nextWant := fillChunks(&o, 4, 200)
	checkRecords(t, "next batch", next, nextWant)
	if string(last) != "last" {
		t.Fatalf("record in the current block overwritten: %q", last)
	}
	reused := 0
	for _, b := range o.filled {
		p := &b[:1][0]
		if p == current && len(b) == 0 {
			continue
		}
		if filled[p] {
			reused++
		}
	}
	if reused == 0 {
		t.Fatal("no written block was reused")
	}

	// A write given up: its blocks, current one included, never return.
	var held [][]byte
	var heldWant []string
	held, heldWant = fillChunks(&o, len(o.filled)+2, 50)
	o.abandon()
	o.written()
	if len(o.spare) > 6 {
		t.Fatalf("%d spare blocks after abandon, want at most the 6 left before", len(o.spare))
	}
	for range 3 {
		fillChunks(&o, 8, 150)
		o.written()
	}
	checkRecords(t, "abandoned batch", held, heldWant)
}

// TestOutputSpareBound checks that written keeps at most maxSpareChunks
// blocks for reuse.
func TestOutputSpareBound(t *testing.T) {
	var o output
	fillChunks(&o, 2*maxSpareChunks, 0)
	o.written()
	if len(o.spare) != maxSpareChunks {
		t.Fatalf("%d spare blocks, want %d", len(o.spare), maxSpareChunks)
	}
}

// TestLocalOutputsSurviveBlockReuse runs the chain over batches with an
// output that reuses its blocks (as OnBatch's and Local's do) and with a
// fresh output per batch, and compares every record of each batch after
// the whole batch was produced: a block reused while a record of the batch
// was still in it would show as a changed record. It also checks that
// blocks were reused at all.
func TestLocalOutputsSurviveBlockReuse(t *testing.T) {
	s, err := Resolve(testRuntimeConfig([]string{"unused:9092"}))
	if err != nil {
		t.Fatal(err)
	}
	rc := testRuntimeConfig([]string{"unused:9092"})
	l, err := NewLocal(s, rc.FraudRuleSets)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewLocal(s, rc.FraudRuleSets)
	if err != nil {
		t.Fatal(err)
	}
	msgs := txnMessages(5, 6000)
	const batch = 1000
	reused := 0
	for i := 0; i < len(msgs); i += batch {
		part := msgs[i:min(i+batch, len(msgs))]
		// The blocks the call's written makes spare, before it uses any.
		spare := min(len(l.out.spare)+len(l.out.filled), maxSpareChunks)
		ref.out = output{}
		n := l.ProcessTransactions(part)
		if ref.ProcessTransactions(part) != n {
			t.Fatalf("batch %d: %d records, reference %d", i/batch, n, len(ref.out.msgs))
		}
		if len(l.out.spare) < spare {
			reused++
		}
		for j := range l.out.msgs {
			got, want := &l.out.msgs[j], &ref.out.msgs[j]
			if got.Topic != want.Topic || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("batch %d record %d (%s) differs from the reference:\n%s\n%s", i/batch, j, got.Topic, got.Value, want.Value)
			}
		}
	}
	if reused == 0 {
		t.Fatal("no batch reused an output block")
	}
}

// BenchmarkOutputRecords writes enriched-sized records (a 700-byte value
// and its key) into an output, marking them written every thousand, as
// OnBatch does after a batch: one op is one record.
func BenchmarkOutputRecords(b *testing.B) {
	var o output
	value := bytes.Repeat([]byte{'x'}, 700)
	b.ReportAllocs()
	for i := range b.N {
		v := o.keep(append(o.space(len(value)+256), value...))
		o.add("enriched", o.bytes("evt-00001234"), v, nil)
		if i%1000 == 999 {
			clear(o.msgs)
			o.msgs = o.msgs[:0]
			o.written()
		}
	}
}
