package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/catalog"
	"github.com/ecap-dev/ecap/runtime/cputime"
	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/events"
)

// TestEnrichedRecordEncoding checks the enriched-transactions record byte
// for byte against encoding/json: the transaction's own encoding with the
// enrichment fields appended, whatever the category and brand names hold.
func TestEnrichedRecordEncoding(t *testing.T) {
	gen := enginetest.NewGenerator(7, 50, 20, time.Now().Add(-time.Hour), time.Second)
	v := events.NewValidator(events.ValidatorConfig{})
	x := gen.Next()
	ev, err := v.Decode(events.KindTransaction, x.Value)
	if err != nil {
		t.Fatal(err)
	}
	txn := ev.(*events.Transaction)
	for _, e := range []catalog.Enrichment{
		{},
		{Categories: []string{}, Brands: nil, Margin: math.NaN()},
		{Categories: []string{"books", `quo"te\back`, "<html>&", "tab\tnl\n", "é \u2028 \xff"}, Brands: []string{"Acme"}, Margin: -12.5, UnknownProducts: 2},
		{Categories: []string{"x"}, Margin: 0.0000012},
		{Categories: []string{"books", "toys"}, Brands: []string{"a-b c_d", "~"}, PlainNames: true, Margin: 3.5},
		{Margin: 1e22},
	} {
		got, err := appendEnriched(make([]byte, 0, 8), txn, nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		if want := enrichedByJSON(t, txn, &e); !bytes.Equal(got, want) {
			t.Fatalf("enriched record\n got %s\nwant %s", got, want)
		}
	}
}

// enrichedByJSON is the enriched record as encoding/json writes it: the
// transaction's JSON with the enrichment fields appended (lists never
// null, a margin that is not a number written as 0).
func enrichedByJSON(t *testing.T, txn *events.Transaction, e *catalog.Enrichment) []byte {
	t.Helper()
	base, err := json.Marshal(txn)
	if err != nil {
		t.Fatal(err)
	}
	list := func(vals []string) []byte {
		if len(vals) == 0 {
			return []byte("[]")
		}
		b, _ := json.Marshal(vals)
		return b
	}
	margin := e.Margin
	if math.IsNaN(margin) || math.IsInf(margin, 0) {
		margin = 0
	}
	mb, _ := json.Marshal(margin)
	ub, _ := json.Marshal(e.UnknownProducts)
	return bytes.Join([][]byte{base[:len(base)-1], []byte(`,"categories":`), list(e.Categories), []byte(`,"brands":`), list(e.Brands),
		[]byte(`,"margin":`), mb, []byte(`,"unknown_products":`), ub, []byte("}")}, nil)
}

// TestEnrichedRecordsOfTheStream runs BenchmarkChainEvent's stream through
// decode, catalog enrichment and appendEnriched, as processTransactions
// does, and checks every record byte for byte against encoding/json of the
// transaction with the enrichment fields appended.
func TestEnrichedRecordsOfTheStream(t *testing.T) {
	gen := enginetest.NewGenerator(1, 2_000, 500, time.Now().Add(-6*time.Hour), 20*time.Millisecond)
	v := events.NewValidator(events.ValidatorConfig{})
	cat := catalog.New()
	for i, pu := range gen.ProductUpdates() {
		if i%50 == 0 {
			continue // some lines meet unknown products
		}
		ev, err := v.Decode(events.KindProductUpdate, pu[1])
		if err != nil {
			t.Fatal(err)
		}
		cat.Upsert(ProductFromUpdate(ev.(*events.ProductUpdate)))
	}
	var (
		blk   events.TransactionBlock
		enr   catalog.Enrichment
		prods catalog.Cache
		lines []catalog.Line
	)
	for range 3000 {
		txn, err := v.DecodeTransactionInto(&blk, gen.Next().Value)
		if err != nil {
			t.Fatal(err)
		}
		lines = lines[:0]
		for _, l := range txn.Lines {
			lines = append(lines, catalog.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
		cat.EnrichWith(&prods, &enr, txn.Currency, lines)
		got, err := appendEnriched(nil, txn, &blk, &enr)
		if err != nil {
			t.Fatal(err)
		}
		if want := enrichedByJSON(t, txn, &enr); !bytes.Equal(got, want) {
			t.Fatalf("enriched record\n got %s\nwant %s", got, want)
		}
	}
}

// BenchmarkCodecStages runs the chain's decode, enrich and enriched-record
// stages, as processTransactions does, over BenchmarkChainEvent's stream
// (same generator, customers and products), one sub-benchmark per stage
// and one for the three together. One op is one transaction.
func BenchmarkCodecStages(b *testing.B) {
	gen := enginetest.NewGenerator(1, 20_000, 500, time.Now().Add(-6*time.Hour), 20*time.Millisecond)
	v := events.NewValidator(events.ValidatorConfig{})
	cat := catalog.New()
	for _, pu := range gen.ProductUpdates() {
		ev, err := v.Decode(events.KindProductUpdate, pu[1])
		if err != nil {
			b.Fatal(err)
		}
		cat.Upsert(ProductFromUpdate(ev.(*events.ProductUpdate)))
	}
	msgs := make([][]byte, 4096)
	for i := range msgs {
		msgs[i] = gen.Next().Value
	}
	var (
		blk   events.TransactionBlock
		enr   catalog.Enrichment
		prods catalog.Cache
		lines []catalog.Line
		buf   = make([]byte, 0, 4096)
	)
	decode := func(i int) *events.Transaction {
		txn, err := v.DecodeTransactionInto(&blk, msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		return txn
	}
	enrich := func(txn *events.Transaction) {
		lines = lines[:0]
		for _, l := range txn.Lines {
			lines = append(lines, catalog.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
		cat.EnrichWith(&prods, &enr, txn.Currency, lines)
	}
	encode := func(txn *events.Transaction) {
		var err error
		if buf, err = appendEnriched(buf[:0], txn, &blk, &enr); err != nil {
			b.Fatal(err)
		}
	}
	// cpu-ns/op is the process's CPU time per op: on a shared machine wall
	// time mostly measures the neighbours.
	run := func(name string, setup func(), op func(i int)) {
		b.Run(name, func(b *testing.B) {
			if setup != nil {
				setup()
			}
			b.ReportAllocs()
			cpu := cputime.Process()
			for i := 0; b.Loop(); i++ {
				op(i)
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	run("decode", nil, func(i int) { decode(i) })
	// The enrich and enriched stages read transactions that were just
	// decoded, in cache: a few dozen of them, not the whole stream.
	txns := make([]events.Transaction, 64)
	run("enrich", func() {
		for i := range txns {
			txns[i] = *decode(i)
			txns[i].Lines = append([]events.Line(nil), txns[i].Lines...)
		}
	}, func(i int) { enrich(&txns[i%len(txns)]) })
	// Each transaction of the enriched stage keeps its own block, as the
	// one processTransactions writes from.
	blks := make([]events.TransactionBlock, len(txns))
	decoded := make([]*events.Transaction, len(txns))
	enrs := make([]catalog.Enrichment, len(txns))
	run("enriched", func() {
		for i := range txns {
			txn, err := v.DecodeTransactionInto(&blks[i], msgs[i%len(msgs)])
			if err != nil {
				b.Fatal(err)
			}
			decoded[i] = txn
			enrich(txn)
			enrs[i] = catalog.Enrichment{Categories: append([]string(nil), enr.Categories...),
				Brands: append([]string(nil), enr.Brands...), Margin: enr.Margin, UnknownProducts: enr.UnknownProducts}
		}
	}, func(i int) {
		var err error
		j := i % len(blks)
		if buf, err = appendEnriched(buf[:0], decoded[j], &blks[j], &enrs[j]); err != nil {
			b.Fatal(err)
		}
	})
	run("all", nil, func(i int) {
		txn := decode(i)
		enrich(txn)
		encode(txn)
	})
}
