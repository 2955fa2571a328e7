package kube

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// eventStore is an eventAPI keeping Events by name; gone names answer
// NotFound, and block holds every call until it is closed.
type eventStore struct {
	mu      sync.Mutex
	events  map[string]*corev1.Event
	patches int
	block   chan struct{}
	fail    error
}

func newEventStore() *eventStore { return &eventStore{events: map[string]*corev1.Event{}} }

func (s *eventStore) create(ctx context.Context, e *corev1.Event) error {
	s.hold(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	c := e.DeepCopy()
	s.events[e.Name] = c
	return nil
}

func (s *eventStore) patch(ctx context.Context, _, name string, patch []byte) error {
	s.hold(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.events[name]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "events"}, name)
	}
	s.patches++
	return json.Unmarshal(patch, e)
}

func (s *eventStore) hold(ctx context.Context) {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
		}
	}
}

func (s *eventStore) snapshot() []corev1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []corev1.Event
	for _, e := range s.events {
		out = append(out, *e)
	}
	return out
}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func pod(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "team-a", Name: name, UID: types.UID("uid-" + name)}
}

// postAll posts what is queued, in the test's goroutine.
func postAll(r *EventRecorder) {
	for {
		select {
		case e := <-r.queue:
			if !r.post(context.Background(), e) {
				r.dropped.Add(1)
			}
		default:
			return
		}
	}
}

func TestEventRepeatsPatchOneSeries(t *testing.T) {
	s := newEventStore()
	clk := &testClock{t: time.Unix(1e9, 0)}
	r := newEventRecorder(s, corev1.EventSource{Component: "mounter", Host: "node-1"}, clk.Now)
	for range 3 {
		r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "no such secret")
		clk.Add(time.Second)
		postAll(r)
	}
	r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "access denied")
	postAll(r)
	evs := s.snapshot()
	if len(evs) != 2 {
		t.Fatalf("%d Events, want 2 (a series of 3 and another message): %+v", len(evs), evs)
	}
	var series *corev1.Event
	for i := range evs {
		if evs[i].Message == "no such secret" {
			series = &evs[i]
		}
	}
	if series == nil || series.Count != 3 || s.patches != 2 {
		t.Fatalf("series %+v, %d patches; want count 3 from 2 patches", series, s.patches)
	}
	if !series.LastTimestamp.After(series.FirstTimestamp.Time) {
		t.Errorf("last %v not after first %v", series.LastTimestamp, series.FirstTimestamp)
	}
	if series.Source.Host != "node-1" || series.InvolvedObject.UID != "uid-web" || series.Namespace != "team-a" {
		t.Errorf("event fields: %+v", series)
	}
}

func TestEventSeriesExpiredIsPostedAnew(t *testing.T) {
	s := newEventStore()
	clk := &testClock{t: time.Unix(1e9, 0)}
	r := newEventRecorder(s, corev1.EventSource{Component: "mounter"}, clk.Now)
	r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "m")
	postAll(r)
	s.mu.Lock()
	clear(s.events) // the API server's event TTL
	s.mu.Unlock()
	clk.Add(time.Second)
	r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "m")
	postAll(r)
	if evs := s.snapshot(); len(evs) != 1 || evs[0].Count != 1 || r.Dropped() != 0 {
		t.Fatalf("after expiry: %+v, dropped %d; want one new Event", evs, r.Dropped())
	}
}

func TestEventBudgetPerObject(t *testing.T) {
	s := newEventStore()
	clk := &testClock{t: time.Unix(1e9, 0)}
	r := newEventRecorder(s, corev1.EventSource{Component: "mounter"}, clk.Now)
	for i := range eventBurst + 10 {
		r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", strings.Repeat("x", i+1))
		clk.Add(time.Millisecond)
	}
	r.Event(pod("other"), corev1.EventTypeWarning, "FailedMount", "m")
	postAll(r)
	if n := len(s.snapshot()); n != eventBurst+1 {
		t.Fatalf("%d Events posted, want %d (the burst of one pod, and the other pod's)", n, eventBurst+1)
	}
	if r.Dropped() != 10 {
		t.Errorf("dropped %d, want 10", r.Dropped())
	}
	clk.Add(eventRefill)
	r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "after a refill")
	postAll(r)
	if n := len(s.snapshot()); n != eventBurst+2 {
		t.Errorf("%d Events after a refill, want %d", n, eventBurst+2)
	}
}

func TestEventNeverBlocks(t *testing.T) {
	s := newEventStore()
	s.block = make(chan struct{})
	r := newEventRecorder(s, corev1.EventSource{Component: "mounter"}, time.Now)
	go r.run()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range eventQueue + 50 {
			r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", strings.Repeat("y", i%7))
		}
		r.Event(&corev1.ObjectReference{Name: "no-namespace"}, corev1.EventTypeWarning, "R", "m")
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Event blocked while the API server hangs")
	}
	if d := r.Dropped(); d < 50 {
		t.Errorf("dropped %d with a full queue, want at least 50", d)
	}
	r.stop() // cancels the hung call
	r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "after stop")
}

func TestEventRetriesTransientFailures(t *testing.T) {
	s := newEventStore()
	s.fail = apierrors.NewServiceUnavailable("down")
	r := newEventRecorder(s, corev1.EventSource{Component: "mounter"}, time.Now)
	var waits int
	r.wait = func(context.Context, time.Duration) { waits++ }
	r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "m")
	postAll(r)
	if waits != eventAttempts-1 || r.Dropped() != 1 {
		t.Errorf("waits %d, dropped %d; want %d attempts, then dropped", waits, r.Dropped(), eventAttempts)
	}
	s.fail = apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", nil)
	waits = 0
	r.Event(pod("web"), corev1.EventTypeWarning, "FailedMount", "m2")
	postAll(r)
	if waits != 0 {
		t.Errorf("a forbidden call was retried %d times", waits)
	}
}

func TestTruncateAtCharacterBoundary(t *testing.T) {
	s := strings.Repeat("é", 600) // 2 bytes each
	got := truncate(s, maxEventMessage)
	if len(got) != maxEventMessage || !strings.HasPrefix(s, got) {
		t.Fatalf("len %d", len(got))
	}
	if got := truncate("a"+s, 4); got != "aé" {
		t.Errorf("truncate = %q, want %q", got, "aé")
	}
}
