package awsfetch

import (
	"sync"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// cacheKey scopes a value to an identity and a region: an identity never sees
// another identity's entries, even for the same secret.
type cacheKey struct {
	id, region string
	ref        spc.Ref
}

type cacheEntry struct {
	val     secrets.Fetched
	expires time.Time // served as a hit until then
	keep    time.Time // kept until then as a value to revalidate (keep >= expires)
}

// flight is a read in progress; waiters block on done, then read out.
type flight struct {
	done chan struct{}
	out  outcome
}

// cache holds successful reads for a TTL and shares concurrent identical reads.
// Failures are shared with the reads waiting at that moment, never stored.
type cache struct {
	ttl        time.Duration
	keepFor    time.Duration // how long past a read an entry may be revalidated (0: not kept past ttl)
	maxEntries int
	now        func() time.Time

	mu       sync.Mutex
	entries  map[cacheKey]cacheEntry
	inflight map[cacheKey]*flight
}

func newCache(ttl, keepFor time.Duration, maxEntries int, now func() time.Time) *cache {
	return &cache{ttl: ttl, keepFor: max(keepFor, ttl), maxEntries: maxEntries, now: now,
		entries: map[cacheKey]cacheEntry{}, inflight: map[cacheKey]*flight{}}
}

// claim sorts refs into fresh hits, reads in flight to wait for, and reads the
// caller now owns (it must finish each of them). With maxAge > 0 an entry
// read longer ago than maxAge is no hit, even before it expires: it is read
// again (and the new read replaces it). A read in flight began after the
// call, so it is always fresh enough. For an owned ref whose entry is no hit
// but still kept (keepFor), prev holds that entry's value: the caller may
// revalidate it instead of reading it anew; an owned ref whose entry was past
// keeping is in again (a re-read, not a first read).
func (c *cache) claim(id, region string, refs []spc.Ref, maxAge time.Duration) (hits map[spc.Ref]secrets.Fetched, waits, own map[spc.Ref]*flight, prev map[spc.Ref]secrets.Fetched, again map[spc.Ref]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	hits, waits, own = map[spc.Ref]secrets.Fetched{}, map[spc.Ref]*flight{}, map[spc.Ref]*flight{}
	for _, ref := range refs {
		k := cacheKey{id: id, region: region, ref: ref}
		var old *secrets.Fetched
		reread := false
		if e, ok := c.entries[k]; ok {
			if now.Before(e.expires) && (maxAge <= 0 || now.Sub(e.val.ReadAt) < maxAge) {
				hits[ref] = e.val
				continue
			}
			if now.Before(e.keep) {
				old = &e.val
			} else {
				delete(c.entries, k)
				reread = true
			}
		}
		if fl, ok := c.inflight[k]; ok {
			waits[ref] = fl
			continue
		}
		fl := &flight{done: make(chan struct{})}
		c.inflight[k] = fl
		own[ref] = fl
		switch {
		case old != nil:
			if prev == nil {
				prev = map[spc.Ref]secrets.Fetched{}
			}
			prev[ref] = *old
		case reread:
			if again == nil {
				again = map[spc.Ref]bool{}
			}
			again[ref] = true
		}
	}
	return hits, waits, own, prev, again
}

// finish publishes the outcome of an owned read and stores it when it succeeded.
func (c *cache) finish(k cacheKey, fl *flight, oc outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fl.out = oc
	close(fl.done)
	delete(c.inflight, k)
	if oc.err != nil {
		return
	}
	now := c.now()
	if _, replaces := c.entries[k]; !replaces && len(c.entries) >= c.maxEntries {
		for ek, e := range c.entries {
			if !now.Before(e.keep) {
				delete(c.entries, ek)
			}
		}
		// Still full: drop arbitrary entries (map order) to make room.
		for ek := range c.entries {
			if len(c.entries) < c.maxEntries {
				break
			}
			delete(c.entries, ek)
		}
	}
	e := cacheEntry{val: oc.val, expires: now.Add(c.ttl), keep: now.Add(c.keepFor)}
	if oc.revalidated {
		// A version check does not renew the window: the value is read from
		// AWS again once it ends (a real read checks today's permissions).
		e.keep = e.expires
		if old, ok := c.entries[k]; ok && old.keep.After(e.keep) {
			e.keep = old.keep
		}
	}
	c.entries[k] = e
}
