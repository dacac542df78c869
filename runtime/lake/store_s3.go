package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates a bucket of an S3-compatible object store.
type S3Config struct {
	// Endpoint is host[:port].
	Endpoint string
	Bucket   string
	Region   string
	// Insecure uses plain HTTP.
	Insecure bool
	// Credentials returns the access key pair; it is asked at every request,
	// so rotated keys apply without a restart.
	Credentials func() (accessKey, secretKey string, err error)
	// Transport replaces the default HTTP transport (tests).
	Transport http.RoundTripper
}

// S3Store is a Store in an S3 bucket through minio-go. PutObject is atomic
// in S3; PutIfAbsent sends If-None-Match: * (conditional writes, supported
// by AWS S3, MinIO and most S3-compatible stores), which the server refuses
// with 412 when the key exists.
type S3Store struct {
	client *minio.Client
	bucket string
	name   string
}

var _ Store = (*S3Store)(nil)

// dynamicCreds adapts S3Config.Credentials to minio-go's provider.
type dynamicCreds struct {
	get func() (string, string, error)
}

func (d *dynamicCreds) Retrieve() (miniocreds.Value, error) {
	return d.RetrieveWithCredContext(nil)
}

func (d *dynamicCreds) RetrieveWithCredContext(*miniocreds.CredContext) (miniocreds.Value, error) {
	ak, sk, err := d.get()
	if err != nil {
		return miniocreds.Value{}, err
	}
	return miniocreds.Value{AccessKeyID: ak, SecretAccessKey: sk, SignerType: miniocreds.SignatureV4}, nil
}

// IsExpired asks again at every request: the source caches the pair.
func (d *dynamicCreds) IsExpired() bool { return true }

// NewS3Store returns a store on cfg's bucket; it does no I/O.
func NewS3Store(cfg S3Config) (*S3Store, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("endpoint: required")
	}
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("bucket: required")
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("credentials: required")
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     miniocreds.New(&dynamicCreds{get: cfg.Credentials}),
		Secure:    !cfg.Insecure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", cfg.Endpoint, err)
	}
	scheme := "s3"
	return &S3Store{client: c, bucket: cfg.Bucket, name: scheme + "://" + cfg.Endpoint + "/" + cfg.Bucket}, nil
}

// String implements Store.
func (s *S3Store) String() string { return s.name }

// Put implements Store.
func (s *S3Store) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
	if err != nil {
		return fmt.Errorf("failed to put %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent implements Store.
func (s *S3Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.PreconditionFailed {
			return ErrExists
		}
		return fmt.Errorf("failed to put %s: %w", key, err)
	}
	return nil
}

func notFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound"
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to get %s: %w", key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("failed to get %s: %w", key, err)
	}
	return data, nil
}

// Stat implements Store.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if notFound(err) {
			return ObjectInfo{}, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return ObjectInfo{}, fmt.Errorf("failed to stat %s: %w", key, err)
	}
	return ObjectInfo{Key: key, Size: st.Size, ModTime: st.LastModified}, nil
}

// List implements Store.
func (s *S3Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("failed to list %s: %w", prefix, o.Err)
		}
		out = append(out, ObjectInfo{Key: o.Key, Size: o.Size, ModTime: o.LastModified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil && !errors.Is(err, ErrNotFound) && !notFound(err) {
		return fmt.Errorf("failed to delete %s: %w", key, err)
	}
	return nil
}
