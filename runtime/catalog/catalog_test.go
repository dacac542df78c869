package catalog

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecap-dev/ecap/runtime/cputime"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func product(id string, version int) Product {
	return Product{
		ID: id, Name: fmt.Sprintf("%s v%d", id, version), Category: "books", Brand: "acme",
		Price: float64(version), Cost: float64(version) / 2, Currency: "EUR", Stock: int64(version),
		UpdatedAt: t0.Add(time.Duration(version) * time.Second),
	}
}

func TestLastWriterWins(t *testing.T) {
	c := New()
	steps := []struct {
		name    string
		version int
		stored  bool
		want    int
	}{
		{"first", 5, true, 5},
		{"newer", 7, true, 7},
		{"older arrives late", 6, false, 7},
		{"same time, later arrival", 7, true, 7},
		{"much newer", 100, true, 100},
	}
	for _, s := range steps {
		p := product("p1", s.version)
		if s.name == "same time, later arrival" {
			p.Name = "rewritten"
		}
		if got := c.Upsert(p); got != s.stored {
			t.Fatalf("%s: Upsert = %v, want %v", s.name, got, s.stored)
		}
		got, ok := c.Lookup("p1")
		if !ok || got.Stock != int64(s.want) {
			t.Fatalf("%s: Lookup = %+v, %v; want version %d", s.name, got, ok, s.want)
		}
		if s.name == "same time, later arrival" && got.Name != "rewritten" {
			t.Fatalf("equal UpdatedAt: the later arrival should win, have %q", got.Name)
		}
	}
	if st := c.Stats(); st.StaleUpdates != 1 || st.Products != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestTombstones(t *testing.T) {
	c := New()
	c.Delete("never-seen")
	if st := c.Stats(); st.Tombstones != 0 {
		t.Fatalf("deleting an unknown product left a tombstone: %+v", st)
	}
	c.Upsert(product("p1", 5))
	c.Delete("p1")
	if _, ok := c.Lookup("p1"); ok {
		t.Fatal("deleted product still found")
	}
	if c.Upsert(product("p1", 5)) || c.Upsert(product("p1", 4)) {
		t.Fatal("an update not newer than the deleted version resurrected the product")
	}
	if !c.Upsert(product("p1", 6)) {
		t.Fatal("a newer update should recreate the product")
	}
	if p, ok := c.Lookup("p1"); !ok || p.Stock != 6 {
		t.Fatalf("Lookup = %+v, %v", p, ok)
	}

	// DeleteAt: an older tombstone loses against a newer version.
	if c.DeleteAt("p1", t0.Add(3*time.Second)) {
		t.Fatal("a tombstone older than the stored version was applied")
	}
	if !c.DeleteAt("p1", t0.Add(10*time.Second)) {
		t.Fatal("a newer tombstone was not applied")
	}
	if c.Upsert(product("p1", 9)) {
		t.Fatal("an update older than the tombstone was applied")
	}
	if !c.DeleteAt("p2", t0) {
		t.Fatal("a tombstone for an unknown product should be kept")
	}
	if st := c.Stats(); st.Tombstones != 2 || st.Products != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if n := c.PurgeTombstones(t0.Add(5 * time.Second)); n != 1 {
		t.Fatalf("purged %d tombstones, want 1", n)
	}
	if !c.Upsert(product("p2", 1)) {
		t.Fatal("after the purge an update should be applied")
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	c := NewSharded(1)
	c.Upsert(product("p1", 1))
	p, _ := c.Lookup("p1")
	p.Name = "changed"
	if q, _ := c.Lookup("p1"); q.Name == "changed" {
		t.Fatal("Lookup exposed the stored product")
	}
}

func TestEnrich(t *testing.T) {
	c := New()
	c.Upsert(Product{ID: "b1", Category: "books", Brand: "penguin", Cost: 4, Currency: "EUR", UpdatedAt: t0})
	c.Upsert(Product{ID: "b2", Category: "books", Brand: "acme", Cost: 1, Currency: "EUR", UpdatedAt: t0})
	c.Upsert(Product{ID: "t1", Category: "toys", Brand: "acme", Cost: 2, Currency: "USD", UpdatedAt: t0})
	c.Upsert(Product{ID: "x1", Cost: 1, UpdatedAt: t0})
	c.Upsert(Product{ID: "gone", Category: "garden", Cost: 1, UpdatedAt: t0})
	c.Delete("gone")
	lines := []Line{
		{ProductID: "t1", Quantity: 1, UnitPrice: 5},
		{ProductID: "b1", Quantity: 2, UnitPrice: 10},
		{ProductID: "nope", Quantity: 3, UnitPrice: 1},
		{ProductID: "b2", Quantity: 1, UnitPrice: 3},
		{ProductID: "gone", Quantity: 1, UnitPrice: 7},
		{ProductID: "x1", Quantity: 1, UnitPrice: 2},
	}
	got := c.Enrich(lines)
	want := Enrichment{
		Categories: []string{"books", "toys", UnknownCategory},
		Brands:     []string{"acme", "penguin"},
		Shares: []CategoryShare{
			{Category: "books", Revenue: 23, Units: 3, Margin: 12 + 2},
			{Category: "toys", Revenue: 5, Units: 1, Margin: 3},
			{Category: UnknownCategory, Revenue: 3 + 7 + 2, Units: 5, Margin: 1},
		},
		Margin:          3 + 12 + 2 + 1,
		UnknownProducts: 2,
		PlainNames:      true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Enrich =\n %+v\nwant\n %+v", got, want)
	}
	if st := c.Stats(); st.UnknownLines != 2 {
		t.Fatalf("unknown lines = %d, want 2", st.UnknownLines)
	}

	// In EUR the toy's USD cost cannot be subtracted.
	var e Enrichment
	c.EnrichInto(&e, "EUR", lines)
	if e.ForeignCostLines != 1 || e.Margin != 12+2+1 || e.Shares[1].Margin != 0 {
		t.Fatalf("EnrichInto(EUR) = %+v", e)
	}
	// Reuse keeps nothing of the previous call.
	c.EnrichInto(&e, "", lines[:1])
	if !reflect.DeepEqual(e.Categories, []string{"toys"}) || e.UnknownProducts != 0 || len(e.Shares) != 1 {
		t.Fatalf("reused Enrichment = %+v", e)
	}
}

// TestConcurrentReaders runs one writer against many readers (under -race
// this checks the locking); every product a reader sees must be internally
// consistent and no older than one it saw before.
func TestConcurrentReaders(t *testing.T) {
	c := New()
	const ids = 200
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			last := make([]int64, ids)
			for !stop.Load() {
				i := rng.IntN(ids)
				p, ok := c.Lookup("p" + strconv.Itoa(i))
				if !ok {
					continue
				}
				if p.Name != fmt.Sprintf("%s v%d", p.ID, p.Stock) || p.Price != float64(p.Stock) {
					t.Errorf("torn product %+v", p)
					return
				}
				if p.Stock < last[i] {
					t.Errorf("product %s went back from version %d to %d", p.ID, last[i], p.Stock)
					return
				}
				last[i] = p.Stock
			}
		}()
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for v := 1; v <= 20_000; v++ {
		c.Upsert(product("p"+strconv.Itoa(rng.IntN(ids)), v))
		if v%1000 == 0 {
			// A late, older update must never win.
			c.Upsert(product("p"+strconv.Itoa(rng.IntN(ids)), 0))
		}
	}
	stop.Store(true)
	wg.Wait()
}

func benchCatalog(shards, products int) (*Catalog, []string) {
	c := NewSharded(shards)
	ids := make([]string, products)
	for i := range ids {
		ids[i] = fmt.Sprintf("sku-%07d", i)
		p := product(ids[i], 1)
		p.Category = fmt.Sprintf("category-%d", i%40)
		p.Brand = fmt.Sprintf("brand-%d", i%300)
		c.Upsert(p)
	}
	return c, ids
}

// BenchmarkLookup compares one RWMutex with 64 shards, for parallel
// readers alone and with a writer upserting continuously.
func BenchmarkLookup(b *testing.B) {
	for _, shards := range []int{1, DefaultShards} {
		for _, writer := range []bool{false, true} {
			b.Run(fmt.Sprintf("shards=%d/writer=%v", shards, writer), func(b *testing.B) {
				c, ids := benchCatalog(shards, 100_000)
				var stop atomic.Bool
				var wg sync.WaitGroup
				if writer {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for v := 2; !stop.Load(); v++ {
							c.Upsert(product(ids[v%len(ids)], v))
						}
					}()
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu := cputime.Process()
				b.RunParallel(func(pb *testing.PB) {
					i := rand.IntN(len(ids))
					for pb.Next() {
						if _, ok := c.Lookup(ids[i]); !ok {
							b.Error("missing product")
							return
						}
						i += 7919
						if i >= len(ids) {
							i -= len(ids)
						}
					}
				})
				b.StopTimer()
				// With a writer this includes the writer's CPU.
				b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
				stop.Store(true)
				wg.Wait()
			})
		}
	}
}

// benchBaskets returns 1,024 baskets of 1 to maxLines lines, their
// products drawn from ids.
func benchBaskets(ids []string, maxLines int) [][]Line {
	rng := rand.New(rand.NewPCG(1, 2))
	baskets := make([][]Line, 1024)
	for i := range baskets {
		for range 1 + rng.IntN(maxLines) {
			baskets[i] = append(baskets[i], Line{ProductID: ids[rng.IntN(len(ids))], Quantity: 1 + rng.Int64N(3), UnitPrice: 9.99})
		}
	}
	return baskets
}

func BenchmarkEnrich(b *testing.B) {
	c, ids := benchCatalog(DefaultShards, 100_000)
	baskets := benchBaskets(ids, 5)
	var e Enrichment
	lines := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for i := range b.N {
		basket := baskets[i&1023]
		lines += len(basket)
		c.EnrichInto(&e, "EUR", basket)
	}
	cpuNs := float64(cputime.Process() - cpu)
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(cpuNs/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(lines)/cpuNs*1e9, "lines/cpu-s")
}

// referenceEnrich is EnrichInto written plainly: look every line up, then
// sort categories and brands. TestEnrichMatchesReference holds the tuned
// version to it.
func referenceEnrich(c *Catalog, currency string, lines []Line) Enrichment {
	var e Enrichment
	shares := map[string]*CategoryShare{}
	brands := map[string]bool{}
	for _, l := range lines {
		p, ok := c.Lookup(l.ProductID)
		category := p.Category
		if !ok || category == "" {
			category = UnknownCategory
		}
		var margin float64
		switch {
		case !ok:
			e.UnknownProducts++
		case currency != "" && p.Currency != "" && p.Currency != currency:
			e.ForeignCostLines++
		default:
			margin = float64(l.Quantity) * (l.UnitPrice - p.Cost)
			e.Margin += margin
		}
		if ok && p.Brand != "" {
			brands[p.Brand] = true
		}
		s := shares[category]
		if s == nil {
			s = &CategoryShare{Category: category}
			shares[category] = s
		}
		s.Revenue += float64(l.Quantity) * l.UnitPrice
		s.Units += l.Quantity
		s.Margin += margin
	}
	for category := range shares {
		e.Categories = append(e.Categories, category)
	}
	slices.Sort(e.Categories)
	for _, category := range e.Categories {
		e.Shares = append(e.Shares, *shares[category])
	}
	for b := range brands {
		e.Brands = append(e.Brands, b)
	}
	slices.Sort(e.Brands)
	// Plain: every name is ASCII that encoding/json writes as it is.
	e.PlainNames = true
	for _, name := range slices.Concat(e.Categories, e.Brands) {
		if b, _ := json.Marshal(name); string(b) != `"`+name+`"` || strings.ContainsFunc(name, func(r rune) bool { return r >= 0x80 }) {
			e.PlainNames = false
		}
	}
	return e
}

// TestEnrichMatchesReference enriches random baskets, with repeated,
// unknown, deleted, uncategorised and foreign-currency products, into one
// reused Enrichment and compares each result with referenceEnrich.
func TestEnrichMatchesReference(t *testing.T) {
	c := New()
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 60
	for i := range n {
		p := product("p"+strconv.Itoa(i), 1+i)
		p.Category = []string{"books", "toys", "", "garden", "Zeta", "éclair"}[i%6]
		p.Brand = []string{"acme", "", "zed", "Acme", "beta"}[i%5]
		p.Currency = []string{"EUR", "", "USD"}[i%3]
		c.Upsert(p)
	}
	for i := 0; i < n; i += 7 {
		c.Delete("p" + strconv.Itoa(i))
	}
	var e Enrichment
	for round := range 5000 {
		lines := make([]Line, rng.IntN(9))
		for j := range lines {
			lines[j] = Line{ProductID: "p" + strconv.Itoa(rng.IntN(n+10)), Quantity: 1 + rng.Int64N(5), UnitPrice: float64(rng.IntN(10000)) / 100}
		}
		currency := []string{"", "EUR", "USD"}[round%3]
		c.EnrichInto(&e, currency, lines)
		want := referenceEnrich(c, currency, lines)
		got := e
		if len(got.Categories) == 0 {
			got.Categories = nil
		}
		if len(got.Brands) == 0 {
			got.Brands = nil
		}
		if len(got.Shares) == 0 {
			got.Shares = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("EnrichInto(%q, %+v)\n got %+v\nwant %+v", currency, lines, got, want)
		}
	}
}
