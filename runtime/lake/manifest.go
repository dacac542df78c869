package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// manifestDir is the directory of a partition's manifest versions.
const manifestDir = "_manifest"

// Manifest is one version of a partition's file list: the only way a
// reader learns of a data file. Versions are numbered from 1 and each
// holds the whole list (not a delta), so a reader needs one object.
type Manifest struct {
	Dataset   Dataset `json:"dataset"`
	Partition string  `json:"partition"`
	Version   int64   `json:"version"`
	// CommitTime is when the version was written (the committer's clock).
	CommitTime time.Time `json:"commitTime"`
	// Operation that made the version: append, compact, erase, expire.
	Operation string      `json:"operation"`
	Files     []FileEntry `json:"files"`
	// Committed is, per source "<namespace>/<pipeline>/<topic>/<partition>",
	// the highest source offset of any file ever appended to this partition. It survives compaction and
	// erasure, so a writer that replays after a crash recognizes files it had
	// already committed (see Commit).
	Committed map[string]int64 `json:"committed,omitempty"`
}

// FileEntry is one data file of a manifest.
type FileEntry struct {
	// Path is the file name relative to the partition directory, so a
	// partition moved with its manifests (archive) stays readable.
	Path         string        `json:"path"`
	Rows         int64         `json:"rows"`
	Bytes        int64         `json:"bytes"`
	MinEventTime time.Time     `json:"minEventTime"`
	MaxEventTime time.Time     `json:"maxEventTime"`
	Sources      []SourceRange `json:"sources,omitempty"`
	// SchemaVersion is the dataset's SchemaVersion the file was written with.
	SchemaVersion int     `json:"schemaVersion"`
	Lineage       Lineage `json:"lineage"`
	// CommitTime is when the file first became visible.
	CommitTime time.Time `json:"commitTime"`
}

// SourceRange is the input offsets a file's rows came from.
type SourceRange struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	First     int64  `json:"first"`
	Last      int64  `json:"last"`
}

// Key is "topic/partition".
func (s SourceRange) Key() string { return s.Topic + "/" + strconv.Itoa(s.Partition) }

// Lineage names what produced a file.
type Lineage struct {
	Pipeline    string   `json:"pipeline"`
	Namespace   string   `json:"namespace,omitempty"`
	Generation  int64    `json:"generation"`
	InputTopics []string `json:"inputTopics,omitempty"`
	// Operation is set on files written by maintenance (compact, erase).
	Operation string `json:"operation,omitempty"`
}

func (l *Lake) partitionKey(d Dataset, part string) string {
	return l.prefix + string(d) + "/" + part + "/"
}

func (l *Lake) manifestKey(d Dataset, part string, v int64) string {
	return fmt.Sprintf("%s%s/v%020d.json", l.partitionKey(d, part), manifestDir, v)
}

// versions lists a partition's manifest versions, ascending.
func (l *Lake) versions(ctx context.Context, d Dataset, part string) ([]int64, error) {
	objs, err := l.store.List(ctx, l.partitionKey(d, part)+manifestDir+"/")
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, o := range objs {
		if v, ok := parseManifestName(o.Key); ok {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func parseManifestName(key string) (int64, bool) {
	name := key[strings.LastIndex(key, "/")+1:]
	if !strings.HasPrefix(name, "v") || !strings.HasSuffix(name, ".json") {
		return 0, false
	}
	v, err := strconv.ParseInt(name[1:len(name)-len(".json")], 10, 64)
	return v, err == nil && v > 0
}

func (l *Lake) readManifest(ctx context.Context, d Dataset, part string, v int64) (*Manifest, error) {
	data, err := l.store.Get(ctx, l.manifestKey(d, part, v))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s/%s v%d: %w", d, part, v, err)
	}
	return &m, nil
}

// latest returns a partition's newest manifest, or an empty version 0.
func (l *Lake) latest(ctx context.Context, d Dataset, part string) (*Manifest, error) {
	vs, err := l.versions(ctx, d, part)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return &Manifest{Dataset: d, Partition: part}, nil
	}
	return l.readManifest(ctx, d, part, vs[len(vs)-1])
}

// errNoChange tells update that the mutation found nothing to do.
var errNoChange = errors.New("no change")

// maxCommitAttempts bounds the optimistic retries of one commit.
const maxCommitAttempts = 50

// update writes the next manifest version of a partition: it reads the
// newest version, applies mutate to a copy, and writes it with
// PutIfAbsent under the next number. If another writer took that number
// first, it starts again from the newer version (optimistic concurrency),
// so no version number is ever written twice and no writer's change is
// lost. mutate returns errNoChange when there is nothing to write.
func (l *Lake) update(ctx context.Context, d Dataset, part, op string, mutate func(m *Manifest) error) (*Manifest, error) {
	for attempt := 0; ; attempt++ {
		cur, err := l.latest(ctx, d, part)
		if err != nil {
			return nil, err
		}
		next := cur.clone()
		next.Version = cur.Version + 1
		next.Operation = op
		next.CommitTime = l.now().UTC()
		if err := mutate(next); err != nil {
			if errors.Is(err, errNoChange) {
				return cur, nil
			}
			return nil, err
		}
		data, err := json.MarshalIndent(next, "", " ")
		if err != nil {
			return nil, err
		}
		err = l.store.PutIfAbsent(ctx, l.manifestKey(d, part, next.Version), data)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrExists) {
			return nil, err
		}
		if attempt+1 >= maxCommitAttempts {
			return nil, fmt.Errorf("manifest %s/%s: gave up after %d conflicting commits", d, part, attempt+1)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(5*time.Millisecond) << min(attempt, 6)))):
		}
	}
}

func (m *Manifest) clone() *Manifest {
	c := *m
	c.Files = append([]FileEntry(nil), m.Files...)
	c.Committed = make(map[string]int64, len(m.Committed))
	for k, v := range m.Committed {
		c.Committed[k] = v
	}
	return &c
}

// has reports whether the manifest lists a file path.
func (m *Manifest) has(path string) bool {
	for _, f := range m.Files {
		if f.Path == path {
			return true
		}
	}
	return false
}

// Bytes sums the sizes of the manifest's files.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Bytes
	}
	return n
}

// Rows sums the rows of the manifest's files.
func (m *Manifest) Rows() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Rows
	}
	return n
}
