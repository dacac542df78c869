package catalog

import "math/bits"

// cacheSlots is the size of a Cache: a product may sit in either of two
// slots, so the 500 products of a typical catalog nearly all fit (a
// direct-mapped 512-slot cache kept about 300 of them, and missed on about
// two lookups in five); 8 KiB stays in the CPU's cache itself.
const cacheSlots = 1024

// Cache remembers the products one reader looked up last, so that a
// partition worker that meets a product again finds it without hashing the
// ID for a shard, taking the shard's read lock (two atomic writes to a line
// every partition shares) and probing its map. The catalog counts its
// changes: a lookup that sees the count moved empties the cache first, so a
// product replaced or deleted before the lookup is never returned; a change
// concurrent with it may or may not be seen, as with Lookup. Unknown
// products are not remembered.
//
// The zero value is ready. A Cache is for one goroutine, and may be used
// with one catalog after another; it keeps the catalog's products and
// their IDs (the catalog's copies), never the caller's strings.
type Cache struct {
	of      *Catalog // the catalog the slots are from
	version uint64
	slots   [cacheSlots]*Product
}

// cacheSlotPair picks the two slots of a product ID from its last eight bytes
// (IDs tend to differ at the end), or all of a shorter one, with its
// length: the word is multiplied out to 128 bits and the halves folded, so
// that every byte moves every bit of both slot numbers (a plain
// multiplication kept the top bits of IDs differing in their last digits
// in few values). Any two IDs may share slots; that only costs a lookup.
func cacheSlotPair(id string) (uint64, uint64) {
	var w uint64
	if n := len(id); n >= 8 {
		t := id[n-8:]
		w = uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
	} else {
		for i := 0; i < n; i++ {
			w = w<<8 | uint64(id[i])
		}
	}
	hi, lo := bits.Mul64(w^uint64(len(id)), 0x9e3779b97f4a7c15)
	h := hi ^ lo
	return h & (cacheSlots - 1), h >> 32 & (cacheSlots - 1)
}

// product returns the stored product with the given ID, nil if there is
// none, from k when it holds it. A product found in the catalog goes to
// its first slot if free, else its second if free, else replaces the first.
func (k *Cache) product(c *Catalog, id string) *Product {
	a, b := cacheSlotPair(id)
	if p := k.slots[a]; p != nil && p.ID == id {
		return p
	}
	if p := k.slots[b]; p != nil && p.ID == id {
		return p
	}
	p := c.lookup(id)
	if p != nil {
		if k.slots[a] != nil && k.slots[b] == nil {
			a = b
		}
		k.slots[a] = p
	}
	return p
}

// sync empties k if c changed since k was last synced with it, or k was
// last used with another catalog.
func (k *Cache) sync(c *Catalog) {
	if v := c.changes.Load(); v != k.version || k.of != c {
		k.slots = [cacheSlots]*Product{}
		k.of, k.version = c, v
	}
}
