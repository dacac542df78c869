// Package laketest serves an in-process S3-compatible object store
// (gofakes3, in memory) over real HTTP for tests of the lake.
package laketest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/ecap-dev/ecap/runtime/lake"
)

// Access keys the fake accepts (gofakes3 does not check signatures).
const (
	AccessKey = "lake-access"
	SecretKey = "lake-secret"
)

// S3 is a running fake S3 server with one bucket.
type S3 struct {
	// Endpoint is host:port of the server (plain HTTP).
	Endpoint string
	Bucket   string
	// Requests counts HTTP requests served.
	Requests atomic.Int64
	// down makes every request fail with 503 while set.
	down   atomic.Bool
	server *httptest.Server
}

// NewS3 starts a fake S3 server with bucket; it stops at the end of the test.
func NewS3(t testing.TB, bucket string) *S3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	faker := gofakes3.New(backend)
	s := &S3{Bucket: bucket}
	h := faker.Server()
	s.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		if s.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.server.Close)
	u, _ := url.Parse(s.server.URL)
	s.Endpoint = u.Host
	return s
}

// SetDown makes the server answer every request with 503 (down) or serve
// normally again.
func (s *S3) SetDown(down bool) { s.down.Store(down) }

// Store returns a lake.S3Store on the fake's bucket.
func (s *S3) Store(t testing.TB) *lake.S3Store {
	t.Helper()
	st, err := lake.NewS3Store(lake.S3Config{Endpoint: s.Endpoint, Bucket: s.Bucket, Insecure: true, Region: "us-east-1",
		Credentials: func() (string, string, error) { return AccessKey, SecretKey, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
