// Package catalog keeps the product catalog as an in-memory table built from
// the compacted product-updates topic, and enriches order lines with it.
//
// One Catalog serves a whole runtime process: a single reader of every
// partition of the compacted topic writes into it, and the partition workers
// read it concurrently. Updates are last-writer-wins by Product.UpdatedAt,
// so an older update that arrives after a newer one (two producers, a
// re-sent record) never overwrites it; of two updates with equal UpdatedAt
// the later arrival wins, which makes re-reading the topic idempotent.
//
// The table is split into shards, each a map behind its own RWMutex, chosen
// by a hash of the product ID. Readers of different shards never touch the
// same lock word, so the lock's cache line does not bounce between the cores
// of many readers, and a writer blocks only the readers of one shard. See
// BenchmarkLookup for the single-lock alternative on the same workload.
package catalog

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ecap-dev/ecap/runtime/events"
)

// Product is the latest known record of one product.
type Product struct {
	ID       string
	Name     string
	Category string
	Brand    string
	// Price is the list price and Cost the unit cost, in Currency.
	Price    float64
	Cost     float64
	Currency string
	Stock    int64
	// UpdatedAt orders the updates of one product (last writer wins).
	UpdatedAt time.Time

	// plainNames is set by the catalog when Category and Brand are both
	// plain text (see Enrichment.PlainNames).
	plainNames bool
}

// DefaultShards is the shard count of New.
const DefaultShards = 64

// Catalog is the product table. It is safe for concurrent use.
type Catalog struct {
	seed   maphash.Seed
	shards []shard
	mask   uint64

	stale        atomic.Uint64
	unknownLines atomic.Uint64
	// changes counts the stored updates and tombstones, each counted
	// after it is stored, for Cache.
	changes atomic.Uint64
}

type shard struct {
	mu      sync.RWMutex
	entries map[string]*entry
	// Pad to two cache lines so neighbouring locks do not share one (the
	// adjacent-line prefetcher pulls pairs).
	_ [128 - unsafe.Sizeof(sync.RWMutex{}) - unsafe.Sizeof(map[string]*entry(nil))]byte
}

// entry is immutable once stored: writers replace it, readers copy from it.
type entry struct {
	product Product
	// deleted marks a tombstone; deletedAt is the UpdatedAt it is as new as.
	deleted   bool
	deletedAt time.Time
}

// New returns an empty Catalog with DefaultShards shards.
func New() *Catalog { return NewSharded(DefaultShards) }

// NewSharded returns an empty Catalog with n shards, rounded up to a power
// of two; 1 gives a single RWMutex.
func NewSharded(n int) *Catalog {
	size := 1
	for size < n {
		size *= 2
	}
	c := &Catalog{seed: maphash.MakeSeed(), shards: make([]shard, size), mask: uint64(size - 1)}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]*entry)
	}
	return c
}

func (c *Catalog) shard(id string) *shard {
	if c.mask == 0 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, id)&c.mask]
}

// Upsert stores p unless the catalog holds a newer version of it or a
// tombstone at least as new. It reports whether p was stored. The catalog
// keeps its own copy of p's strings.
func (c *Catalog) Upsert(p Product) bool {
	s := c.shard(p.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[p.ID]; old != nil {
		if old.deleted && !p.UpdatedAt.After(old.deletedAt) ||
			!old.deleted && p.UpdatedAt.Before(old.product.UpdatedAt) {
			c.stale.Add(1)
			return false
		}
	}
	p = cloneStrings(p)
	p.plainNames = events.PlainJSONString(p.Category) && events.PlainJSONString(p.Brand)
	s.entries[p.ID] = &entry{product: p}
	c.changes.Add(1)
	return true
}

// Delete applies a tombstone for id: the product is gone until an update
// newer than the deleted version arrives. Deleting an unknown id does
// nothing.
func (c *Catalog) Delete(id string) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[id]; old != nil && !old.deleted {
		s.entries[id] = &entry{deleted: true, deletedAt: old.product.UpdatedAt}
		c.changes.Add(1)
	}
}

// DeleteAt applies a tombstone dated at (e.g. the tombstone record's
// timestamp): it removes the product unless the stored version is newer
// than at, and updates up to at that arrive later are ignored. It reports
// whether a tombstone was stored.
func (c *Catalog) DeleteAt(id string, at time.Time) bool {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[id]; old != nil {
		if old.deleted && !at.After(old.deletedAt) || !old.deleted && at.Before(old.product.UpdatedAt) {
			c.stale.Add(1)
			return false
		}
	}
	s.entries[strings.Clone(id)] = &entry{deleted: true, deletedAt: at}
	c.changes.Add(1)
	return true
}

// Lookup returns the product with the given ID.
func (c *Catalog) Lookup(id string) (Product, bool) {
	if p := c.lookup(id); p != nil {
		return *p, true
	}
	return Product{}, false
}

// lookup returns the stored product with the given ID, nil if there is
// none. The product is never modified after being stored (writers replace
// the entry), so the caller may read it unlocked, and without copying it.
func (c *Catalog) lookup(id string) *Product {
	s := c.shard(id)
	s.mu.RLock()
	e := s.entries[id]
	s.mu.RUnlock()
	if e == nil || e.deleted {
		return nil
	}
	return &e.product
}

// PurgeTombstones forgets tombstones dated before cutoff, as Kafka does
// after delete.retention.ms; an older update arriving afterwards would
// resurrect the product. It returns how many were forgotten.
func (c *Catalog) PurgeTombstones(cutoff time.Time) int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for id, e := range s.entries {
			if e.deleted && e.deletedAt.Before(cutoff) {
				delete(s.entries, id)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// Stats are the catalog's counters, for metrics.
type Stats struct {
	// Products and Tombstones are the entries held now.
	Products, Tombstones int
	// StaleUpdates counts updates and tombstones ignored because the
	// catalog held a newer version.
	StaleUpdates uint64
	// UnknownLines counts enriched lines whose product was not found.
	UnknownLines uint64
}

// Stats returns the catalog's counters.
func (c *Catalog) Stats() Stats {
	st := Stats{StaleUpdates: c.stale.Load(), UnknownLines: c.unknownLines.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for _, e := range s.entries {
			if e.deleted {
				st.Tombstones++
			} else {
				st.Products++
			}
		}
		s.mu.RUnlock()
	}
	return st
}

// cloneStrings detaches p's strings from the buffer they were decoded from,
// which the catalog would otherwise keep alive.
func cloneStrings(p Product) Product {
	p.ID = strings.Clone(p.ID)
	p.Name = strings.Clone(p.Name)
	p.Category = strings.Clone(p.Category)
	p.Brand = strings.Clone(p.Brand)
	p.Currency = strings.Clone(p.Currency)
	return p
}
