package kube

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// The recorder's bounds. The queue, the burst and the refill are client-go's
// (tools/record): a recorder that posts the Events of every pod on a node
// must neither block its caller nor flood the API server when a whole node's
// mounts fail at once.
const (
	// eventQueue is how many Events wait for the poster; more are dropped.
	eventQueue = 1000
	// eventBurst Events about one object may be posted at once, then one
	// more per eventRefill.
	eventBurst  = 25
	eventRefill = 5 * time.Minute
	// eventKeys bounds the series (repeats of one Event, posted as a count)
	// and the objects' budgets that the recorder remembers: the least recently
	// seen are forgotten first.
	eventKeys = 4096
	// maxEventMessage is the longest message posted (events.k8s.io's limit
	// for a note); a longer one is cut at a character boundary.
	maxEventMessage = 1024
	// eventCallTimeout bounds each call to the API server, and eventAttempts
	// how often a call that failed for a reason that may pass is made.
	eventCallTimeout = 10 * time.Second
	eventAttempts    = 3
)

// EventRecorder posts core/v1 Events about objects (RBAC: create and patch
// events) in their object's namespace, as component on host. Event never
// blocks: one goroutine posts. A repeat of an Event (same object, type,
// reason and message) patches the first one's count and last time instead of
// posting another, and each object may have eventBurst Events posted at once
// and one more every five minutes; what the queue or a budget cannot take is
// dropped and counted (Dropped). It links none of client-go's tools/record
// (its strategic merge patch and OpenAPI models: 2.8 MB of the mounter).
type EventRecorder struct {
	api    eventAPI
	source corev1.EventSource
	now    func() time.Time

	queue   chan *corev1.Event
	ctx     context.Context // done once stopped: the poster returns, a call in flight is cancelled
	cancel  context.CancelFunc
	done    chan struct{}
	dropped atomic.Int64

	// The poster's own state (one goroutine).
	series  *lru[eventSeries]
	budgets *lru[*rate.Limiter]                        // by object
	wait    func(ctx context.Context, d time.Duration) // between attempts
}

// eventAPI is what the recorder needs of the API server.
type eventAPI interface {
	create(ctx context.Context, e *corev1.Event) error
	patch(ctx context.Context, namespace, name string, patch []byte) error
}

// eventSeries is a posted Event and how often it has been seen.
type eventSeries struct {
	name  string
	count int32
}

// NewEventRecorder returns a recorder posting through c; stop ends its
// poster (what is still queued is dropped) and waits for it.
func (c *Core) NewEventRecorder(component, host string) (rec *EventRecorder, stop func()) {
	r := newEventRecorder(coreEvents{c}, corev1.EventSource{Component: component, Host: host}, time.Now)
	go r.run()
	return r, r.stop
}

func newEventRecorder(api eventAPI, source corev1.EventSource, now func() time.Time) *EventRecorder {
	ctx, cancel := context.WithCancel(context.Background())
	return &EventRecorder{
		api: api, source: source, now: now,
		queue: make(chan *corev1.Event, eventQueue), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		series: newLRU[eventSeries](eventKeys), budgets: newLRU[*rate.Limiter](eventKeys),
		wait: func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		},
	}
}

// Event records an Event about object, which must be an
// *corev1.ObjectReference (others are dropped); it returns at once. The
// signature is client-go's record.EventRecorder's, so its FakeRecorder stands
// in for tests.
func (r *EventRecorder) Event(object runtime.Object, eventtype, reason, message string) {
	ref, ok := object.(*corev1.ObjectReference)
	if !ok || ref == nil || ref.Namespace == "" || ref.Name == "" {
		r.dropped.Add(1)
		return
	}
	t := metav1.NewTime(r.now())
	e := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: ref.Namespace},
		InvolvedObject:      *ref,
		Type:                eventtype,
		Reason:              reason,
		Message:             truncate(message, maxEventMessage),
		Source:              r.source,
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		ReportingController: r.source.Component,
		ReportingInstance:   r.source.Host,
	}
	if r.ctx.Err() != nil {
		r.dropped.Add(1)
		return
	}
	select {
	case r.queue <- e:
	default:
		r.dropped.Add(1)
	}
}

// Dropped is how many Events were not posted: the queue was full, the
// object's budget spent, the call failed or the object was not a reference.
func (r *EventRecorder) Dropped() int64 { return r.dropped.Load() }

func (r *EventRecorder) stop() {
	r.cancel()
	<-r.done
}

func (r *EventRecorder) run() {
	defer close(r.done)
	for {
		select {
		case <-r.ctx.Done():
			return
		case e := <-r.queue:
			if !r.post(r.ctx, e) {
				r.dropped.Add(1)
			}
		}
	}
}

// post posts e, or a patch of its series; false when it was not.
func (r *EventRecorder) post(ctx context.Context, e *corev1.Event) bool {
	obj := e.InvolvedObject
	objKey := fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s", obj.Namespace, obj.Kind, obj.Name, obj.UID, obj.FieldPath)
	if !r.spend(objKey, e.LastTimestamp.Time) {
		return false
	}
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%s", objKey, e.Type, e.Reason, e.Message)
	if s, ok := r.series.get(key); ok {
		s.count++
		patch, err := json.Marshal(map[string]any{"count": s.count, "lastTimestamp": e.LastTimestamp, "message": e.Message})
		if err != nil {
			return false
		}
		err = r.call(ctx, func(ctx context.Context) error { return r.api.patch(ctx, e.Namespace, s.name, patch) })
		if err == nil {
			r.series.put(key, s)
			return true
		}
		if !apierrors.IsNotFound(err) { // an Event expires (the API server's --event-ttl): post it anew
			return false
		}
		r.series.remove(key)
	}
	// client-go's naming: the object's name and a unique suffix.
	e.Name = fmt.Sprintf("%s.%x", obj.Name, e.LastTimestamp.UnixNano())
	if err := r.call(ctx, func(ctx context.Context) error { return r.api.create(ctx, e) }); err != nil {
		return false
	}
	r.series.put(key, eventSeries{name: e.Name, count: 1})
	return true
}

// spend takes one token of the object's budget at now.
func (r *EventRecorder) spend(objKey string, now time.Time) bool {
	lim, ok := r.budgets.get(objKey)
	if !ok {
		lim = rate.NewLimiter(rate.Every(eventRefill), eventBurst)
		r.budgets.put(objKey, lim)
	}
	return lim.AllowN(now, 1)
}

// call makes f up to eventAttempts times while it fails for a reason that may
// pass (the API server unreachable, overloaded or timing out), each bounded by
// eventCallTimeout.
func (r *EventRecorder) call(ctx context.Context, f func(context.Context) error) error {
	var err error
	for i := range eventAttempts {
		if i > 0 {
			r.wait(ctx, time.Duration(i)*time.Second)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cctx, cancel := context.WithTimeout(ctx, eventCallTimeout)
		err = f(cctx)
		cancel()
		if err == nil || !retriable(err) {
			return err
		}
	}
	return err
}

// retriable is an error another attempt may not meet: not an answer about
// the request itself (invalid, forbidden, not found, already exists).
func retriable(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return true // the transport: refused, reset, timed out
	}
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err)
}

// truncate cuts s to at most n bytes at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// coreEvents is eventAPI over Core.
type coreEvents struct{ c *Core }

func (a coreEvents) create(ctx context.Context, e *corev1.Event) error {
	return a.c.rest.Post().Namespace(e.Namespace).Resource("events").Body(e).Do(ctx).Error()
}

func (a coreEvents) patch(ctx context.Context, namespace, name string, patch []byte) error {
	return a.c.rest.Patch(types.MergePatchType).Namespace(namespace).Resource("events").Name(name).
		Body(patch).Do(ctx).Error()
}

// lru is a map of at most max entries that forgets the least recently used.
type lru[V any] struct {
	max   int
	order *list.List // of *lruEntry[V], most recent first
	byKey map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](maxEntries int) *lru[V] {
	return &lru[V]{max: maxEntries, order: list.New(), byKey: map[string]*list.Element{}}
}

func (l *lru[V]) get(key string) (V, bool) {
	el, ok := l.byKey[key]
	if !ok {
		var zero V
		return zero, false
	}
	l.order.MoveToFront(el)
	return el.Value.(*lruEntry[V]).val, true
}

func (l *lru[V]) put(key string, v V) {
	if el, ok := l.byKey[key]; ok {
		el.Value.(*lruEntry[V]).val = v
		l.order.MoveToFront(el)
		return
	}
	l.byKey[key] = l.order.PushFront(&lruEntry[V]{key: key, val: v})
	for l.order.Len() > l.max {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.byKey, last.Value.(*lruEntry[V]).key)
	}
}

func (l *lru[V]) remove(key string) {
	if el, ok := l.byKey[key]; ok {
		l.order.Remove(el)
		delete(l.byKey, key)
	}
}
