package engine

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ecap-dev/ecap/runtime/catalog"
	"github.com/ecap-dev/ecap/runtime/dedup"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/kpi"
	"github.com/ecap-dev/ecap/runtime/prefetch"
	"github.com/ecap-dev/ecap/runtime/state"
)

// partition is everything the engine keeps for one owned partition number:
// the customer state of the transactions partition, the dedup filters of both
// input topics, the KPI aggregator and one fraud State per rule set. It is
// owned by the partition's OnBatch goroutine; mu only guards against the
// checkpoint timer and the admin API, which read it from other goroutines.
type partition struct {
	id int32

	store     *state.Store
	dedupTxn  *dedup.Filter
	dedupUE   *dedup.Filter
	agg       *kpi.Aggregator
	fraud     map[string]*fraud.State
	nextUE    int64 // next user-events offset included in the state
	nextFB    int64 // next feedback offset included in the state
	nextCtl   int64 // next control offset included in the state (control.go)
	snapSlot  int   // slot the next snapshot goes to
	snapSeq   uint64
	snapCount [2]int // chunks last written to each slot
	// fraudBook: fraud entries each changelog slot has yet to receive
	// (see fraudlog.go).
	fraudBook fraudBook
	// capture: the fraud records of the checkpoint being encoded, nil
	// when none is (fraudlog.go); captureSeq numbers the captures.
	capture    *fraudCapture
	captureSeq uint32

	// checkpointed: offsets of the last successful checkpoint, to skip
	// checkpoints without progress.
	ckptTxn, ckptUE, ckptFB, ckptCtl int64
	lastCkpt                         time.Time
	lastExpire                       time.Time // last fraud-state expiry (startCheckpoint)
	// eraseCkpts counts the checkpoints still forced by a retention
	// request that removed customers (control.go); only checkpoints
	// encoded after the latest such request (eraseSeq) count.
	eraseCkpts int
	eraseSeq   uint64
	// fences: erasure fences by record key (control_fence.go), and the
	// fence records (or tombstones) the next checkpoint writes.
	fences       map[string]int64
	fencePending []kafka.Message
	failed       bool                // outputs of a batch could not be written: never checkpoint
	inflight     *inflightCheckpoint // being written; see startCheckpoint
	revoked      bool                // handed back to the group: never written again

	// status
	hwmTxn, hwmUE, hwmFB, hwmCtl int64

	// lake buffers rows for the lake sink (lake.go); empty without one.
	lake *lakeBuffer

	// latest is the latest transaction event time seen; fraud state older
	// than the rules can still read is dropped against it (expireFraud).
	latest time.Time
}

func newPartition(s *Settings, id int32) (*partition, error) {
	p := &partition{
		id:    id,
		store: state.NewStore(s.Transactions, id),
		fraud: map[string]*fraud.State{},
		lake:  newLakeBuffer(),
	}
	var err error
	if p.dedupTxn, err = dedup.New(s.Dedup); err != nil {
		return nil, err
	}
	if p.dedupUE, err = dedup.New(s.Dedup); err != nil {
		return nil, err
	}
	if s.KPI != nil {
		cfg := *s.KPI
		cfg.Partition = id
		if p.agg, err = kpi.NewAggregator(cfg); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// processor runs the stage chain on one partition's records. It holds no
// Kafka client: the engine hands it records and writes what it returns, and
// the benchmarks drive it directly.
type processor struct {
	s         *Settings
	validator *events.Validator
	catalog   *catalog.Catalog
	rules     func() []*fraud.Holder
	holder    func(name string) *fraud.Holder // nil-safe lookup by rule-set name
	metrics   *Metrics

	// out: the output's blocks and message slice, carried over between
	// batches (OnBatch).
	out output

	// scratch, reused between records of one batch (one processor per
	// partition goroutine)
	enr     catalog.Enrichment
	lines   []catalog.Line
	shares  []kpi.CategoryShare
	results []kpi.WindowResult
	kpiC    kpiCache
	txn     events.TransactionBlock
	ft      fraud.Transaction
	counts  batchCounts
	latency histogramBatch

	// products are the catalog's products this partition looked up last.
	products catalog.Cache
}

// processTransactions runs the whole chain over records of the transactions
// partition. Offsets the state already includes are skipped entirely: their
// outputs were written before the checkpoint that included them.
func (pr *processor) processTransactions(p *partition, topic string, msgs []kafka.Message, out *output) {
	s := pr.s
	clock := newEventClock()
	for i := range msgs {
		m := &msgs[i]
		if m.Offset < p.store.Meta().NextOffset {
			pr.metrics.replaySkipped.Inc()
			continue
		}
		clock.begin(i)
		pr.counts.add(pr.metrics.eventsIn, topic, string(events.KindTransaction))
		// kafka-go gives every record bytes of its own, which nothing writes
		// to afterwards: the transaction can point into them instead of a
		// copy. Nothing below keeps the transaction itself past this
		// iteration, so each one is decoded into the same block.
		txn, err := pr.validator.DecodeTransactionInto(&pr.txn, m.Value)
		if err == nil && s.AllowedCurrencies != nil && !s.AllowedCurrencies[txn.Currency] {
			err = &events.Rejection{Reason: events.ReasonInvalidCurrency, Field: "currency",
				Detail: "currency " + strconv.Quote(txn.Currency) + " is not in validation.allowedCurrencies"}
		}
		if err != nil {
			pr.reject(topic, p.id, m, err, out)
			p.store.Advance(m.Offset + 1)
			continue
		}
		// The dedup filter's slot for the ID is fetched while the catalog
		// enriches (which changes nothing but scratch and the product
		// cache): the lookup after it then finds the slot in the cache.
		var dh uint64
		if !s.DedupDisabled {
			dh = p.dedupTxn.Prepare(txn.EventID)
		}

		// enrich
		pr.lines = pr.lines[:0]
		var units int64
		for _, l := range txn.Lines {
			pr.lines = append(pr.lines, catalog.Line{ProductID: l.ProductID, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
			units += l.Quantity
		}
		if s.Catalog && pr.catalog != nil {
			pr.catalog.EnrichWith(&pr.products, &pr.enr, txn.Currency, pr.lines)
		} else {
			pr.enr = catalog.Enrichment{}
		}

		if !s.DedupDisabled && !p.dedupTxn.AdmitHash(dh, txn.EventTime) {
			pr.metrics.duplicates.WithLabelValues(topic).Inc()
			p.store.Advance(m.Offset + 1)
			continue
		}

		// KPIs
		if p.agg != nil {
			pr.shares = pr.shares[:0]
			for _, sh := range pr.enr.Shares {
				pr.shares = append(pr.shares, kpi.CategoryShare{Category: sh.Category, Revenue: sh.Revenue, Units: sh.Units, Margin: sh.Margin})
			}
			base := kpi.Observation{EventTime: txn.EventTime, CustomerID: txn.CustomerID, Revenue: txn.Amount,
				Units: units, Margin: pr.enr.Margin, Orders: 1}
			base.Dims[kpi.DimCategory] = catalog.UnknownCategory
			base.Dims[kpi.DimCountry] = txn.Geo.Country
			base.Dims[kpi.DimChannel] = string(txn.Channel)
			base.Dims[kpi.DimPaymentMethod] = string(txn.Payment.Method)
			if p.agg.AddTransaction(base, pr.shares) {
				pr.metrics.late.Inc()
			}
		}

		fenced := p.fenced(s.Transactions, txn.CustomerID, m.Offset)

		// fraud
		// link: the customer's slot for its customer-state entry, kept in
		// the fraud state's customer, so that the customer state finds it
		// without a lookup of its own (state.Store.ApplyLinked).
		var link **state.Customer
		if holders := pr.rules(); len(holders) > 0 {
			ft := &pr.ft
			fillFraudTransaction(ft, txn, units, &pr.enr)
			ft.IP = pr.txn.IPText()
			for _, h := range holders {
				rs := h.Current()
				if rs == nil {
					continue
				}
				// evaluated_at is pinned to the event time so that a replay
				// writes byte-identical alerts.
				st := p.fraudState(rs.Name())
				d, ok := h.ProcessAt(ft, st, txn.EventTime)
				if !ok {
					continue
				}
				if link == nil {
					link = st.StateLink()
				}
				if d.Publish() && s.AlertsTopic != "" {
					// Evaluate set d.AlertID, from the rule set, generation
					// and transaction ID.
					if b, err := appendAlert(out.space(alertRoom), &d); err == nil {
						b = out.keep(b) // before the key is written after it
						out.add(s.AlertsTopic, out.bytes(d.AlertID), b, nil)
					}
				}
				p.lake.addDecision(s, p.id, m.Offset, &d)
				pr.counts.add(pr.metrics.alerts, string(d.Outcome), rs.Name())
				for _, hit := range d.Hits {
					pr.counts.add(pr.metrics.ruleHits, rs.Name(), hit.Rule)
				}
			}
			if fenced {
				// Scored as before the crash; the history stays erased.
				for _, st := range p.fraud {
					st.ForgetCustomer(txn.CustomerID)
				}
			}
		}

		// The customer's state entry, a cache miss most of the time, is
		// fetched now and updated after the outputs are encoded, which do
		// not read it: the fetch overlaps with their work.
		if link != nil {
			prefetch.Object(*link)
		}

		pr.metrics.kpi.countSale(&pr.kpiC, txn, units, pr.enr.Margin)

		if txn.EventTime.After(p.latest) {
			p.latest = txn.EventTime
		}

		p.lake.addTransaction(s, p.id, m.Offset, txn, units, &pr.enr)
		if s.EnrichedTopic != "" {
			// Sized for the input plus the enrichment, so that encoding does
			// not grow the buffer.
			if b, err := appendEnriched(out.space(len(m.Value)+256), txn, &pr.txn, &pr.enr); err == nil {
				b = out.keep(b) // before the key is written after it
				out.add(s.EnrichedTopic, out.bytes(txn.EventID), b, nil)
			}
		}

		// customer state (not for a purchase the customer's erasure came after)
		if fenced {
			// nothing: see control_fence.go
		} else if _, err := p.store.ApplyLinked(link, state.Purchase{Offset: m.Offset, CustomerID: txn.CustomerID, EventTime: txn.EventTime,
			Amount: txn.Amount, DeviceID: txn.Device.ID, Country: txn.Geo.Country}); err != nil {
			pr.metrics.stateErrors.Inc()
		}
		p.store.Advance(m.Offset + 1)

		pr.metrics.latency.observe(&pr.latency, clock.end(i).Seconds())
	}
	pr.counts.flush()
	pr.metrics.kpi.flushSales(&pr.kpiC)
	pr.metrics.latency.flush(&pr.latency)
	pr.emitKPIs(p, out)
}

// emitKPIs writes the windows the watermark closed.
func (pr *processor) emitKPIs(p *partition, out *output) {
	if p.agg == nil {
		return
	}
	pr.results = p.agg.Emit(pr.results[:0])
	for i := range pr.results {
		r := &pr.results[i]
		b, err := appendKPIResult(out.space(kpiResultRoom(r)), r)
		if err != nil {
			continue
		}
		b = out.keep(b) // before the key is written after it
		out.add(pr.s.KPITopic, out.bytes(r.ID), b, nil)
		p.lake.addKPI(pr.s, p.id, p.store.Meta().NextOffset-1, r)
		pr.metrics.kpiWindows.WithLabelValues(r.Window).Inc()
	}
}

// processUserEvents validates and deduplicates user events. They change no
// customer state yet; their offsets are tracked in the snapshot.
func (pr *processor) processUserEvents(p *partition, topic string, msgs []kafka.Message, out *output) {
	for i := range msgs {
		m := &msgs[i]
		if m.Offset < p.nextUE {
			pr.metrics.replaySkipped.Inc()
			continue
		}
		pr.metrics.eventsIn.WithLabelValues(topic, string(events.KindUserEvent)).Inc()
		ev, err := pr.validator.Decode(events.KindUserEvent, m.Value)
		switch {
		case err != nil:
			pr.reject(topic, p.id, m, err, out)
		case !pr.s.DedupDisabled && !p.dedupUE.Admit(ev.ID(), ev.Time()):
			pr.metrics.duplicates.WithLabelValues(topic).Inc()
		default:
			pr.metrics.kpi.countUserEvent(&pr.kpiC, ev.(*events.UserEvent))
			p.lake.addUserEvent(pr.s, p.id, m.Offset, ev.(*events.UserEvent))
		}
		p.nextUE = m.Offset + 1
	}
}

// reject dead-letters a record: the value unchanged, the reason in headers.
func (pr *processor) reject(topic string, part int32, m *kafka.Message, err error, out *output) {
	var rej *events.Rejection
	if !errors.As(err, &rej) {
		rej = &events.Rejection{Reason: events.ReasonMalformedJSON, Detail: err.Error()}
	}
	hs := events.DeadLetterHeaders(rej, events.Source{Topic: topic, Partition: part, Offset: m.Offset})
	kh := make([]kafka.Header, len(hs))
	for i, h := range hs {
		kh[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	out.add(pr.s.DeadLetter, m.Key, m.Value, kh)
	pr.metrics.rejects.WithLabelValues(rej.Reason).Inc()
}

// FraudTransaction maps a validated transaction, its unit count and its
// catalog enrichment (nil when there is none) onto what fraud rules read.
// The engine and the backtests share it, so both score the same values.
func FraudTransaction(t *events.Transaction, units int64, e *catalog.Enrichment) *fraud.Transaction {
	ft := new(fraud.Transaction)
	fillFraudTransaction(ft, t, units, e)
	if t.IP.IsValid() {
		ft.IP = t.IP.String()
	}
	return ft
}

// fillFraudTransaction is FraudTransaction into ft, which the processor
// reuses from one transaction to the next (scoring keeps nothing of it),
// except for the IP, which the caller sets.
func fillFraudTransaction(ft *fraud.Transaction, t *events.Transaction, units int64, e *catalog.Enrichment) {
	*ft = fraud.Transaction{
		ID: t.TransactionID, EventTime: t.EventTime, CustomerID: t.CustomerID, Amount: t.Amount, Currency: t.Currency,
		PaymentMethod: string(t.Payment.Method), CardFingerprint: t.Payment.CardFingerprint, DeviceID: t.Device.ID,
		Country: t.Geo.Country, City: t.Geo.City, MerchantID: t.MerchantID, Channel: string(t.Channel),
		Lines: int64(len(t.Lines)), Units: units,
	}
	if e != nil {
		ft.Categories, ft.Margin = e.Categories, e.Margin
	}
	if t.Geo.Lat != nil && t.Geo.Lon != nil {
		ft.Lat, ft.Lon, ft.HasGeo = *t.Geo.Lat, *t.Geo.Lon, true
	}
}

// LabeledTransaction is FraudTransaction without enrichment plus the
// event's ground-truth label, for backtests.
func LabeledTransaction(t *events.Transaction) fraud.LabeledTransaction {
	var units int64
	for _, l := range t.Lines {
		units += l.Quantity
	}
	lt := fraud.LabeledTransaction{Transaction: *FraudTransaction(t, units, nil)}
	if t.Label != nil {
		lt.Labeled, lt.Fraud, lt.Pattern = true, t.Label.Fraud, t.Label.Pattern
	}
	return lt
}

// appendEnriched appends the record written to
// sinks.enrichedTransactionsTopic (keyed by event_id): the transaction's own
// JSON encoding (reflection-free) with the enrichment fields added at the end
// of the object: categories, brands, margin, unknown_products. blk, when not
// nil, is the block t was decoded into, whose record's strings the encoding
// can copy (events.TransactionBlock.AppendEncode).
func appendEnriched(dst []byte, t *events.Transaction, blk *events.TransactionBlock, e *catalog.Enrichment) ([]byte, error) {
	b, err := blk.AppendEncode(dst, t)
	if err != nil || len(b) == 0 || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("failed to encode transaction %s: %v", t.EventID, err)
	}
	b = appendJSONList(append(b[:len(b)-1], `,"categories":`...), e.Categories, e.PlainNames)
	b = appendJSONList(append(b, `,"brands":`...), e.Brands, e.PlainNames)
	b = append(b, `,"margin":`...)
	margin := e.Margin
	if math.IsNaN(margin) || math.IsInf(margin, 0) {
		margin = 0
	}
	b = events.AppendJSONFloat(b, margin)
	b = append(b, `,"unknown_products":`...)
	if n := e.UnknownProducts; n >= 0 && n <= 9 {
		return append(b, byte('0'+n), '}'), nil // usually 0, in one store
	}
	b = strconv.AppendInt(b, int64(e.UnknownProducts), 10)
	return append(b, '}'), nil
}

// appendJSONList appends vals as a JSON array of strings; nil gives [].
// plain tells that no value needs escaping (catalog.Enrichment.PlainNames).
func appendJSONList(b []byte, vals []string, plain bool) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		if plain {
			b = append(append(append(b, '"'), v...), '"')
		} else {
			b = events.AppendJSONString(b, v)
		}
	}
	return append(b, ']')
}

// fraudExpiryLag is how far behind the latest event time fraud state is
// expired: late transactions within it still find their velocity windows.
const fraudExpiryLag = 10 * time.Minute

// expireFraud drops, from every fraud state of p, the velocity windows no
// rule can read any more, alerts past their feedback TTL, and customers and
// merchants idle past their TTLs (fraud.State.Expire), measured against the
// latest event time less fraudExpiryLag. Without it the state, and with it
// every checkpoint's snapshot, would grow with every card, device and IP
// ever seen. It returns the entries removed.
func (p *partition) expireFraud() int {
	if p.latest.IsZero() {
		return 0
	}
	removed := 0
	for _, st := range p.fraud {
		removed += st.Expire(p.latest.Add(-fraudExpiryLag))
	}
	return removed
}
