package lake

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// errStale tells a rewrite that a file it replaced left the newest
// manifest meanwhile (another rewrite won); it starts over.
var errStale = errors.New("manifest changed under the rewrite")

// maxRewriteAttempts bounds the restarts of one partition's rewrite.
const maxRewriteAttempts = 5

// replacement is the outcome of rewriting some files of a partition.
type replacement struct {
	old   []string    // paths removed from the manifest
	add   []FileEntry // new files (already written)
	added []string    // their keys, deleted again if the commit fails
}

// replace commits a replacement as a new manifest version, if every old
// file is still listed.
func (l *Lake) replace(ctx context.Context, d Dataset, part, op string, r replacement) (*Manifest, error) {
	m, err := l.update(ctx, d, part, op, func(m *Manifest) error {
		drop := map[string]bool{}
		for _, p := range r.old {
			if !m.has(p) {
				return errStale
			}
			drop[p] = true
		}
		kept := m.Files[:0]
		for _, f := range m.Files {
			if !drop[f.Path] {
				kept = append(kept, f)
			}
		}
		for _, f := range r.add {
			f.CommitTime = m.CommitTime
			kept = append(kept, f)
		}
		m.Files = kept
		return nil
	})
	if err != nil {
		for _, k := range r.added {
			_ = l.store.Delete(ctx, k)
		}
	}
	return m, err
}

// rewriteName is the name of a file written by maintenance.
func rewriteName(op string) string {
	return NewFileName(op, 0)
}

// mergeSources joins the source ranges of several files, one range per
// source spanning them all.
func mergeSources(files []FileEntry) []SourceRange {
	idx := map[string]int{}
	var out []SourceRange
	for _, f := range files {
		for _, s := range f.Sources {
			i, ok := idx[s.Key()]
			if !ok {
				idx[s.Key()] = len(out)
				out = append(out, s)
				continue
			}
			out[i].First = min(out[i].First, s.First)
			out[i].Last = max(out[i].Last, s.Last)
		}
	}
	return out
}

// mergeLineage keeps the newest generation's lineage and the union of
// input topics.
func mergeLineage(files []FileEntry, op string) Lineage {
	var l Lineage
	topics := map[string]bool{}
	for _, f := range files {
		if f.Lineage.Generation >= l.Generation {
			l.Pipeline, l.Namespace, l.Generation = f.Lineage.Pipeline, f.Lineage.Namespace, f.Lineage.Generation
		}
		for _, t := range f.Lineage.InputTopics {
			if !topics[t] {
				topics[t] = true
				l.InputTopics = append(l.InputTopics, t)
			}
		}
	}
	l.Operation = op
	return l
}

// CompactResult says what a compaction did (or would do, in a dry run).
type CompactResult struct {
	Partitions int   `json:"partitions"`
	FilesIn    int   `json:"filesIn"`
	FilesOut   int   `json:"filesOut"`
	Rows       int64 `json:"rows"`
}

// Compact merges, in every partition of d whose newest version lists at
// least minFiles files (2 if less), all files of the same schema version
// into one, and commits that as a new manifest version. Rows are copied
// unchanged; the old files stay in the store, so older versions still read
// them (time travel) until Vacuum drops those versions.
func (l *Lake) Compact(ctx context.Context, d Dataset, minFiles int, dryRun bool) (CompactResult, error) {
	var res CompactResult
	parts, err := l.Partitions(ctx, d)
	if err != nil {
		return res, err
	}
	for _, p := range parts {
		r, err := l.compactPartition(ctx, d, p, max(minFiles, 2), dryRun)
		if err != nil {
			return res, err
		}
		if r.FilesIn > 0 {
			res.Partitions++
			res.FilesIn += r.FilesIn
			res.FilesOut += r.FilesOut
			res.Rows += r.Rows
		}
	}
	return res, nil
}

// CompactPartition is Compact for one partition.
func (l *Lake) CompactPartition(ctx context.Context, d Dataset, part string, minFiles int, dryRun bool) (CompactResult, error) {
	return l.compactPartition(ctx, d, part, max(minFiles, 2), dryRun)
}

func (l *Lake) compactPartition(ctx context.Context, d Dataset, part string, minFiles int, dryRun bool) (CompactResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := l.compactOnce(ctx, d, part, minFiles, dryRun)
		if !errors.Is(err, errStale) || attempt+1 >= maxRewriteAttempts {
			return res, err
		}
	}
}

func (l *Lake) compactOnce(ctx context.Context, d Dataset, part string, minFiles int, dryRun bool) (CompactResult, error) {
	var res CompactResult
	m, err := l.latest(ctx, d, part)
	if err != nil {
		return res, err
	}
	var group []FileEntry
	for _, f := range m.Files {
		if f.SchemaVersion == SchemaVersion {
			group = append(group, f)
		}
	}
	if len(group) < minFiles {
		return res, nil
	}
	res.FilesIn, res.FilesOut = len(group), 1
	for _, f := range group {
		res.Rows += f.Rows
	}
	if dryRun {
		return res, nil
	}
	var merged *rawFile
	for _, f := range group {
		data, err := l.store.Get(ctx, l.partitionKey(d, part)+f.Path)
		if err != nil {
			return res, err
		}
		rf, err := readRaw(data)
		if err != nil {
			return res, fmt.Errorf("%s/%s/%s: %w", d, part, f.Path, err)
		}
		if merged == nil {
			merged = rf
		} else {
			merged.rows = append(merged.rows, rf.rows...)
		}
	}
	data, err := writeRaw(merged.schema, merged.rows)
	if err != nil {
		return res, err
	}
	entry := FileEntry{Path: rewriteName("compact"), Rows: int64(len(merged.rows)), SchemaVersion: SchemaVersion,
		Sources: mergeSources(group), Lineage: mergeLineage(group, "compact")}
	entry.MinEventTime, entry.MaxEventTime = group[0].MinEventTime, group[0].MaxEventTime
	for _, f := range group[1:] {
		if f.MinEventTime.Before(entry.MinEventTime) {
			entry.MinEventTime = f.MinEventTime
		}
		if f.MaxEventTime.After(entry.MaxEventTime) {
			entry.MaxEventTime = f.MaxEventTime
		}
	}
	staged, err := l.Stage(ctx, d, part, entry, data)
	if err != nil {
		return res, err
	}
	old := make([]string, len(group))
	for i, f := range group {
		old[i] = f.Path
	}
	_, err = l.replace(ctx, d, part, "compact", replacement{old: old, add: []FileEntry{staged.Entry},
		added: []string{l.partitionKey(d, part) + entry.Path}})
	return res, err
}

// EraseResult says what an erasure did (or would do, in a dry run).
type EraseResult struct {
	Partitions     int   `json:"partitions"`
	FilesRewritten int   `json:"filesRewritten"`
	RowsErased     int64 `json:"rowsErased"`
	// PartitionNames are the partitions rewritten (or to rewrite), the
	// ones to vacuum afterwards.
	PartitionNames []string `json:"partitionNames,omitempty"`
}

// Erase removes every row whose customer_id is in customerIDs from the
// newest version of every partition of d: each file holding such rows is
// rewritten without them (other rows copied value for value) and the
// partition gets a new manifest version. Older versions and the old files
// still hold the rows until Vacuum removes them; the retention job runs
// Vacuum after Erase. Datasets without customers (kpis) are left alone.
func (l *Lake) Erase(ctx context.Context, d Dataset, customerIDs []string, dryRun bool) (EraseResult, error) {
	var res EraseResult
	col := customerColumn(d)
	if col == "" || len(customerIDs) == 0 {
		return res, nil
	}
	ids := make(map[string]bool, len(customerIDs))
	for _, id := range customerIDs {
		ids[id] = true
	}
	parts, err := l.Partitions(ctx, d)
	if err != nil {
		return res, err
	}
	for _, p := range parts {
		var r EraseResult
		for attempt := 0; ; attempt++ {
			r, err = l.erasePartition(ctx, d, p, col, ids, dryRun)
			if !errors.Is(err, errStale) || attempt+1 >= maxRewriteAttempts {
				break
			}
		}
		if err != nil {
			return res, err
		}
		if r.FilesRewritten > 0 {
			res.Partitions++
			res.PartitionNames = append(res.PartitionNames, p)
			res.FilesRewritten += r.FilesRewritten
			res.RowsErased += r.RowsErased
		}
	}
	return res, nil
}

func (l *Lake) erasePartition(ctx context.Context, d Dataset, part, col string, ids map[string]bool, dryRun bool) (EraseResult, error) {
	var res EraseResult
	m, err := l.latest(ctx, d, part)
	if err != nil {
		return res, err
	}
	var r replacement
	for _, f := range m.Files {
		key := l.partitionKey(d, part) + f.Path
		data, err := l.store.Get(ctx, key)
		if err != nil {
			return res, err
		}
		rf, err := readRaw(data)
		if err != nil {
			return res, fmt.Errorf("%s: %w", key, err)
		}
		ci := columnIndex(rf.schema, col)
		if ci < 0 {
			return res, fmt.Errorf("%s: no column %s", key, col)
		}
		kept := rf.rows[:0:0]
		for _, row := range rf.rows {
			if !ids[stringAt(row, ci)] {
				kept = append(kept, row)
			}
		}
		erased := int64(len(rf.rows) - len(kept))
		if erased == 0 {
			continue
		}
		res.FilesRewritten++
		res.RowsErased += erased
		if dryRun {
			continue
		}
		r.old = append(r.old, f.Path)
		if len(kept) == 0 {
			continue
		}
		out, err := writeRaw(rf.schema, kept)
		if err != nil {
			return res, err
		}
		e := f
		e.Path = rewriteName("erase")
		e.Rows = int64(len(kept))
		e.Lineage.Operation = "erase"
		if tc := columnIndex(rf.schema, timeColumn(d)); tc >= 0 {
			e.MinEventTime, e.MaxEventTime = timeBounds(kept, tc)
		}
		staged, err := l.Stage(ctx, d, part, e, out)
		if err != nil {
			return res, err
		}
		r.add = append(r.add, staged.Entry)
		r.added = append(r.added, l.partitionKey(d, part)+e.Path)
	}
	if dryRun || len(r.old) == 0 {
		return res, nil
	}
	_, err = l.replace(ctx, d, part, "erase", r)
	return res, err
}

// isDataFile reports whether a key under a partition is a data file (not a
// manifest).
func isDataFile(rel string) bool {
	return !strings.Contains(rel, "/") && strings.HasSuffix(rel, ".parquet")
}
