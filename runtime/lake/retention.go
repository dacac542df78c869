package lake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ExpireAction is what Expire does with an expired partition.
type ExpireAction string

// Expire actions.
const (
	ExpireDelete  ExpireAction = "delete"
	ExpireArchive ExpireAction = "archive"
)

// ExpireOptions configure Expire.
type ExpireOptions struct {
	Dataset Dataset
	// OlderThan: a partition expires once its hour ended more than
	// OlderThan before the lake's clock.
	OlderThan time.Duration
	Action    ExpireAction
	// ArchivePrefix is the key prefix archived partitions move under,
	// keeping their dataset/date/hour layout.
	ArchivePrefix string
	// ArchiveStore is where they move to (another bucket, say); nil is the
	// lake's own store.
	ArchiveStore Store
	DryRun       bool
}

// ExpireResult says what Expire did (or would do).
type ExpireResult struct {
	// Partitions expired, "date=.../hour=...".
	Partitions []string `json:"partitions"`
	// BytesFreed is the size of the data files and manifests removed from
	// the lake (moved, when archiving).
	BytesFreed int64 `json:"bytesFreed"`
	Objects    int   `json:"objects"`
}

// Expire deletes or archives every partition of a dataset older than
// OlderThan. A partition goes in three steps, so a crash at any point leaves
// no manifest naming a missing file: (archive: copy data files, then
// manifests, under ArchivePrefix;) write a new, empty manifest version
// (operation "expire"), which hides the partition at once and keeps its
// version counter from ever restarting; delete the older manifests; delete
// the data files. The empty version stays as the partition's marker.
func (l *Lake) Expire(ctx context.Context, o ExpireOptions) (ExpireResult, error) {
	var res ExpireResult
	if o.OlderThan <= 0 {
		return res, fmt.Errorf("olderThan: must be positive, got %s", o.OlderThan)
	}
	switch o.Action {
	case ExpireDelete:
	case ExpireArchive:
		if o.ArchiveStore == nil && (normPrefix(o.ArchivePrefix) == "" || normPrefix(o.ArchivePrefix) == l.prefix) {
			return res, fmt.Errorf("archivePrefix: required with action archive and must differ from the lake prefix in the same store")
		}
	default:
		return res, fmt.Errorf("action: %q is not delete or archive", o.Action)
	}
	cutoff := l.now().Add(-o.OlderThan)
	parts, err := l.Partitions(ctx, o.Dataset)
	if err != nil {
		return res, err
	}
	for _, p := range parts {
		start, err := parsePartition(p)
		if err != nil || start.Add(time.Hour).After(cutoff) {
			continue
		}
		objs, err := l.store.List(ctx, l.partitionKey(o.Dataset, p))
		if err != nil {
			return res, err
		}
		m, err := l.latest(ctx, o.Dataset, p)
		if err != nil {
			return res, err
		}
		var size int64
		n := 0
		for _, obj := range objs {
			if v, ok := parseManifestName(obj.Key); ok && v == m.Version && m.Operation == "expire" {
				continue // the marker of an earlier expiry
			}
			size += obj.Size
			n++
		}
		if n == 0 {
			continue
		}
		res.Partitions = append(res.Partitions, p)
		res.BytesFreed += size
		res.Objects += n
		if o.DryRun {
			continue
		}
		if err := l.expirePartition(ctx, o, p, m, objs); err != nil {
			return res, fmt.Errorf("failed to expire %s/%s: %w", o.Dataset, p, err)
		}
	}
	return res, nil
}

func (l *Lake) expirePartition(ctx context.Context, o ExpireOptions, part string, m *Manifest, objs []ObjectInfo) error {
	base := l.partitionKey(o.Dataset, part)
	if o.Action == ExpireArchive {
		dstStore := o.ArchiveStore
		if dstStore == nil {
			dstStore = l.store
		}
		dst := normPrefix(o.ArchivePrefix) + string(o.Dataset) + "/" + part + "/"
		// Data files first: an archived manifest never names a file the
		// archive lacks.
		for _, pass := range []bool{false, true} {
			for _, obj := range objs {
				rel := strings.TrimPrefix(obj.Key, base)
				if strings.HasPrefix(rel, manifestDir+"/") != pass {
					continue
				}
				data, err := l.store.Get(ctx, obj.Key)
				if err != nil {
					return err
				}
				if err := dstStore.Put(ctx, dst+rel, data); err != nil {
					return err
				}
			}
		}
	}
	marker, err := l.update(ctx, o.Dataset, part, "expire", func(next *Manifest) error {
		if next.Version != m.Version+1 {
			return fmt.Errorf("a writer committed to the partition while it was expired; run again")
		}
		next.Files = nil
		return nil
	})
	if err != nil {
		return err
	}
	for _, pass := range []bool{true, false} { // manifests, then data files
		for _, obj := range objs {
			rel := strings.TrimPrefix(obj.Key, base)
			isManifest := strings.HasPrefix(rel, manifestDir+"/")
			if isManifest != pass {
				continue
			}
			if v, ok := parseManifestName(obj.Key); ok && v == marker.Version {
				continue
			}
			if err := l.store.Delete(ctx, obj.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// VacuumOptions configure Vacuum.
type VacuumOptions struct {
	Dataset Dataset
	// KeepVersions is how many of each partition's newest manifest
	// versions stay readable (at least 1).
	KeepVersions int
	// OrphanGrace: a data file no manifest version ever listed is deleted
	// only once it is older than this. Such files are written by a runtime
	// that crashed before its checkpoint (never to be committed) or are
	// staged and awaiting their commit, so the grace must exceed the
	// longest time a runtime may stay down with staged files. 0 means
	// DefaultOrphanGrace.
	OrphanGrace time.Duration
	// Partitions limits the vacuum to these partitions ("date=.../hour=..."),
	// as after an erasure; empty is every partition of the dataset.
	Partitions []string
	DryRun     bool
}

// DefaultOrphanGrace is VacuumOptions.OrphanGrace's default.
const DefaultOrphanGrace = 72 * time.Hour

// VacuumResult says what Vacuum did (or would do).
type VacuumResult struct {
	ManifestsDeleted int   `json:"manifestsDeleted"`
	FilesDeleted     int   `json:"filesDeleted"`
	BytesFreed       int64 `json:"bytesFreed"`
}

// Vacuum deletes, in every partition of a dataset, the manifest versions
// beyond the newest KeepVersions, then the data files none of the kept
// versions lists: those a dropped version listed at once, those no version
// ever listed (orphans) after OrphanGrace. Manifests go before files, so
// no readable version ever names a missing file.
func (l *Lake) Vacuum(ctx context.Context, o VacuumOptions) (VacuumResult, error) {
	var res VacuumResult
	if o.KeepVersions < 1 {
		return res, fmt.Errorf("keepVersions: must be at least 1, got %d", o.KeepVersions)
	}
	grace := o.OrphanGrace
	if grace == 0 {
		grace = DefaultOrphanGrace
	}
	orphanCutoff := l.now().Add(-grace)
	parts, err := l.Partitions(ctx, o.Dataset)
	if err != nil {
		return res, err
	}
	for _, p := range parts {
		if len(o.Partitions) > 0 && !slices.Contains(o.Partitions, p) {
			continue
		}
		base := l.partitionKey(o.Dataset, p)
		objs, err := l.store.List(ctx, base)
		if err != nil {
			return res, err
		}
		vs, err := l.versions(ctx, o.Dataset, p)
		if err != nil {
			return res, err
		}
		keepFrom := max(0, len(vs)-o.KeepVersions)
		kept, dropped := map[string]bool{}, map[string]bool{}
		for i, v := range vs {
			m, err := l.readManifest(ctx, o.Dataset, p, v)
			if err != nil {
				return res, err
			}
			for _, f := range m.Files {
				if i >= keepFrom {
					kept[f.Path] = true
				} else {
					dropped[f.Path] = true
				}
			}
		}
		var delManifests, delFiles []ObjectInfo
		for _, obj := range objs {
			rel := strings.TrimPrefix(obj.Key, base)
			if v, ok := parseManifestName(obj.Key); ok && strings.HasPrefix(rel, manifestDir+"/") {
				if idx := indexOf(vs, v); idx >= 0 && idx < keepFrom {
					delManifests = append(delManifests, obj)
				}
				continue
			}
			if !isDataFile(rel) || kept[rel] {
				continue
			}
			if dropped[rel] || obj.ModTime.Before(orphanCutoff) {
				delFiles = append(delFiles, obj)
			}
		}
		for _, obj := range append(delManifests, delFiles...) {
			res.BytesFreed += obj.Size
			if !o.DryRun {
				if err := l.store.Delete(ctx, obj.Key); err != nil {
					return res, err
				}
			}
		}
		res.ManifestsDeleted += len(delManifests)
		res.FilesDeleted += len(delFiles)
	}
	return res, nil
}

func indexOf(vs []int64, v int64) int {
	for i, x := range vs {
		if x == v {
			return i
		}
	}
	return -1
}
