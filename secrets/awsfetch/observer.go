package awsfetch

import (
	"sync"
	"sync/atomic"
	"time"
)

// AWS API names reported to an Observer.
const (
	APIGetSecretValue      = "GetSecretValue"
	APIBatchGetSecretValue = "BatchGetSecretValue"
	APIGetParameters       = "GetParameters"
	APIDescribeSecret      = "DescribeSecret"
)

// Observer receives events for metrics (e.g. the mounter's Prometheus
// counters). Methods are called concurrently and must not block.
type Observer interface {
	// AWSCall reports one AWS API operation (its SDK retries included) with the
	// region, the outcome (a Reason, "" for success) and its duration.
	AWSCall(api, region, reason string, d time.Duration)
	// Cache reports, per distinct ref of a Fetch with the cache enabled, whether
	// it was served from the cache or a concurrent identical fetch (hit) or read from AWS.
	Cache(hit bool)
}

// Counters is an Observer that counts, for tests, benchmarks and simple reporting.
type Counters struct {
	mu     sync.Mutex
	calls  map[string]int64
	failed map[string]int64
	hits   atomic.Int64
	misses atomic.Int64
}

var _ Observer = (*Counters)(nil)

// AWSCall implements Observer.
func (c *Counters) AWSCall(api, _, reason string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int64{}
		c.failed = map[string]int64{}
	}
	c.calls[api]++
	if reason != "" {
		c.failed[api]++
	}
}

// Cache implements Observer.
func (c *Counters) Cache(hit bool) {
	if hit {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
}

// Calls returns the number of operations of one API, or of all APIs when api is "".
func (c *Counters) Calls(api string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if api != "" {
		return c.calls[api]
	}
	var n int64
	for _, v := range c.calls {
		n += v
	}
	return n
}

// Failed returns the number of failed operations of one API ("" for all).
func (c *Counters) Failed(api string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if api != "" {
		return c.failed[api]
	}
	var n int64
	for _, v := range c.failed {
		n += v
	}
	return n
}

// Hits and Misses return the cache counts.
func (c *Counters) Hits() int64 { return c.hits.Load() }

// Misses returns how many refs were read from AWS with the cache enabled.
func (c *Counters) Misses() int64 { return c.misses.Load() }

// Reset zeroes every count.
func (c *Counters) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.failed = nil, nil
	c.hits.Store(0)
	c.misses.Store(0)
}

type nopObserver struct{}

func (nopObserver) AWSCall(string, string, string, time.Duration) {}
func (nopObserver) Cache(bool)                                    {}
