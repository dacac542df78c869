package catalog

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEnrichWithCache enriches random baskets through one Cache while the
// catalog changes between them (updates that move products to other
// categories, brands and costs, deletions, tombstones dated, late and
// resurrecting updates), and checks every result against EnrichInto
// without a cache: a cached product must never outlive its change. The IDs
// come in pairs that differ only before their last eight bytes, and so
// share a cache slot.
func TestEnrichWithCache(t *testing.T) {
	c := New()
	rng := rand.New(rand.NewPCG(9, 10))
	const n = 80
	id := func(i int) string {
		return []string{"a", "b"}[i%2] + "-item-" + strconv.Itoa(100000+i/2)
	}
	categories := []string{"books", "toys", "", "garden"}
	version := 1
	update := func(i int) {
		version++
		p := product(id(i), version)
		p.Category = categories[rng.IntN(len(categories))]
		p.Brand = []string{"acme", "", "zed"}[rng.IntN(3)]
		p.Currency = []string{"EUR", "", "USD"}[rng.IntN(3)]
		c.Upsert(p)
	}
	for i := range n {
		update(i)
	}
	var (
		k        Cache
		got, ref Enrichment
	)
	for round := range 20000 {
		switch i := rng.IntN(n + 4); rng.IntN(8) {
		case 0:
			update(i)
		case 1:
			c.Delete(id(i))
		case 2:
			c.DeleteAt(id(i), t0.Add(time.Duration(version+rng.IntN(3)-1)*time.Second))
		}
		lines := make([]Line, rng.IntN(6))
		for j := range lines {
			lines[j] = Line{ProductID: id(rng.IntN(n + 4)), Quantity: 1 + rng.Int64N(5), UnitPrice: float64(rng.IntN(10000)) / 100}
		}
		currency := []string{"", "EUR", "USD"}[round%3]
		c.EnrichWith(&k, &got, currency, lines)
		c.EnrichInto(&ref, currency, lines)
		if !reflect.DeepEqual(got, ref) {
			t.Fatalf("round %d: EnrichWith(%q, %+v)\n got %+v\nwant %+v", round, currency, lines, got, ref)
		}
	}
	basket := []Line{{ProductID: id(3), Quantity: 1, UnitPrice: 1}, {ProductID: id(4), Quantity: 2, UnitPrice: 1}}
	if n := testing.AllocsPerRun(100, func() { c.EnrichWith(&k, &got, "EUR", basket) }); n != 0 {
		t.Fatalf("EnrichWith allocates %v times", n)
	}
}

// TestCacheHoldsTheProducts warms a Cache with 500 products whose IDs
// differ only in their numbers, in several spellings, and counts those it
// still holds: a direct-mapped cache with a weak hash kept about 300.
func TestCacheHoldsTheProducts(t *testing.T) {
	for _, spell := range []func(int) string{
		func(i int) string { return fmt.Sprintf("sku-%04d", i) },
		func(i int) string { return "sku-" + strconv.Itoa(1000+i) },
		func(i int) string { return "p" + strconv.Itoa(i) },
		func(i int) string { return fmt.Sprintf("product-%08d-x", 7*i) },
	} {
		c := New()
		for i := range 500 {
			c.Upsert(product(spell(i), 1))
		}
		var k Cache
		k.sync(c)
		for range 2 {
			for i := range 500 {
				if p := k.product(c, spell(i)); p == nil || p.ID != spell(i) {
					t.Fatalf("product %q: got %v", spell(i), p)
				}
			}
		}
		held := 0
		for i := range 500 {
			a, b := cacheSlotPair(spell(i))
			if p := k.slots[a]; p != nil && p.ID == spell(i) {
				held++
			} else if p := k.slots[b]; p != nil && p.ID == spell(i) {
				held++
			}
		}
		if held < 450 {
			t.Errorf("IDs like %q: the cache holds %d of 500 products", spell(0), held)
		}
	}
}

// BenchmarkEnrichWithCache is BenchmarkEnrich's baskets, over the 500
// products of the engine benchmarks' stream, looked up in the catalog
// alone and through a Cache.
func BenchmarkEnrichWithCache(b *testing.B) {
	c, ids := benchCatalog(DefaultShards, 100_000)
	baskets := benchBaskets(ids[:500], 3)
	for _, cached := range []bool{false, true} {
		b.Run("cache="+strconv.FormatBool(cached), func(b *testing.B) {
			var (
				e Enrichment
				k *Cache
			)
			if cached {
				k = new(Cache)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c.EnrichWith(k, &e, "EUR", baskets[i&1023])
			}
		})
	}
}

// TestCacheWithConcurrentWriter enriches through caches on several
// goroutines while one upserts (under -race this checks that a cached
// product is read safely): the cost of every line is that of a version of
// its product, and a product's version never goes back for a reader.
func TestCacheWithConcurrentWriter(t *testing.T) {
	c := New()
	const ids = 200
	for i := range ids {
		c.Upsert(product("p"+strconv.Itoa(i), 1))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				k Cache
				e Enrichment
			)
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			last := make([]float64, ids)
			for !stop.Load() {
				i := rng.IntN(ids)
				// One unit at price 0: the margin is minus the cost, which
				// is the version over 2.
				c.EnrichWith(&k, &e, "EUR", []Line{{ProductID: "p" + strconv.Itoa(i), Quantity: 1}})
				cost := -e.Margin
				if cost != float64(int(cost*2))/2 || cost < last[i] {
					t.Errorf("product p%d: cost %v after %v", i, cost, last[i])
					return
				}
				last[i] = cost
			}
		}()
	}
	for v := 2; v <= 20_000; v++ {
		c.Upsert(product("p"+strconv.Itoa(v%ids), v))
	}
	stop.Store(true)
	wg.Wait()
}

// TestCacheFollowsTheCatalog uses one Cache with two catalogs that have
// seen as many changes and hold the same IDs in different categories:
// each enrichment must read its own catalog.
func TestCacheFollowsTheCatalog(t *testing.T) {
	a, b := New(), New()
	for _, c := range []struct {
		cat      *Catalog
		category string
	}{{a, "books"}, {b, "toys"}} {
		p := product("p1", 1)
		p.Category = c.category
		c.cat.Upsert(p)
	}
	var (
		k Cache
		e Enrichment
	)
	lines := []Line{{ProductID: "p1", Quantity: 1, UnitPrice: 1}}
	for _, c := range []struct {
		cat  *Catalog
		want string
	}{{a, "books"}, {b, "toys"}, {a, "books"}} {
		c.cat.EnrichWith(&k, &e, "", lines)
		if len(e.Categories) != 1 || e.Categories[0] != c.want {
			t.Fatalf("categories %v, want [%s]", e.Categories, c.want)
		}
	}
}
