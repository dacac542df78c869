package lake_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ecap-dev/ecap/runtime/lake"
	"github.com/ecap-dev/ecap/runtime/lake/laketest"
)

// stores returns a fresh local store and a fresh S3 store (gofakes3 over
// HTTP); every store test runs on both.
func stores(t *testing.T) map[string]func(t *testing.T) lake.Store {
	return map[string]func(t *testing.T) lake.Store{
		"local": func(t *testing.T) lake.Store {
			s, err := lake.NewLocalStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) lake.Store { return laketest.NewS3(t, "lake").Store(t) },
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			if _, err := s.Get(ctx, "a/b/missing"); !errors.Is(err, lake.ErrNotFound) {
				t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
			}
			if _, err := s.Stat(ctx, "a/b/missing"); !errors.Is(err, lake.ErrNotFound) {
				t.Fatalf("Stat(missing) = %v, want ErrNotFound", err)
			}
			must(t, s.Put(ctx, "a/b/one", []byte("1")))
			must(t, s.Put(ctx, "a/b/one", []byte("one"))) // overwrite
			must(t, s.Put(ctx, "a/c/two", []byte("two")))
			must(t, s.Put(ctx, "ab/three", []byte("three")))
			got, err := s.Get(ctx, "a/b/one")
			must(t, err)
			if string(got) != "one" {
				t.Fatalf("Get = %q, want one", got)
			}
			st, err := s.Stat(ctx, "a/c/two")
			must(t, err)
			if st.Size != 3 {
				t.Fatalf("Stat size = %d, want 3", st.Size)
			}
			if err := s.PutIfAbsent(ctx, "a/b/one", []byte("x")); !errors.Is(err, lake.ErrExists) {
				t.Fatalf("PutIfAbsent(existing) = %v, want ErrExists", err)
			}
			got, _ = s.Get(ctx, "a/b/one")
			if string(got) != "one" {
				t.Fatalf("PutIfAbsent changed an existing object to %q", got)
			}
			list, err := s.List(ctx, "a/")
			must(t, err)
			if keys := keysOf(list); !equal(keys, []string{"a/b/one", "a/c/two"}) {
				t.Fatalf("List(a/) = %v", keys)
			}
			list, err = s.List(ctx, "a")
			must(t, err)
			if keys := keysOf(list); !equal(keys, []string{"a/b/one", "a/c/two", "ab/three"}) {
				t.Fatalf("List(a) = %v", keys)
			}
			must(t, s.Delete(ctx, "a/b/one"))
			must(t, s.Delete(ctx, "a/b/one")) // missing: no error
			if _, err := s.Get(ctx, "a/b/one"); !errors.Is(err, lake.ErrNotFound) {
				t.Fatalf("Get after Delete = %v", err)
			}
		})
	}
}

// TestStorePutIfAbsentExclusive races writers for one key: exactly one wins
// and the object holds its data.
func TestStorePutIfAbsentExclusive(t *testing.T) {
	ctx := context.Background()
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			const writers = 16
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for i := range writers {
				wg.Go(func() { errs[i] = s.PutIfAbsent(ctx, "race/v1", []byte{byte(i)}) })
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("writers %d and %d both won", winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, lake.ErrExists):
					t.Fatalf("writer %d: %v", i, err)
				}
			}
			if winner < 0 {
				t.Fatal("no writer won")
			}
			got, err := s.Get(ctx, "race/v1")
			must(t, err)
			if !bytes.Equal(got, []byte{byte(winner)}) {
				t.Fatalf("object holds %v, winner wrote %d", got, winner)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keysOf(objs []lake.ObjectInfo) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
