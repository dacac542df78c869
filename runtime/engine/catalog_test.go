package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ecap-dev/ecap/runtime/engine/enginetest"
	"github.com/ecap-dev/ecap/runtime/kafkatest"
)

// holdFetches makes the cluster answer every fetch of topic with the error
// code while held is true.
func holdFetches(c *kafkatest.Cluster, topic string, code int16, held *atomic.Bool) {
	kc := c.Kfake()
	kc.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		f := req.(*kmsg.FetchRequest)
		if !held.Load() || len(f.Topics) == 0 || f.Topics[0].Topic != topic {
			return nil, nil, false
		}
		resp := f.ResponseKind().(*kmsg.FetchResponse)
		for _, t := range f.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
}

// TestCatalogLoadsBeforeTransactions: transactions already waiting in
// their topic are not processed before the product catalog is loaded up to
// where the product-updates topic ended at start. While the catalog cannot
// be read the engine is not ready and processes nothing; once it can, every
// transaction is enriched against the full catalog.
func TestCatalogLoadsBeforeTransactions(t *testing.T) {
	env := newTestEnv(t)
	gen := enginetest.NewGenerator(7, 100, 40, time.Now().Add(-time.Hour), time.Second)
	prods := productRecords(gen)
	env.cluster.Produce(t, "products", prods...)
	var txns []enginetest.Txn
	for range 300 {
		txns = append(txns, gen.Next())
	}
	produceTxns(t, env.cluster, txns)

	var held atomic.Bool
	held.Store(true)
	// Readers retry NOT_LEADER_FOR_PARTITION on their own.
	holdFetches(env.cluster, "products", kerr.NotLeaderForPartition.Code, &held)
	waiting := noticeHandler{msg: catalogWaitMessage, seen: make(chan struct{}), once: new(sync.Once)}
	e, stop := env.start(Options{Logger: slog.New(waiting)})
	defer stop()

	// The partitions are assigned and restored, and the engine waits.
	select {
	case <-waiting.seen:
	case <-time.After(30 * time.Second):
		t.Fatalf("the engine never waited for the catalog: %+v", e.Status())
	}
	time.Sleep(500 * time.Millisecond)
	st := e.Status()
	if st.Ready || st.CatalogLoaded || st.EventsTotal != 0 {
		t.Fatalf("with the catalog unreadable: ready %v, catalogLoaded %v, %d events processed; want not ready, not loaded, none",
			st.Ready, st.CatalogLoaded, st.EventsTotal)
	}
	for _, p := range st.Partitions {
		if p.Offset != 0 {
			t.Fatalf("partition %d processed up to offset %d before the catalog loaded", p.Partition, p.Offset)
		}
	}

	if got := testutil.ToFloat64(e.metrics.catalogLoaded); got != 0 {
		t.Fatalf("ecap_catalog_loaded = %v while the catalog loads", got)
	}
	if why, pending := e.CatalogPending(); !pending || !strings.Contains(why, "loading the product catalog from products") {
		t.Fatalf("CatalogPending = %q, %v; want the catalog named as what the runtime waits for", why, pending)
	}

	held.Store(false)
	waitCaughtUp(t, e, int64(len(txns)))
	if _, pending := e.CatalogPending(); pending {
		t.Fatal("CatalogPending after the load")
	}
	if got := testutil.ToFloat64(e.metrics.catalogLoaded); got != 1 {
		t.Fatalf("ecap_catalog_loaded = %v after the load", got)
	}
	if st := e.Status(); !st.CatalogLoaded || st.CatalogProducts != gen.Products || st.CatalogError != "" {
		t.Fatalf("catalogLoaded %v, %d products (want %d), error %q", st.CatalogLoaded, st.CatalogProducts, gen.Products, st.CatalogError)
	}
	stop()
	enriched := env.cluster.ReadAll(t, "enriched")
	if len(enriched) != len(txns) {
		t.Fatalf("%d enriched records, want %d", len(enriched), len(txns))
	}
	for _, r := range enriched {
		var rec struct {
			Unknown    *int     `json:"unknown_products"`
			Categories []string `json:"categories"`
		}
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Unknown == nil || *rec.Unknown != 0 || len(rec.Categories) == 0 {
			t.Fatalf("transaction %s enriched against a partial catalog: %s", r.Key, r.Value)
		}
	}
}

// TestCatalogReaderReplaced: a reader that fails with an error kafka-go
// gives up on (authorization refused) is replaced from where it stopped;
// the status says why meanwhile, and no update is lost.
func TestCatalogReaderReplaced(t *testing.T) {
	env := newTestEnv(t)
	gen := enginetest.NewGenerator(9, 100, 40, time.Now().Add(-time.Hour), time.Second)
	prods := productRecords(gen)
	half := len(prods) / 2
	env.cluster.Produce(t, "products", prods[:half]...)
	e, stop := env.run()
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for !e.Status().CatalogLoaded {
		if time.Now().After(deadline) {
			t.Fatalf("catalog not loaded: %+v", e.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}

	var held atomic.Bool
	held.Store(true)
	holdFetches(env.cluster, "products", kerr.TopicAuthorizationFailed.Code, &held)
	env.cluster.Produce(t, "products", prods[half:]...)
	for !strings.Contains(e.Status().CatalogError, "reader of products/") {
		if time.Now().After(deadline) {
			t.Fatalf("no reader failure in the status: %+v", e.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	held.Store(false)
	for st := e.Status(); st.CatalogProducts != gen.Products || st.CatalogError != ""; st = e.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("%d products after the reader came back (want %d), error %q", st.CatalogProducts, gen.Products, st.CatalogError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCatalogTopicMissing: a product-updates topic that does not exist is
// an empty catalog, said in the status; the engine processes transactions
// (every product unknown) and picks the topic up once it exists.
func TestCatalogTopicMissing(t *testing.T) {
	c := kafkatest.Start(t)
	env := &testEnv{t: t, cluster: c, rc: testRuntimeConfig(c.Addrs()), kcfg: testKafkaConfig(c.Addrs())}
	env.rc.Pipeline.Spec.Topics.ProductUpdates = "products-later"
	var err error
	if env.s, err = Resolve(env.rc); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"txns", "uevents"} {
		c.CreateTopic(t, topic, testPartitions, nil)
	}
	if err := EnsureTopics(t.Context(), env.kcfg, &env.s); err != nil {
		t.Fatal(err)
	}
	gen := enginetest.NewGenerator(8, 50, 10, time.Now().Add(-time.Hour), time.Second)
	txns := []enginetest.Txn{gen.Next(), gen.Next(), gen.Next()}
	produceTxns(t, c, txns)
	e, stop := env.run()
	defer stop()
	waitCaughtUp(t, e, int64(len(txns)))
	st := e.Status()
	if !st.CatalogLoaded || !strings.Contains(st.CatalogError, "topic products-later does not exist") {
		t.Fatalf("catalogLoaded %v, error %q; want loaded (empty) with the missing topic named", st.CatalogLoaded, st.CatalogError)
	}
}

// noticeHandler is a slog.Handler that closes seen at the first record
// whose message is msg.
type noticeHandler struct {
	msg  string
	seen chan struct{}
	once *sync.Once
}

func (h noticeHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h noticeHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}
func (h noticeHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h noticeHandler) WithGroup(string) slog.Handler      { return h }

// productRecords are the generator's product updates as records to produce.
func productRecords(gen *enginetest.Generator) []kafkatest.Record {
	var recs []kafkatest.Record
	for _, p := range gen.ProductUpdates() {
		recs = append(recs, kafkatest.Record{Key: p[0], Value: p[1]})
	}
	return recs
}
