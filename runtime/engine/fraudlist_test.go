package engine

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/fraud"
)

func testFraudEntry(t *testing.T, i int) fraudEntry {
	t.Helper()
	r, ok := fraud.ParseEntryKey(fmt.Sprintf("a/%08x", i))
	if !ok {
		t.Fatal("entry key not parsed")
	}
	return fraudEntry{set: "card", ref: r}
}

// TestFraudList: a chunked list keeps its entries in order across chunks,
// takes spare chunks before allocating, and recycle gives them back
// cleared, no more than spareMax.
func TestFraudList(t *testing.T) {
	const n = 2*fraudChunkLen + 7
	var b fraudBook
	spare := new(fraudChunk)
	b.spare = []*fraudChunk{spare}
	var l fraudList
	for i := range n {
		l.add(testFraudEntry(t, i), &b.spare)
	}
	if l.len() != n || len(l.chunks) != 3 {
		t.Fatalf("%d entries in %d chunks, want %d in 3", l.len(), len(l.chunks), n)
	}
	if l.chunks[0] != spare || len(b.spare) != 0 {
		t.Fatal("the first chunk is not the spare one")
	}
	i := 0
	l.each(func(e fraudEntry) {
		if want := testFraudEntry(t, i); e != want || l.at(i) != want {
			t.Fatalf("entry %d is %v (at: %v), want %v", i, e, l.at(i), want)
		}
		i++
	})
	if i != n {
		t.Fatalf("each visited %d entries, want %d", i, n)
	}

	b.spareMax = 2
	chunks := slices.Clone(l.chunks)
	b.recycle(&l)
	if l.len() != 0 || l.chunks != nil {
		t.Fatal("a recycled list is not empty")
	}
	if len(b.spare) != 2 || b.spare[0] != chunks[0] || b.spare[1] != chunks[1] {
		t.Fatalf("%d spare chunks after recycling, want the list's first 2", len(b.spare))
	}
	for _, c := range b.spare {
		if *c != (fraudChunk{}) {
			t.Fatal("a spare chunk is not cleared")
		}
	}
}

// TestFraudBookReusesChunksAcrossCheckpoints: once a checkpoint is written
// and its list swept, the lists filled next take its chunks instead of new
// ones, and every restored checkpoint is still its moment's state.
func TestFraudBookReusesChunksAcrossCheckpoints(t *testing.T) {
	msgs := txnMessages(21, 6000)
	l, ref := fraudLogLocal(t), fraudLogLocal(t)
	seen := map[*fraudChunk]bool{}
	reused := 0
	var log []kafka.Message
	for from := 0; from < len(msgs); from += 1000 {
		l.ProcessTransactions(msgs[from : from+1000])
		ref.ProcessTransactions(msgs[from : from+1000])
		b := &l.p.fraudBook
		for s := range 2 {
			for _, c := range b.list[s].chunks {
				if seen[c] {
					reused++
				}
			}
		}
		body, marker, _, live, err := encodeCheckpoint(l.s.Transactions, l.p)
		if err != nil {
			t.Fatal(err)
		}
		log = append(append(log, body...), marker)
		for _, c := range b.taken[l.p.snapSlot].todo.chunks {
			seen[c] = true
		}
		l.p.slotWritten(l.p.snapSlot, live)
		for b.sweep(fraudCaptureStep) {
		}
		if got, want := fraudImage(t, restoreLocal(t, log).p), fraudImage(t, ref.p); !maps.EqualFunc(got, want, bytes.Equal) || len(want) == 0 {
			t.Fatalf("after %d transactions: the restored fraud state differs from the reference", from+1000)
		}
	}
	if reused == 0 {
		t.Fatal("no list reused the chunks of a written checkpoint")
	}
}

// TestFraudBookKeepsTheListOfACaptureInFlight: the list a capture still
// reads is not recycled, even if its checkpoint is reported written (or
// failed) before the capture finishes; once the capture is done, it is.
func TestFraudBookKeepsTheListOfACaptureInFlight(t *testing.T) {
	for _, failed := range []bool{false, true} {
		t.Run(fmt.Sprintf("failed=%v", failed), func(t *testing.T) {
			msgs := txnMessages(23, 3000)
			l := fraudLogLocal(t)
			b := &l.p.fraudBook
			l.ProcessTransactions(msgs[:1000])
			// One checkpoint written and swept, so that spare chunks may be
			// kept (spareMax).
			l.p.fraudRecords(l.s.Transactions, 0)
			l.p.fraudWritten(0)
			for b.sweep(fraudCaptureStep) {
			}
			l.ProcessTransactions(msgs[1000:2000])

			c := l.p.startFraudCapture(l.s.Transactions, 1)
			todo := c.todo
			want := make([]fraudEntry, todo.len())
			for i := range want {
				want[i] = todo.at(i)
				want[i].ref = want[i].ref.Clone()
			}
			if len(want) == 0 {
				t.Fatal("nothing to capture")
			}
			spare := len(b.spare)
			if failed {
				l.p.fraudFailed(1)
			} else {
				l.p.fraudWritten(1)
				for b.sweep(fraudCaptureStep) {
				}
			}
			if len(b.spare) != spare {
				t.Fatalf("the capture's list was recycled (%d spare chunks, %d before)", len(b.spare), spare)
			}
			l.ProcessTransactions(msgs[2000:]) // lists filled from any spare chunks
			for i, e := range want {
				if c.todo.at(i) != e {
					t.Fatalf("entry %d of the capture's list changed", i)
				}
			}
			if n := len(c.finish(l.p)); n == 0 {
				t.Fatal("the capture encoded no records")
			}
		})
	}
}
