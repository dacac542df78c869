package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/catalog"
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
		{Margin: 1e22},
	} {
		got, err := appendEnriched(make([]byte, 0, 8), txn, &e)
		if err != nil {
			t.Fatal(err)
		}
		base, err := json.Marshal(txn)
		if err != nil {
			t.Fatal(err)
		}
		list := func(vals []string) []byte {
			if vals == nil {
				return []byte("[]")
			}
			b, _ := json.Marshal(vals)
			return b
		}
		margin := e.Margin
		if math.IsNaN(margin) {
			margin = 0
		}
		mb, _ := json.Marshal(margin)
		ub, _ := json.Marshal(e.UnknownProducts)
		want := bytes.Join([][]byte{base[:len(base)-1], []byte(`,"categories":`), list(e.Categories), []byte(`,"brands":`), list(e.Brands),
			[]byte(`,"margin":`), mb, []byte(`,"unknown_products":`), ub, []byte("}")}, nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("enriched record\n got %s\nwant %s", got, want)
		}
	}
}
