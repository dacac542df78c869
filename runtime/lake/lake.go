package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Lake is a set of datasets under a key prefix of a Store.
type Lake struct {
	store  Store
	prefix string
	now    func() time.Time
}

// Options configure a Lake.
type Options struct {
	// Prefix of every key ("" or ending in "/" after normalization).
	Prefix string
	// Now is the clock of commit times and retention; nil is time.Now.
	Now func() time.Time
}

// New returns a lake on store.
func New(store Store, o Options) *Lake {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Lake{store: store, prefix: normPrefix(o.Prefix), now: now}
}

func normPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// Store returns the lake's object store.
func (l *Lake) Store() Store { return l.store }

// String names the lake (store and prefix).
func (l *Lake) String() string { return l.store.String() + "/" + l.prefix }

// StagedFile is a data file written to its partition directory but not
// yet listed by any manifest: invisible to readers until Commit.
type StagedFile struct {
	Dataset   Dataset   `json:"dataset"`
	Partition string    `json:"partition"`
	Entry     FileEntry `json:"entry"`
}

// NewFileName returns a data file name that no other writer produces:
// the writer's name, a random instance id and a sequence number.
func NewFileName(writer string, seq uint64) string {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("part-%s-%s-%06d.parquet", writer, hex.EncodeToString(rnd[:]), seq)
}

// Stage writes an encoded Parquet file (EncodeRows) into its partition
// directory, durably, without making it visible. entry.Path is the file
// name; entry.Bytes is set here.
func (l *Lake) Stage(ctx context.Context, d Dataset, part string, entry FileEntry, data []byte) (StagedFile, error) {
	if entry.Path == "" || strings.Contains(entry.Path, "/") {
		return StagedFile{}, fmt.Errorf("invalid file name %q", entry.Path)
	}
	entry.Bytes = int64(len(data))
	if entry.SchemaVersion == 0 {
		entry.SchemaVersion = SchemaVersion
	}
	if err := l.store.Put(ctx, l.partitionKey(d, part)+entry.Path, data); err != nil {
		return StagedFile{}, err
	}
	return StagedFile{Dataset: d, Partition: part, Entry: entry}, nil
}

// CommitResult says what Commit made visible.
type CommitResult struct {
	Version int64
	// Added lists the files newly listed; Skipped those a manifest already
	// covered (committed before a crash) and Missing those not found in
	// the store (vacuumed or expired meanwhile).
	Added, Skipped, Missing []string
}

// Commit makes staged files of one partition visible in one new manifest
// version. It is idempotent: a file whose name is listed, or whose every
// source range ends at or below the offsets already committed for that
// source, is skipped, so a writer that repeats a commit after a crash
// (its snapshot still naming the files) adds nothing twice. Files of one
// source must therefore be committed in offset order, which the engine does.
func (l *Lake) Commit(ctx context.Context, d Dataset, part string, files []FileEntry) (CommitResult, error) {
	var res CommitResult
	// The store's size is the truth: a writer restored from a snapshot
	// taken before the file was written knows only the file's name.
	size := map[string]int64{}
	for _, f := range files {
		info, err := l.store.Stat(ctx, l.partitionKey(d, part)+f.Path)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return res, err
		}
		size[f.Path] = info.Size
	}
	m, err := l.update(ctx, d, part, "append", func(m *Manifest) error {
		res.Added, res.Skipped, res.Missing = nil, nil, nil
		for _, f := range files {
			switch {
			case m.has(f.Path) || covered(m, f):
				res.Skipped = append(res.Skipped, f.Path)
			case size[f.Path] == 0:
				res.Missing = append(res.Missing, f.Path)
			default:
				f.CommitTime, f.Bytes = m.CommitTime, size[f.Path]
				m.Files = append(m.Files, f)
				for _, s := range f.Sources {
					if c, ok := m.Committed[committedKey(f, s)]; !ok || s.Last > c {
						m.Committed[committedKey(f, s)] = s.Last
					}
				}
				res.Added = append(res.Added, f.Path)
			}
		}
		if len(res.Added) == 0 {
			return errNoChange
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("failed to commit %s/%s: %w", d, part, err)
	}
	res.Version = m.Version
	return res, nil
}

// committedKey is the Manifest.Committed key of a file's source range:
// "<namespace>/<pipeline>/<topic>/<partition>". The Pipeline is part of it
// so that two Pipelines reading one topic into one lake (a migration, say)
// never take each other's files for already committed.
func committedKey(f FileEntry, s SourceRange) string {
	return f.Lineage.Namespace + "/" + f.Lineage.Pipeline + "/" + s.Key()
}

// covered reports whether every source range of f is at or below what m
// has committed for its source.
func covered(m *Manifest, f FileEntry) bool {
	if len(f.Sources) == 0 {
		return false
	}
	for _, s := range f.Sources {
		c, ok := m.Committed[committedKey(f, s)]
		if !ok || s.Last > c {
			return false
		}
	}
	return true
}

// Partitions lists a dataset's partitions ("date=.../hour=..."), sorted,
// that have at least one manifest version.
func (l *Lake) Partitions(ctx context.Context, d Dataset) ([]string, error) {
	base := l.prefix + string(d) + "/"
	objs, err := l.store.List(ctx, base)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, base)
		dir, name := path.Split(rel)
		if !strings.HasSuffix(dir, "/"+manifestDir+"/") {
			continue
		}
		if _, ok := parseManifestName(name); !ok {
			continue
		}
		part := strings.TrimSuffix(dir, "/"+manifestDir+"/")
		if !seen[part] {
			seen[part] = true
			out = append(out, part)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Versions lists a partition's manifest versions, ascending.
func (l *Lake) Versions(ctx context.Context, d Dataset, part string) ([]int64, error) {
	return l.versions(ctx, d, part)
}

// Manifest returns version v of a partition's manifest (0: the newest).
func (l *Lake) Manifest(ctx context.Context, d Dataset, part string, v int64) (*Manifest, error) {
	if v == 0 {
		return l.latest(ctx, d, part)
	}
	return l.readManifest(ctx, d, part, v)
}

// AsOf selects what a read sees: the zero value is the newest version of
// every partition; Time selects, per partition, the newest version
// committed at or before it (time travel).
type AsOf struct {
	Time time.Time
}

// manifestAsOf returns the partition's manifest as of a, or nil if none.
func (l *Lake) manifestAsOf(ctx context.Context, d Dataset, part string, a AsOf) (*Manifest, error) {
	vs, err := l.versions(ctx, d, part)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	if a.Time.IsZero() {
		return l.readManifest(ctx, d, part, vs[len(vs)-1])
	}
	for i := len(vs) - 1; i >= 0; i-- {
		m, err := l.readManifest(ctx, d, part, vs[i])
		if errors.Is(err, ErrNotFound) {
			continue // vacuumed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if !m.CommitTime.After(a.Time) {
			return m, nil
		}
	}
	return nil, nil
}

// DataFile is a visible file with its object key.
type DataFile struct {
	Dataset   Dataset
	Partition string
	Key       string
	Version   int64 // of the manifest that listed it
	FileEntry
}

// Files lists the dataset's visible files as of a, by partition.
func (l *Lake) Files(ctx context.Context, d Dataset, a AsOf) ([]DataFile, error) {
	parts, err := l.Partitions(ctx, d)
	if err != nil {
		return nil, err
	}
	var out []DataFile
	for _, p := range parts {
		m, err := l.manifestAsOf(ctx, d, p, a)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		for _, f := range m.Files {
			out = append(out, DataFile{Dataset: d, Partition: p, Key: l.partitionKey(d, p) + f.Path, Version: m.Version, FileEntry: f})
		}
	}
	return out, nil
}

// Read returns every visible row of dataset d as of a, decoded with T's
// schema, partition by partition in manifest order.
func Read[T Row](ctx context.Context, l *Lake, d Dataset, a AsOf) ([]T, error) {
	files, err := l.Files(ctx, d, a)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, f := range files {
		data, err := l.store.Get(ctx, f.Key)
		if err != nil {
			return nil, err
		}
		rows, err := DecodeRows[T](data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Key, err)
		}
		out = append(out, rows...)
	}
	return out, nil
}
