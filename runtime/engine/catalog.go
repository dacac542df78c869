package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/ctxtime"
	"github.com/ecap-dev/ecap/runtime/events"
)

// catalogRecheck is how often the catalog reader looks for partitions
// added to the product-updates topic, or for the topic itself when it did
// not exist.
const catalogRecheck = 10 * time.Second

// catalogLoad is the state of the catalog's first load: the engine
// processes no transaction before every product-updates partition has
// been read up to the end offset it had when the reader started, so that
// no transaction is enriched against a half-loaded catalog.
type catalogLoad struct {
	done    chan struct{} // closed once loaded
	once    sync.Once
	pending atomic.Int32 // partitions still short of their start-time end
	mu      sync.Mutex
	err     string // the reader's last problem, for /v1/status
	started time.Time
	took    time.Duration
}

func newCatalogLoad() *catalogLoad {
	return &catalogLoad{done: make(chan struct{}), started: time.Now()}
}

func (l *catalogLoad) loaded() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *catalogLoad) finish() {
	l.once.Do(func() {
		l.mu.Lock()
		l.took = time.Since(l.started)
		l.mu.Unlock()
		close(l.done)
	})
}

func (l *catalogLoad) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.err = ""
	} else {
		l.err = err.Error()
	}
}

func (l *catalogLoad) status() (loaded bool, errText string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loaded(), l.err
}

const catalogWaitMessage = "waiting for the product catalog to load before processing transactions"

// waitCatalog blocks until the catalog's first load is complete or ctx is
// done. Only the first assignment waits: later ones find it loaded.
func (e *Engine) waitCatalog(ctx context.Context) error {
	if !e.s.Catalog || e.catalogLoad.loaded() {
		return nil
	}
	e.log.Info(catalogWaitMessage, "topic", e.s.ProductUpdates)
	select {
	case <-e.catalogLoad.done:
		e.catalogMetrics()
		e.log.Info("product catalog loaded", "products", e.catalog.Stats().Products, "duration", e.catalogLoad.took)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runCatalog reads every partition of the product-updates topic from its
// start into the shared catalog, each through a reader of its own outside
// any consumer group (every replica reads every partition, and a group
// join would only delay the first load), and then follows it. A topic
// that does not exist yet counts as an empty catalog: the first load is
// complete, the status says why the catalog is empty, and the reader
// starts on the topic when it appears.
func (e *Engine) runCatalog(ctx context.Context) error {
	topic := e.s.ProductUpdates
	var wg sync.WaitGroup
	defer wg.Wait()
	reading := 0 // partitions with a reader, 0..reading-1
	backoff := time.Second
	loading := false // the first load's end offsets are known
	for {
		n, err := e.client.PartitionCount(ctx, topic)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, kafka.UnknownTopicOrPartition):
			e.catalogLoad.setErr(fmt.Errorf("pipeline.spec.topics.productUpdates: topic %s does not exist; every product is unknown until it does", topic))
			loading = true
			e.catalogLoad.finish()
		case err != nil:
			// Brokers unreachable, say: the first load stays incomplete
			// (the engine is not ready) and the reader tries again.
			e.catalogLoad.setErr(fmt.Errorf("failed to read the partitions of %s: %w", topic, err))
			e.log.Error("catalog reader", "topic", topic, "err", err)
			if !ctxtime.Sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		case n > reading:
			ends := make([]int64, n)
			for p := range n {
				ends[p] = -1 // a partition added later is not waited for
			}
			if !loading {
				// The first load: every partition up to its end offset now.
				loading = true
				for p := range n {
					first, end, err := e.client.OffsetRange(ctx, topic, p)
					for err != nil {
						e.catalogLoad.setErr(fmt.Errorf("failed to read the end offset of %s/%d: %w", topic, p, err))
						if !ctxtime.Sleep(ctx, backoff) {
							return nil
						}
						first, end, err = e.client.OffsetRange(ctx, topic, p)
					}
					if end > first {
						ends[p] = end
						e.catalogLoad.pending.Add(1)
					}
				}
				if e.catalogLoad.pending.Load() == 0 {
					e.catalogLoad.finish()
				}
			}
			e.catalogLoad.setErr(nil)
			for p := reading; p < n; p++ {
				wg.Go(func() { e.readCatalogPartition(ctx, p, ends[p]) })
			}
			reading = n
		}
		backoff = time.Second
		if !ctxtime.Sleep(ctx, catalogRecheck) {
			return nil
		}
	}
}

// readCatalogPartition applies partition p of the product-updates topic to
// the catalog from its first offset on, until ctx is done. When the record
// before end has been applied it counts the partition as loaded (end <= 0:
// nothing to wait for). A reader that fails (kafka-go retries what it can
// itself, so this is an error it gives up on, an authorization refused,
// say) is replaced after a back-off, from the next offset on; the status
// says why meanwhile.
func (e *Engine) readCatalogPartition(ctx context.Context, p int, end int64) {
	waiting := end > 0
	next := kafka.FirstOffset
	failed := false // the status names this partition's failure
	for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
		err := e.followCatalogPartition(ctx, p, next, func(m *kafka.Message) error {
			if err := e.applyProductUpdate(ctx, m); err != nil {
				return err
			}
			next, backoff = m.Offset+1, time.Second
			if failed {
				failed = false
				e.catalogLoad.setErr(nil)
			}
			if waiting && m.Offset+1 >= end {
				waiting = false
				if e.catalogLoad.pending.Add(-1) == 0 {
					e.catalogLoad.finish()
				}
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		e.log.Error("catalog reader failed; starting another", "topic", e.s.ProductUpdates, "partition", p, "offset", next, "err", err)
		e.catalogLoad.setErr(fmt.Errorf("reader of %s/%d at offset %d: %w", e.s.ProductUpdates, p, next, err))
		failed = true
		if !ctxtime.Sleep(ctx, backoff) {
			return
		}
	}
}

// followCatalogPartition reads partition p from offset on and hands each
// record to apply, until an error (ctx's included).
func (e *Engine) followCatalogPartition(ctx context.Context, p int, offset int64, apply func(*kafka.Message) error) error {
	r := e.client.NewPartitionReader(e.s.ProductUpdates, p)
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return err
		}
		if err := apply(&m); err != nil {
			return err
		}
	}
}

// applyProductUpdate folds one product-updates record into the catalog: a
// tombstone or a deleted product removes it, a valid update upserts it, an
// invalid one goes to the dead-letter topic (retried until written: a
// rejected update is never dropped).
func (e *Engine) applyProductUpdate(ctx context.Context, m *kafka.Message) error {
	if m.Value == nil {
		if len(m.Key) > 0 {
			e.catalog.DeleteAt(string(m.Key), m.Time)
		}
		return nil
	}
	e.metrics.eventsIn.WithLabelValues(m.Topic, string(events.KindProductUpdate)).Inc()
	ev, err := e.validator.Decode(events.KindProductUpdate, m.Value)
	if err != nil {
		var out output
		e.newProcessor().reject(m.Topic, int32(m.Partition), m, err, &out)
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
			werr := e.write(ctx, out.msgs)
			if werr == nil {
				return nil
			}
			e.log.Error("failed to dead-letter a product update", "partition", m.Partition, "offset", m.Offset, "err", werr)
			if !ctxtime.Sleep(ctx, backoff) {
				return ctx.Err()
			}
		}
	}
	u := ev.(*events.ProductUpdate)
	if u.Deleted {
		e.catalog.DeleteAt(u.ProductID, u.EventTime)
		return nil
	}
	e.catalog.Upsert(ProductFromUpdate(u))
	return nil
}

// CatalogPending reports whether transactions still wait for the
// catalog's first load and, if so, why: for /readyz.
func (e *Engine) CatalogPending() (string, bool) {
	if !e.s.Catalog {
		return "", false
	}
	loaded, why := e.catalogLoad.status()
	if loaded {
		return "", false
	}
	msg := "loading the product catalog from " + e.s.ProductUpdates
	if why != "" {
		msg += ": " + why
	}
	return msg, true
}
