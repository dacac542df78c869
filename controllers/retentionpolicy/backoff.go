package retentionpolicy

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// failureCounter counts consecutive Kafka failures per policy, for the
// retry back-off of a policy whose brokers do not answer.
type failureCounter struct {
	mu sync.Mutex
	n  map[types.NamespacedName]int
}

func (f *failureCounter) note(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[types.NamespacedName]int{}
	}
	f.n[key]++
}

func (f *failureCounter) reset(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.n, key)
}

// backoff is how long to wait before retrying: 1s after the first failure,
// doubling, at most limit.
func (f *failureCounter) backoff(key types.NamespacedName, limit time.Duration) time.Duration {
	f.mu.Lock()
	n := f.n[key]
	f.mu.Unlock()
	d := time.Second
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
