package catalog

// cacheSlots is the size of a Cache: enough for the products a partition
// meets often, small enough (4 KiB) to stay in the CPU's cache itself.
const cacheSlots = 512

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

// cacheSlot picks the slot of a product ID: its last eight bytes (IDs tend
// to differ at the end), or all of a shorter one, with its length. Any two
// IDs may share a slot; that only costs a lookup.
func cacheSlot(id string) uint64 {
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
	return ((w ^ uint64(len(id))) * 0x9e3779b97f4a7c15) >> 55 // 512 slots
}

// product returns the stored product with the given ID, nil if there is
// none, from k when it holds it.
func (k *Cache) product(c *Catalog, id string) *Product {
	slot := &k.slots[cacheSlot(id)]
	if p := *slot; p != nil && p.ID == id {
		return p
	}
	p := c.lookup(id)
	if p != nil {
		*slot = p
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
