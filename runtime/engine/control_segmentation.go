package engine

import (
	"slices"
	"sync"

	"github.com/ecap-dev/ecap/runtime/segmentation"
)

// eraseGuard keeps customers erased while a Segmentation run is in flight
// out of that run's results: the run copied the customer summaries before
// the erasure, so without the guard it would publish the customer's profile
// after the tombstone and keep the row in memory.
type eraseGuard struct {
	mu      sync.Mutex
	running bool
	ids     map[string]struct{}
}

// begin marks the start of a run: erasures from now on are remembered.
func (g *eraseGuard) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running, g.ids = true, nil
}

// end forgets the remembered erasures once the run's results are installed.
func (g *eraseGuard) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running, g.ids = false, nil
}

// add remembers erased customers if a run is in flight.
func (g *eraseGuard) add(ids map[string]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		return
	}
	if g.ids == nil {
		g.ids = make(map[string]struct{}, len(ids))
	}
	for id := range ids {
		g.ids[id] = struct{}{}
	}
}

// skip reports whether a customer was erased during the run in flight.
func (g *eraseGuard) skip(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, erased := g.ids[id]
	return erased
}

// filter drops the rows of customers erased during the run in flight.
func (g *eraseGuard) filter(rows []segmentation.Row) []segmentation.Row {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ids) == 0 {
		return rows
	}
	return slices.DeleteFunc(rows, func(r segmentation.Row) bool {
		_, erased := g.ids[r.CustomerID]
		return erased
	})
}

// forgetCustomers removes the customers in ids from the last results of
// every Segmentation (and from the run in flight, through the guard). It
// returns the rows removed (with dryRun: that would be) and every profile
// topic, the pipeline's default first.
func (sg *segmenter) forgetCustomers(ids map[string]bool, dryRun bool) (rows int, topics []string) {
	if !dryRun {
		sg.e.erasing.add(ids)
	}
	if t := sg.e.s.ProfilesTopic; t != "" {
		topics = append(topics, t)
	}
	sg.mu.Lock()
	defer sg.mu.Unlock()
	for _, j := range sg.jobs {
		if j.topic != "" && !slices.Contains(topics, j.topic) {
			topics = append(topics, j.topic)
		}
		if j.last == nil {
			continue
		}
		n := 0
		for i := range j.last.rows {
			if ids[j.last.rows[i].CustomerID] {
				n++
			}
		}
		if n > 0 && !dryRun {
			// A new slice: SegmentationProfile may be reading the old one.
			kept := make([]segmentation.Row, 0, len(j.last.rows)-n)
			for _, r := range j.last.rows {
				if !ids[r.CustomerID] {
					kept = append(kept, r)
				}
			}
			last := *j.last
			last.rows = kept
			j.last = &last
		}
		rows += n
	}
	slices.Sort(topics)
	return rows, topics
}
