package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecap-dev/ecap/api/v1alpha1"
	"github.com/ecap-dev/ecap/runtime/catalog"
	"github.com/ecap-dev/ecap/runtime/events"
	"github.com/ecap-dev/ecap/runtime/fraud"
	"github.com/ecap-dev/ecap/runtime/kpi"
	"github.com/ecap-dev/ecap/runtime/lake"
)

// The lake sink (spec.sinks.lake) and its commit protocol:
//
//  1. Rows of the configured datasets are buffered per owned partition, per
//     dataset and date/hour partition, with the input offsets they came from.
//  2. At each checkpoint the buffers become Parquet files, written durably
//     (lake.Stage) but listed by no manifest: invisible. Their entries go
//     into the partition's changelog snapshot, and the files are written
//     before the snapshot and offset marker are appended. A crash before the
//     marker leaves orphan files (never listed; Vacuum removes them) and the
//     replay produces the rows again, in new files.
//  3. Every commitInterval the staged files are committed into new manifest
//     versions (lake.Commit). A crash before that is finished by whoever
//     restores the snapshot; a crash after it is harmless because Commit
//     skips files the manifest already covers (by name and by the source
//     offsets committed per topic/partition).
//
// So the lake holds everything below the changelog marker, which is what the
// consumer resumes from, and no row twice. A failing object store never
// stops the runtime: checkpoints wait (with backoff) while rows stay
// buffered, and commits are retried; /v1/status and /readyz say why.

// LakeSettings is spec.sinks.lake resolved.
type LakeSettings struct {
	Datasets       map[lake.Dataset]bool
	CommitInterval time.Duration
	// Local is the lake directory; empty with S3.
	Local string
	// S3 is the bucket; nil with Local.
	S3 *v1alpha1.S3Lake
	// CompactAfter is how long after an hour ends the replicas that wrote
	// into its partitions compact them (DefaultLakeCompactAfter; not in the
	// API yet).
	CompactAfter time.Duration
}

// DefaultLakeCommitInterval is spec.sinks.lake.commitInterval's default.
const DefaultLakeCommitInterval = time.Minute

// DefaultLakeCompactAfter leaves late events of an hour ten minutes to
// arrive before its small files are merged.
const DefaultLakeCompactAfter = 10 * time.Minute

func resolveLake(l *v1alpha1.LakeSink) (*LakeSettings, error) {
	if l == nil {
		return nil, nil
	}
	const field = "pipeline.spec.sinks.lake"
	ls := &LakeSettings{Datasets: map[lake.Dataset]bool{}, CompactAfter: DefaultLakeCompactAfter}
	if len(l.Datasets) == 0 {
		return nil, fmt.Errorf("%s.datasets: at least one dataset is required", field)
	}
	for i, d := range l.Datasets {
		ds, err := lake.ParseDataset(string(d))
		if err != nil {
			return nil, fmt.Errorf("%s.datasets[%d]: %w", field, i, err)
		}
		ls.Datasets[ds] = true
	}
	var err error
	if ls.CommitInterval, err = durationOr(l.CommitInterval, DefaultLakeCommitInterval, field+".commitInterval"); err != nil {
		return nil, err
	}
	switch {
	case (l.Local == nil) == (l.S3 == nil):
		return nil, fmt.Errorf("%s: exactly one of local or s3 must be set", field)
	case l.Local != nil:
		if l.Local.Path == "" || l.Local.Path[0] != '/' {
			return nil, fmt.Errorf("%s.local.path: must be an absolute path, got %q", field, l.Local.Path)
		}
		ls.Local = l.Local.Path
	default:
		if l.S3.Endpoint == "" {
			return nil, fmt.Errorf("%s.s3.endpoint: required", field)
		}
		if l.S3.Bucket == "" {
			return nil, fmt.Errorf("%s.s3.bucket: required", field)
		}
		s3 := *l.S3
		ls.S3 = &s3
	}
	return ls, nil
}

// OpenLake opens the lake the settings name. creds returns the S3 key
// pair (asked at every request); it is not used for a local lake.
func OpenLake(ls *LakeSettings, creds func() (string, string, error)) (*lake.Lake, error) {
	return OpenLakeAt(ls, creds, nil)
}

// OpenLakeAt is OpenLake with now as the lake's clock (commit times,
// expiry and vacuum cutoffs); nil is time.Now. The retention job passes
// the run's clock.
func OpenLakeAt(ls *LakeSettings, creds func() (string, string, error), now func() time.Time) (*lake.Lake, error) {
	if ls.Local != "" {
		st, err := lake.NewLocalStore(ls.Local)
		if err != nil {
			return nil, fmt.Errorf("pipeline.spec.sinks.lake.local.path: %w", err)
		}
		return lake.New(st, lake.Options{Now: now}), nil
	}
	st, err := lake.NewS3Store(lake.S3Config{Endpoint: ls.S3.Endpoint, Bucket: ls.S3.Bucket, Region: ls.S3.Region,
		Insecure: ls.S3.Insecure, Credentials: creds})
	if err != nil {
		return nil, fmt.Errorf("pipeline.spec.sinks.lake.s3: %w", err)
	}
	return lake.New(st, lake.Options{Prefix: ls.S3.Prefix, Now: now}), nil
}

// LakeStatus is the lake sink's part of /v1/status.
type LakeStatus struct {
	Store    string   `json:"store"`
	Datasets []string `json:"datasets"`
	// Healthy is false while the last write or commit failed.
	Healthy bool `json:"healthy"`
	// StagedFiles are written and checkpointed, awaiting their commit;
	// BufferedRows wait for the next checkpoint.
	StagedFiles    int        `json:"stagedFiles"`
	BufferedRows   int        `json:"bufferedRows"`
	CommittedFiles int64      `json:"committedFiles"`
	CommittedRows  int64      `json:"committedRows"`
	LastCommit     *time.Time `json:"lastCommit,omitempty"`
	LastError      string     `json:"lastError,omitempty"`
	LastErrorTime  *time.Time `json:"lastErrorTime,omitempty"`
}

// lakeSink is the engine's side of the lake: the store, metrics, health.
type lakeSink struct {
	l       *lake.Lake
	s       *LakeSettings
	lineage map[lake.Dataset]lake.Lineage

	filesCommitted *prometheus.CounterVec // dataset
	rowsCommitted  *prometheus.CounterVec // dataset
	bytesCommitted *prometheus.CounterVec // dataset
	commitDuration prometheus.Histogram
	errorsTotal    *prometheus.CounterVec // operation: stage, commit
	missing        prometheus.Counter

	mu sync.Mutex
	// stageErr and commitErr are the last failures of each operation,
	// cleared by its next success; healthy is both empty.
	stageErr, commitErr string
	lastErr             string
	lastErrTime         time.Time
	lastCommit          time.Time
	committedFiles      int64
	committedRows       int64
	// staging backoff: no checkpoint writes files before retryAt.
	backoff time.Duration
	retryAt time.Time
	// written are the partitions this process committed files to and has
	// not compacted since.
	written map[lakePartition]bool
}

// lakePartition is one dataset's date/hour partition.
type lakePartition struct {
	d    lake.Dataset
	part string
}

func newLakeSink(s *Settings, l *lake.Lake, m *Metrics) *lakeSink {
	ls := &lakeSink{l: l, s: s.Lake, lineage: map[lake.Dataset]lake.Lineage{}, written: map[lakePartition]bool{}}
	base := lake.Lineage{Pipeline: s.Pipeline, Namespace: s.Namespace, Generation: s.Generation}
	for _, d := range []lake.Dataset{lake.Transactions, lake.FraudDecisions, lake.KPIs, lake.UserEvents} {
		lin := base
		lin.InputTopics = []string{s.Transactions}
		if d == lake.UserEvents {
			lin.InputTopics = []string{s.UserEvents}
		}
		ls.lineage[d] = lin
	}
	f := func(c prometheus.Collector) { m.Registry.MustRegister(c); m.collectors = append(m.collectors, c) }
	ls.filesCommitted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_lake_files_committed_total", Help: "Parquet files made visible in lake manifests, by dataset."}, []string{"dataset"})
	ls.rowsCommitted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_lake_rows_committed_total", Help: "Rows made visible in the lake, by dataset."}, []string{"dataset"})
	ls.bytesCommitted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_lake_bytes_committed_total", Help: "Parquet bytes made visible in the lake, by dataset."}, []string{"dataset"})
	ls.commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ecap_lake_commit_duration_seconds", Help: "Time to commit one partition's staged files into manifests.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	ls.errorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecap_lake_errors_total", Help: "Failed lake operations, by operation (stage: writing files at a checkpoint; commit: writing manifests; compact: merging a closed hour's files)."}, []string{"operation"})
	ls.missing = prometheus.NewCounter(prometheus.CounterOpts{Name: "ecap_lake_files_missing_total", Help: "Staged files not found at commit time (removed by retention before their commit)."})
	for _, c := range []prometheus.Collector{ls.filesCommitted, ls.rowsCommitted, ls.bytesCommitted, ls.commitDuration, ls.errorsTotal, ls.missing} {
		f(c)
	}
	for _, op := range []string{"stage", "commit", "compact"} {
		ls.errorsTotal.WithLabelValues(op)
	}
	return ls
}

// fail records a failed operation and, for staging, backs off.
func (ls *lakeSink) fail(op string, err error) {
	ls.errorsTotal.WithLabelValues(op).Inc()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.lastErr = fmt.Sprintf("%s: %v", op, err)
	switch op {
	case "stage":
		ls.stageErr = ls.lastErr
	case "commit":
		ls.commitErr = ls.lastErr
	}
	ls.lastErrTime = time.Now()
	if op == "stage" {
		ls.backoff = min(max(2*ls.backoff, time.Second), 30*time.Second)
		ls.retryAt = time.Now().Add(ls.backoff)
	}
}

// healthy reports whether neither operation is failing; ls.mu is held.
func (ls *lakeSink) healthy() bool { return ls.stageErr == "" && ls.commitErr == "" }

// waiting reports whether staging is backing off after a failure.
func (ls *lakeSink) waiting() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return time.Now().Before(ls.retryAt)
}

// lakeBatch is the rows of one dataset and date/hour partition buffered
// since the last checkpoint, with the input offsets they came from.
type lakeBatch[T lake.Row] struct {
	rows   []T
	src    lake.SourceRange
	lo, hi time.Time
}

func addRow[T lake.Row](m map[string]*lakeBatch[T], row T, topic string, part int32, offset int64) {
	at := row.PartitionTime()
	key := lake.PartitionOf(at)
	b := m[key]
	if b == nil {
		b = &lakeBatch[T]{src: lake.SourceRange{Topic: topic, Partition: int(part), First: offset, Last: offset}, lo: at, hi: at}
		m[key] = b
	}
	b.rows = append(b.rows, row)
	b.src.First, b.src.Last = min(b.src.First, offset), max(b.src.Last, offset)
	if at.Before(b.lo) {
		b.lo = at
	}
	if at.After(b.hi) {
		b.hi = at
	}
}

// lakeFile is a file cut from the buffers at a checkpoint: its entry and,
// once encoded, its bytes (kept until the checkpoint succeeded, so a failed
// one rewrites the same file).
type lakeFile struct {
	sf     lake.StagedFile
	encode func() ([]byte, error)
	data   []byte
}

func cutBatches[T lake.Row](m map[string]*lakeBatch[T], d lake.Dataset, writer string, seq *uint64, lin lake.Lineage, out []*lakeFile) []*lakeFile {
	for part, b := range m {
		rows := b.rows
		*seq++
		e := lake.FileEntry{Path: lake.NewFileName(writer, *seq), Rows: int64(len(rows)), MinEventTime: b.lo.UTC(), MaxEventTime: b.hi.UTC(),
			Sources: []lake.SourceRange{b.src}, SchemaVersion: lake.SchemaVersion, Lineage: lin}
		out = append(out, &lakeFile{sf: lake.StagedFile{Dataset: d, Partition: part, Entry: e},
			encode: func() ([]byte, error) { return lake.EncodeRows(rows) }})
		delete(m, part)
	}
	return out
}

// lakeBuffer is one owned partition's lake state, guarded by the
// partition's lock.
type lakeBuffer struct {
	txn  map[string]*lakeBatch[lake.TransactionRow]
	ue   map[string]*lakeBatch[lake.UserEventRow]
	fd   map[string]*lakeBatch[lake.FraudDecisionRow]
	kpis map[string]*lakeBatch[lake.KPIRow]
	rows int // buffered rows
	seq  uint64

	// unwritten are files of a checkpoint that failed, written again by
	// the next one; inflight those of the checkpoint being written.
	unwritten, inflight []*lakeFile
	// staged are written and named by a durable snapshot; the committer
	// removes them once committed.
	staged []lake.StagedFile
}

func newLakeBuffer() *lakeBuffer {
	return &lakeBuffer{txn: map[string]*lakeBatch[lake.TransactionRow]{}, ue: map[string]*lakeBatch[lake.UserEventRow]{},
		fd: map[string]*lakeBatch[lake.FraudDecisionRow]{}, kpis: map[string]*lakeBatch[lake.KPIRow]{}}
}

func (b *lakeBuffer) addTransaction(s *Settings, part int32, offset int64, t *events.Transaction, units int64, e *catalog.Enrichment) {
	if s.Lake == nil || !s.Lake.Datasets[lake.Transactions] {
		return
	}
	r := lake.TransactionRow{EventID: t.EventID, TransactionID: t.TransactionID, CustomerID: t.CustomerID, MerchantID: t.MerchantID,
		EventTime: t.EventTime.UTC(), Amount: t.Amount, Currency: t.Currency, Lines: int32(len(t.Lines)), Units: units,
		Categories: e.Categories, Brands: e.Brands, Margin: e.Margin, UnknownProducts: int32(e.UnknownProducts),
		Country: t.Geo.Country, City: t.Geo.City, Channel: string(t.Channel), PaymentMethod: string(t.Payment.Method), DeviceID: t.Device.ID}
	addRow(b.txn, r, s.Transactions, part, offset)
	b.rows++
}

func (b *lakeBuffer) addDecision(s *Settings, part int32, offset int64, d *fraud.Decision) {
	if s.Lake == nil || !s.Lake.Datasets[lake.FraudDecisions] {
		return
	}
	alertID := d.AlertID
	if alertID == "" && len(d.Hits) > 0 {
		alertID = fraud.AlertID(d.RuleSet, d.Generation, d.TransactionID)
	}
	r := lake.FraudDecisionRow{AlertID: alertID, TransactionID: d.TransactionID, CustomerID: d.CustomerID, MerchantID: d.MerchantID,
		EventTime: d.EventTime.UTC(), RuleSet: d.RuleSet, Generation: d.Generation, Decision: string(d.Outcome), Priority: string(d.Priority),
		Score: d.Score, ShadowScore: d.ShadowScore}
	for _, h := range d.Hits {
		r.RulesHit = append(r.RulesHit, h.Rule)
	}
	addRow(b.fd, r, s.Transactions, part, offset)
	b.rows++
}

func (b *lakeBuffer) addKPI(s *Settings, part int32, offset int64, w *kpi.WindowResult) {
	if s.Lake == nil || !s.Lake.Datasets[lake.KPIs] {
		return
	}
	r := lake.KPIRow{ID: w.ID, Window: w.Window, WindowStart: w.Start.UTC(), WindowEnd: w.End.UTC(), Dimension: w.Dimension, Value: w.Value,
		Partition: w.Partition, Revenue: w.Revenue, Orders: w.Orders, Units: w.Units, AOV: w.AOV, Margin: w.Margin,
		UniqueCustomers: int64(w.UniqueCustomers), LateOrders: w.LateOrders}
	addRow(b.kpis, r, s.Transactions, part, offset)
	b.rows++
}

func (b *lakeBuffer) addUserEvent(s *Settings, part int32, offset int64, u *events.UserEvent) {
	if s.Lake == nil || !s.Lake.Datasets[lake.UserEvents] {
		return
	}
	r := lake.UserEventRow{EventID: u.EventID, EventTime: u.EventTime.UTC(), SessionID: u.SessionID, CustomerID: u.CustomerID,
		Action: string(u.Action), ProductID: u.ProductID, Query: u.Query, OrderID: u.OrderID, TransactionID: u.TransactionID,
		Page: u.Page, Channel: string(u.Channel), DeviceID: u.Device.ID, Country: u.Geo.Country}
	addRow(b.ue, r, s.UserEvents, part, offset)
	b.rows++
}

// pending reports whether the next checkpoint has files to write.
func (b *lakeBuffer) pending() bool { return b.rows > 0 || len(b.unwritten) > 0 }

// cut moves the buffered rows and the unwritten files into inflight.
func (b *lakeBuffer) cut(ls *lakeSink, part int32) {
	writer := fmt.Sprintf("p%d", part)
	files := b.unwritten
	b.unwritten = nil
	files = cutBatches(b.txn, lake.Transactions, writer, &b.seq, ls.lineage[lake.Transactions], files)
	files = cutBatches(b.fd, lake.FraudDecisions, writer, &b.seq, ls.lineage[lake.FraudDecisions], files)
	files = cutBatches(b.kpis, lake.KPIs, writer, &b.seq, ls.lineage[lake.KPIs], files)
	files = cutBatches(b.ue, lake.UserEvents, writer, &b.seq, ls.lineage[lake.UserEvents], files)
	b.rows = 0
	b.inflight = files
}

// done ends the checkpoint in flight: its files become staged, or, when
// it failed, are written again by the next checkpoint.
func (b *lakeBuffer) done(files []*lakeFile, ok bool) {
	b.inflight = nil
	if !ok {
		b.unwritten = append(files, b.unwritten...)
		return
	}
	for _, f := range files {
		b.staged = append(b.staged, f.sf)
	}
}

// snapshotEntries are the files the snapshot names: staged and in flight.
func (b *lakeBuffer) snapshotEntries() []lake.StagedFile {
	out := make([]lake.StagedFile, 0, len(b.staged)+len(b.inflight))
	out = append(out, b.staged...)
	for _, f := range b.inflight {
		out = append(out, f.sf)
	}
	return out
}

// lakeSnapshotVersion leads the lake part of a partition snapshot.
const lakeSnapshotVersion = 1

// encode is the lake part of the partition snapshot.
func (b *lakeBuffer) encode() ([]byte, error) {
	files := b.snapshotEntries()
	if len(files) == 0 {
		return nil, nil
	}
	data, err := json.Marshal(files)
	if err != nil {
		return nil, fmt.Errorf("failed to snapshot the staged lake files: %w", err)
	}
	return append([]byte{lakeSnapshotVersion}, data...), nil
}

func (b *lakeBuffer) decode(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if data[0] != lakeSnapshotVersion {
		return fmt.Errorf("unsupported lake snapshot version %d", data[0])
	}
	return json.Unmarshal(data[1:], &b.staged)
}

// stage writes a checkpoint's files; it runs on the checkpoint goroutine.
func (ls *lakeSink) stage(ctx context.Context, files []*lakeFile) error {
	for _, f := range files {
		if f.data == nil {
			data, err := f.encode()
			if err != nil {
				return err
			}
			f.data = data
		}
		// f.sf is left alone: status reads it under the partition's lock
		// meanwhile. Commit takes the size from the store.
		if _, err := ls.l.Stage(ctx, f.sf.Dataset, f.sf.Partition, f.sf.Entry, f.data); err != nil {
			return err
		}
	}
	return nil
}

// lakeStageError marks a checkpoint that failed writing lake files.
type lakeStageError struct{ err error }

func (e *lakeStageError) Error() string { return "failed to write lake files: " + e.err.Error() }
func (e *lakeStageError) Unwrap() error { return e.err }

// commitLake commits o's staged files, in staging order, one manifest
// version per dataset and date/hour partition.
func (e *Engine) commitLake(ctx context.Context, o *owned) error {
	ls := e.lake
	o.mu.Lock()
	files := append([]lake.StagedFile(nil), o.p.lake.staged...)
	o.mu.Unlock()
	if len(files) == 0 {
		return nil
	}
	t0 := time.Now()
	type key struct {
		d    lake.Dataset
		part string
	}
	var order []key
	groups := map[key][]lake.FileEntry{}
	for _, f := range files {
		k := key{f.Dataset, f.Partition}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f.Entry)
	}
	finished := map[string]bool{}
	var err error
	for _, k := range order {
		var res lake.CommitResult
		res, err = ls.l.Commit(ctx, k.d, k.part, groups[k])
		if err != nil {
			break
		}
		byName := map[string]lake.FileEntry{}
		for _, f := range groups[k] {
			byName[f.Path] = f
		}
		for _, n := range res.Added {
			f := byName[n]
			ls.filesCommitted.WithLabelValues(string(k.d)).Inc()
			ls.rowsCommitted.WithLabelValues(string(k.d)).Add(float64(f.Rows))
			ls.bytesCommitted.WithLabelValues(string(k.d)).Add(float64(f.Bytes))
			ls.mu.Lock()
			ls.committedFiles++
			ls.committedRows += f.Rows
			ls.written[lakePartition{k.d, k.part}] = true
			ls.mu.Unlock()
		}
		for _, n := range res.Missing {
			ls.missing.Inc()
			e.log.Error("staged lake file missing at commit; its rows are lost from the lake", "dataset", k.d, "partition", k.part, "file", n)
		}
		for _, list := range [][]string{res.Added, res.Skipped, res.Missing} {
			for _, n := range list {
				finished[n] = true
			}
		}
	}
	o.mu.Lock()
	kept := o.p.lake.staged[:0]
	for _, f := range o.p.lake.staged {
		if !finished[f.Entry.Path] {
			kept = append(kept, f)
		}
	}
	o.p.lake.staged = kept
	o.mu.Unlock()
	if err != nil {
		ls.fail("commit", err)
		return err
	}
	ls.commitDuration.Observe(time.Since(t0).Seconds())
	ls.mu.Lock()
	ls.lastCommit = time.Now()
	ls.mu.Unlock()
	ls.mu.Lock()
	ls.commitErr = ""
	ls.mu.Unlock()
	return nil
}

// lakeLoop commits every owned partition's staged files each
// commitInterval; after a failure it retries sooner, backing off from 1s.
func (e *Engine) lakeLoop(ctx context.Context) {
	wait := e.s.Lake.CommitInterval
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var errs []error
		for _, o := range e.owned() {
			if err := e.commitLake(ctx, o); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			backoff = min(max(2*backoff, time.Second), e.s.Lake.CommitInterval, 30*time.Second)
			wait = backoff
			e.log.Warn("lake commit failed; the files stay staged and the commit is retried", "lake", e.lake.l.String(), "retryIn", wait, "err", err)
			continue
		}
		backoff, wait = 0, e.s.Lake.CommitInterval
		e.compactClosed(ctx)
	}
}

// compactClosed merges the files of every partition this process wrote
// into whose hour ended more than CompactAfter ago: one file per
// checkpoint and replica otherwise piles up. Replicas that wrote into the
// same hour race harmlessly: lake.Compact commits optimistically, and the
// loser finds nothing left to merge. Old versions keep the small files
// until Vacuum.
func (e *Engine) compactClosed(ctx context.Context) {
	ls := e.lake
	now := time.Now()
	var due []lakePartition
	ls.mu.Lock()
	for k := range ls.written {
		start, err := lake.PartitionStart(k.part)
		if err != nil || now.Before(start.Add(time.Hour+ls.s.CompactAfter)) {
			continue
		}
		due = append(due, k)
	}
	ls.mu.Unlock()
	for _, k := range due {
		res, err := ls.l.CompactPartition(ctx, k.d, k.part, 2, false)
		if err != nil {
			ls.errorsTotal.WithLabelValues("compact").Inc()
			e.log.Warn("lake compaction failed; retried after the next commit", "dataset", k.d, "partition", k.part, "err", err)
			continue
		}
		if res.FilesIn > 0 {
			e.log.Info("lake partition compacted", "dataset", k.d, "partition", k.part, "files", res.FilesIn, "rows", res.Rows)
		}
		ls.mu.Lock()
		delete(ls.written, k)
		ls.mu.Unlock()
	}
}

// LakeHealthy reports whether the lake's last write and commit succeeded
// (true without a lake), with the last error otherwise.
func (e *Engine) LakeHealthy() (bool, string) {
	if e.lake == nil {
		return true, ""
	}
	e.lake.mu.Lock()
	defer e.lake.mu.Unlock()
	if e.lake.healthy() {
		return true, ""
	}
	if e.lake.stageErr != "" {
		return false, e.lake.stageErr
	}
	return false, e.lake.commitErr
}

func (e *Engine) lakeStatus() *LakeStatus {
	ls := e.lake
	if ls == nil {
		return nil
	}
	st := &LakeStatus{Store: ls.l.String()}
	for _, d := range []lake.Dataset{lake.Transactions, lake.UserEvents, lake.FraudDecisions, lake.KPIs} {
		if ls.s.Datasets[d] {
			st.Datasets = append(st.Datasets, string(d))
		}
	}
	for _, o := range e.owned() {
		o.mu.Lock()
		st.StagedFiles += len(o.p.lake.staged)
		st.BufferedRows += o.p.lake.rows
		for _, list := range [][]*lakeFile{o.p.lake.unwritten, o.p.lake.inflight} {
			for _, f := range list {
				st.BufferedRows += int(f.sf.Entry.Rows)
			}
		}
		o.mu.Unlock()
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	st.Healthy, st.LastError, st.CommittedFiles, st.CommittedRows = ls.healthy(), ls.lastErr, ls.committedFiles, ls.committedRows
	if !ls.lastCommit.IsZero() {
		t := ls.lastCommit
		st.LastCommit = &t
	}
	if !ls.lastErrTime.IsZero() {
		t := ls.lastErrTime
		st.LastErrorTime = &t
	}
	return st
}

// stagedOK clears a staging failure once a checkpoint wrote its files.
func (ls *lakeSink) stagedOK() {
	ls.mu.Lock()
	ls.backoff, ls.retryAt, ls.stageErr = 0, time.Time{}, ""
	ls.mu.Unlock()
}

// lakeRevokeCommitTimeout bounds the commit attempted when partitions are
// handed back to the group.
const lakeRevokeCommitTimeout = 5 * time.Second

// maxLakeBufferedRows is how many rows a partition holds back for the
// lake while the object store fails before it slows its consumption.
const maxLakeBufferedRows = 1_000_000

// lakeBackpressure slows a partition whose lake rows cannot be written:
// past maxLakeBufferedRows, each batch waits (at most a second) for the
// staging retry time, so memory stays bounded by about one batch a second
// instead of the whole input. The caller holds p's lock.
func (e *Engine) lakeBackpressure(ctx context.Context, p *partition) {
	if e.lake == nil || !e.lake.waiting() {
		return
	}
	held := p.lake.rows
	for _, f := range p.lake.unwritten {
		held += int(f.sf.Entry.Rows)
	}
	if held < maxLakeBufferedRows {
		return
	}
	e.lake.mu.Lock()
	wait := min(time.Until(e.lake.retryAt), time.Second)
	e.lake.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
}
