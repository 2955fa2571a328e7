// Package objcache keeps the API objects a node reads again and again (the
// SecretProviderClass and ServiceAccount of every volume it serves, on each
// refresh) current through one watch per object, the way the kubelet watches
// the Secrets and ConfigMaps of its own pods: the API server's load then
// grows with the objects a node uses, not with how often it reads them.
//
// A Cache answers a read of namespace/name from that object's watch once the
// watch has listed it (absent: NotFound); before that, and for what it does
// not cache, it reads with one GET, so a first read behaves exactly as an
// uncached one. A watch whose object has not been read for Options.Idle is
// stopped, and at most Options.MaxObjects are watched at once: the tenants
// who name the objects cannot make the node hold more.
package objcache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Defaults of Options.
const (
	// DefaultIdle is several of the mounter's default refresh intervals (2m):
	// a volume's refresh keeps its objects' watches alive.
	DefaultIdle = 10 * time.Minute
	// DefaultMaxObjects bounds the watches of one resource on one node: many
	// more than the distinct classes and ServiceAccounts of a node's pods
	// (110 pods by default, 250 on the largest EKS nodes), few enough that
	// the copies of tenant-made objects cannot exhaust the mounter's memory.
	DefaultMaxObjects = 1000
)

// Source is how a Cache reads one resource of the API server.
type Source[T runtime.Object] struct {
	// Resource names the resource in the NotFound errors of cached reads.
	Resource schema.GroupResource
	// Get reads namespace/name directly (one GET).
	Get func(ctx context.Context, namespace, name string) (T, error)
	// List and Watch list and watch the objects of namespace with opts; the
	// Cache sets opts.FieldSelector to the one name it watches.
	List  func(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error)
	Watch func(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error)
	// Client is the client behind List and Watch, asked whether it supports
	// streaming lists (client-go's fake clients say they do not).
	Client any
	// Example is an object of the type List and Watch deliver; an
	// Unstructured needs its apiVersion and kind.
	Example T
}

// Options tune a Cache; the zero value takes the defaults.
type Options struct {
	// Idle is how long an object may go unread before its watch is stopped
	// (default DefaultIdle).
	Idle time.Duration
	// MaxObjects bounds the objects watched at once; reads of others are
	// GETs (default DefaultMaxObjects).
	MaxObjects int
	// Now is the clock of read times (default time.Now).
	Now func() time.Time
}

// Stats are a Cache's figures.
type Stats struct {
	// Watched is the objects with a watch; Synced those of them listed at
	// least once, whose reads the watch answers.
	Watched, Synced int
	// Running is the watches not yet returned (stopped ones finish shortly
	// after they leave Watched).
	Running int
	// CacheReads and APIReads count the reads answered by a watch and by a GET.
	CacheReads, APIReads uint64
}

// Cache is a per-object watch cache of one resource. Its methods are safe for
// concurrent use.
type Cache[T runtime.Object] struct {
	src Source[T]
	o   Options

	mu      sync.Mutex
	ctx     context.Context // Start's; nil before
	log     logr.Logger
	entries map[key]*entry
	full    bool // the last start was refused for MaxObjects (logged once)

	running              atomic.Int64
	cacheReads, apiReads atomic.Uint64
}

type key struct{ namespace, name string }

// entry is one object's watch.
type entry struct {
	store    *syncStore
	stop     context.CancelFunc
	lastRead time.Time // under Cache.mu
}

// New returns a Cache that reads with GETs until Start.
func New[T runtime.Object](src Source[T], o Options) *Cache[T] {
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.MaxObjects <= 0 {
		o.MaxObjects = DefaultMaxObjects
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache[T]{src: src, o: o, entries: map[key]*entry{}}
}

// Start enables the watches until ctx is done (the watches log with ctx's
// logger), and stops idle ones. Then every watch stops and reads are GETs
// again. A second Start does nothing.
func (c *Cache[T]) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx != nil {
		return
	}
	c.ctx, c.log = ctx, logr.FromContextOrDiscard(ctx)
	go c.janitor(ctx)
}

// Get returns namespace/name: from its watch once that has listed it (a
// missing object is an error for which apierrors.IsNotFound holds), else
// with one GET, starting the watch for the next read when the GET found the
// object (a name that does not exist gets no watch). While a listed watch is
// failing (its list or watch calls fail, e.g. RBAC revoked or the API server
// down), a read is a GET again and the watch's copy answers only when that
// GET fails too. The object is shared: callers must not change it.
func (c *Cache[T]) Get(ctx context.Context, namespace, name string) (T, error) {
	e := c.lookup(namespace, name)
	listed := e != nil && e.store.synced.Load()
	if listed && e.store.healthy.Load() {
		if obj, err, ok := c.fromStore(e, namespace, name); ok {
			return obj, err
		}
	}
	c.apiReads.Add(1)
	obj, err := c.src.Get(ctx, namespace, name)
	switch {
	case err == nil:
		if e == nil {
			c.ensure(namespace, name)
		}
	case listed && !apierrors.IsNotFound(err):
		// The GET failed (the API server down): the watch's copy, if any.
		if cached, cerr, ok := c.fromStore(e, namespace, name); ok {
			return cached, cerr
		}
	}
	return obj, err
}

// fromStore answers a read from e's store: the object, or NotFound when the
// store lacks it; ok false when the store cannot answer (never with a
// reflector's store).
func (c *Cache[T]) fromStore(e *entry, namespace, name string) (T, error, bool) {
	obj, exists, err := e.store.GetByKey(storeKey(namespace, name))
	var zero T
	if err != nil {
		return zero, nil, false
	}
	if !exists {
		c.cacheReads.Add(1)
		return zero, apierrors.NewNotFound(c.src.Resource, name), true
	}
	t, ok := obj.(T)
	if !ok {
		return zero, nil, false
	}
	c.cacheReads.Add(1)
	return t, nil, true
}

// Stats returns the figures of the moment.
func (c *Cache[T]) Stats() Stats {
	c.mu.Lock()
	s := Stats{Watched: len(c.entries)}
	for _, e := range c.entries {
		if e.store.synced.Load() {
			s.Synced++
		}
	}
	c.mu.Unlock()
	s.Running = int(c.running.Load())
	s.CacheReads, s.APIReads = c.cacheReads.Load(), c.apiReads.Load()
	return s
}

// lookup returns the watch of namespace/name, recording the read; nil when
// there is none (or the cache is not started).
func (c *Cache[T]) lookup(namespace, name string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil || c.ctx.Err() != nil {
		return nil
	}
	e := c.entries[key{namespace, name}]
	if e != nil {
		e.lastRead = c.o.Now()
	}
	return e
}

// ensure starts the watch of namespace/name when there is none and the cache
// may hold one more. A name no GET could ask for is never watched (the
// resources are namespaced).
func (c *Cache[T]) ensure(namespace, name string) {
	if !validSegment(namespace) || !validSegment(name) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil || c.ctx.Err() != nil {
		return
	}
	k := key{namespace, name}
	if e := c.entries[k]; e != nil {
		e.lastRead = c.o.Now()
		return
	}
	if len(c.entries) >= c.o.MaxObjects {
		if !c.full {
			c.log.Info("watching the most objects allowed: reads of more are GETs", "resource", c.src.Resource.String(), "max", c.o.MaxObjects)
		}
		c.full = true
		return
	}
	c.full = false
	e := c.start(k)
	e.lastRead = c.o.Now()
	c.entries[k] = e
}

// start runs a reflector over the one object k (a list and watch with the
// field selector metadata.name=<name> in its namespace) into a new store.
// Called with c.mu held.
func (c *Cache[T]) start(k key) *entry {
	ctx, stop := context.WithCancel(c.ctx)
	e := &entry{store: &syncStore{Store: cache.NewStore(cache.MetaNamespaceKeyFunc)}, stop: stop}
	sel := fields.OneTermEqualSelector("metadata.name", k.name).String()
	// A failing list or watch call, or an error event, makes the copy
	// suspect until a watch is running again (healthy).
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			obj, err := c.src.List(ctx, k.namespace, o)
			if err != nil {
				e.store.healthy.Store(false)
			}
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			w, err := c.src.Watch(ctx, k.namespace, o)
			if err != nil {
				e.store.healthy.Store(false)
				return nil, err
			}
			e.store.healthy.Store(true)
			return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
				if ev.Type == watch.Error {
					e.store.healthy.Store(false)
				}
				return ev, true
			}), nil
		},
	}
	log := c.log
	r := cache.NewReflectorWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, c.src.Client), c.src.Example, e.store,
		cache.ReflectorOptions{Name: c.src.Resource.String() + " " + storeKey(k.namespace, k.name), Logger: &log})
	c.running.Add(1)
	go func() {
		defer c.running.Add(-1)
		r.RunWithContext(ctx)
	}()
	return e
}

// janitor stops the watches of objects not read for o.Idle, and every watch
// when ctx is done.
func (c *Cache[T]) janitor(ctx context.Context) {
	t := time.NewTicker(max(c.o.Idle/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.stopAll()
			return
		case <-t.C:
			c.sweep()
		}
	}
}

// sweep stops the watches of objects last read o.Idle ago or more.
func (c *Cache[T]) sweep() {
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if now.Sub(e.lastRead) >= c.o.Idle {
			e.stop()
			delete(c.entries, k)
		}
	}
}

func (c *Cache[T]) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		e.stop()
		delete(c.entries, k)
	}
}

func validSegment(s string) bool { return s != "" && len(content.IsPathSegmentName(s)) == 0 }

// storeKey is cache.MetaNamespaceKeyFunc's key of namespace/name.
func storeKey(namespace, name string) string { return namespace + "/" + name }

// syncStore is a store that knows when its reflector first listed
// (Replace, synced), whether its list and watch calls are working (healthy),
// and keeps its objects without their managedFields (which nobody here reads
// and which can be most of an object's size).
type syncStore struct {
	cache.Store
	synced, healthy atomic.Bool
}

// Add implements cache.ReflectorStore.
func (s *syncStore) Add(obj any) error { return s.Store.Add(trim(obj)) }

// Update implements cache.ReflectorStore.
func (s *syncStore) Update(obj any) error { return s.Store.Update(trim(obj)) }

// Replace implements cache.ReflectorStore.
func (s *syncStore) Replace(items []any, resourceVersion string) error {
	for i := range items {
		items[i] = trim(items[i])
	}
	if err := s.Store.Replace(items, resourceVersion); err != nil {
		return err
	}
	s.healthy.Store(true)
	s.synced.Store(true)
	return nil
}

// trim drops obj's managedFields (the reflector's decoded copy is the
// store's own).
func trim(obj any) any {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj
}
