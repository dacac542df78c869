package lake

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Store.Get for a key that does not exist.
var ErrNotFound = errors.New("object not found")

// ErrExists is returned by Store.PutIfAbsent when the key already exists.
var ErrExists = errors.New("object already exists")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is a flat object store with "/"-separated keys. Both
// implementations give the guarantees the commit protocol relies on:
//
//   - Put is atomic: a reader sees the previous object or the whole new one,
//     never a part; once Put returns, the object is durable.
//   - PutIfAbsent is atomic and exclusive: of several concurrent calls for one
//     key exactly one succeeds, the others return ErrExists.
//   - List returns every object under a prefix, sorted by key, and sees
//     every Put that returned before it was called.
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// String names the store in logs and status (no credentials).
	String() string
}
