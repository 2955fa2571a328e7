package objcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

var saResource = schema.GroupResource{Resource: "serviceaccounts"}

// fakeAPI is an API server of ServiceAccounts that honours the field
// selector on metadata.name, counts requests and can be taken down.
type fakeAPI struct {
	mu      sync.Mutex
	objs    map[string]*corev1.ServiceAccount
	rv      int
	watches []*fakeWatch
	down    error
	denied  error // list and watch only (RBAC without list, watch)

	gets, lists, watchCalls atomic.Int32
}

type fakeWatch struct {
	namespace string
	sel       fields.Selector
	w         *watch.RaceFreeFakeWatcher
}

func newFakeAPI() *fakeAPI { return &fakeAPI{objs: map[string]*corev1.ServiceAccount{}} }

// noWatchList says the fake does not stream lists, as client-go's fakes do.
type noWatchList struct{}

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

func (f *fakeAPI) source() Source[*corev1.ServiceAccount] {
	return Source[*corev1.ServiceAccount]{
		Resource: saResource,
		Get: func(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
			f.gets.Add(1)
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.down != nil {
				return nil, f.down
			}
			sa, ok := f.objs[ns+"/"+name]
			if !ok {
				return nil, apierrors.NewNotFound(saResource, name)
			}
			return sa.DeepCopy(), nil
		},
		List: func(_ context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			f.lists.Add(1)
			sel, err := fields.ParseSelector(o.FieldSelector)
			if err != nil {
				return nil, err
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if err := f.refusal(); err != nil {
				return nil, err
			}
			l := &corev1.ServiceAccountList{ListMeta: metav1.ListMeta{ResourceVersion: fmt.Sprint(f.rv)}}
			for _, sa := range f.objs {
				if sa.Namespace == ns && sel.Matches(fields.Set{"metadata.name": sa.Name}) {
					l.Items = append(l.Items, *sa.DeepCopy())
				}
			}
			return l, nil
		},
		Watch: func(_ context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
			f.watchCalls.Add(1)
			sel, err := fields.ParseSelector(o.FieldSelector)
			if err != nil {
				return nil, err
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if err := f.refusal(); err != nil {
				return nil, err
			}
			w := &fakeWatch{namespace: ns, sel: sel, w: watch.NewRaceFreeFake()}
			f.watches = append(f.watches, w)
			return w.w, nil
		},
		Client:  noWatchList{},
		Example: &corev1.ServiceAccount{},
	}
}

// put creates or updates ns/name with annotations and tells the watches.
func (f *fakeAPI) put(ns, name string, ann map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	_, existed := f.objs[ns+"/"+name]
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann, ResourceVersion: fmt.Sprint(f.rv)}}
	f.objs[ns+"/"+name] = sa
	ev := watch.Added
	if existed {
		ev = watch.Modified
	}
	f.send(ev, sa)
}

func (f *fakeAPI) remove(ns, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sa, ok := f.objs[ns+"/"+name]
	if !ok {
		return
	}
	f.rv++
	delete(f.objs, ns+"/"+name)
	sa = sa.DeepCopy()
	sa.ResourceVersion = fmt.Sprint(f.rv)
	f.send(watch.Deleted, sa)
}

// send delivers an event to the open watches that select sa. f.mu held.
func (f *fakeAPI) send(ev watch.EventType, sa *corev1.ServiceAccount) {
	for _, w := range f.watches {
		if w.namespace == sa.Namespace && w.sel.Matches(fields.Set{"metadata.name": sa.Name}) {
			w.w.Action(ev, sa.DeepCopy())
		}
	}
}

// openWatches is the watches their client has not stopped.
func (f *fakeAPI) openWatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.watches {
		if !w.w.IsStopped() {
			n++
		}
	}
	return n
}

// refusal is the error list and watch calls fail with now (nil: none). f.mu held.
func (f *fakeAPI) refusal() error {
	if f.down != nil {
		return f.down
	}
	return f.denied
}

// denyWatches makes list and watch calls fail with err and ends the open
// watches (their clients list and watch again).
func (f *fakeAPI) denyWatches(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied = err
	for _, w := range f.watches {
		w.w.Stop()
	}
}

func (f *fakeAPI) setDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

// eventually polls cond for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func annotation(t *testing.T, c *Cache[*corev1.ServiceAccount], ns, name string) string {
	t.Helper()
	sa, err := c.Get(context.Background(), ns, name)
	if err != nil {
		t.Fatalf("get %s/%s: %v", ns, name, err)
	}
	return sa.Annotations["role"]
}

// quiet is a context whose logger drops the watches' logs (without one
// they go to klog's stderr).
func quiet() context.Context { return logr.NewContext(context.Background(), logr.Discard()) }

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestWithoutStartEveryReadIsAGET(t *testing.T) {
	api := newFakeAPI()
	api.put("ns", "a", map[string]string{"role": "r1"})
	c := New(api.source(), Options{})
	for range 3 {
		if got := annotation(t, c, "ns", "a"); got != "r1" {
			t.Fatalf("role %q", got)
		}
	}
	if _, err := c.Get(context.Background(), "ns", "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("missing: %v, want NotFound", err)
	}
	if g, l, w := api.gets.Load(), api.lists.Load(), api.watchCalls.Load(); g != 4 || l != 0 || w != 0 {
		t.Errorf("%d GETs, %d lists, %d watches; want 4 GETs and nothing else", g, l, w)
	}
	if s := c.Stats(); s.Watched != 0 || s.APIReads != 4 || s.CacheReads != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestReadsComeFromTheWatchOnceSynced(t *testing.T) {
	api := newFakeAPI()
	api.put("ns", "a", map[string]string{"role": "r1"})
	api.put("ns", "other", map[string]string{"role": "x"})
	ctx, cancel := context.WithCancel(quiet())
	defer cancel()
	c := New(api.source(), Options{})
	c.Start(ctx)

	// 1. The first read is a GET, and starts the object's watch.
	if got := annotation(t, c, "ns", "a"); got != "r1" {
		t.Fatalf("role %q", got)
	}
	if n := api.gets.Load(); n != 1 {
		t.Fatalf("%d GETs for the first read", n)
	}
	eventually(t, "the watch to list", func() bool { return c.Stats().Synced == 1 })

	// 2. Then reads cost the API server nothing.
	for range 100 {
		if got := annotation(t, c, "ns", "a"); got != "r1" {
			t.Fatalf("role %q", got)
		}
	}
	if g, l, w := api.gets.Load(), api.lists.Load(), api.watchCalls.Load(); g != 1 || l != 1 || w != 1 {
		t.Errorf("after 100 more reads: %d GETs, %d lists, %d watches; want 1 each", g, l, w)
	}

	// 3. Changes arrive through the watch; a deletion reads as NotFound of
	// the resource, a re-creation as the new object.
	api.put("ns", "a", map[string]string{"role": "r2"})
	eventually(t, "the update", func() bool { return annotation(t, c, "ns", "a") == "r2" })
	api.remove("ns", "a")
	var err error
	eventually(t, "the deletion", func() bool { _, err = c.Get(ctx, "ns", "a"); return err != nil })
	var st apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &st) || st.Status().Details.Kind != "serviceaccounts" || st.Status().Details.Name != "a" {
		t.Errorf("deleted: %v, want NotFound of serviceaccounts a", err)
	}
	api.put("ns", "a", map[string]string{"role": "r3"})
	eventually(t, "the re-creation", func() bool { sa, err := c.Get(ctx, "ns", "a"); return err == nil && sa.Annotations["role"] == "r3" })
	if g := api.gets.Load(); g != 1 {
		t.Errorf("%d GETs, want only the first", g)
	}
	s := c.Stats()
	if s.Watched != 1 || s.Synced != 1 || s.Running != 1 || s.APIReads != 1 || s.CacheReads < 100 {
		t.Errorf("stats %+v", s)
	}
}

// An object that does not exist: every read is a GET (a name that does not
// exist gets no watch, so tenants cannot make the node watch made-up names);
// once it exists, the read that finds it starts its watch.
func TestMissingObjectThenCreated(t *testing.T) {
	api := newFakeAPI()
	ctx, cancel := context.WithCancel(quiet())
	defer cancel()
	c := New(api.source(), Options{})
	c.Start(ctx)
	for range 2 {
		if _, err := c.Get(ctx, "ns", "late"); !apierrors.IsNotFound(err) {
			t.Fatalf("read of a missing object: %v, want NotFound", err)
		}
	}
	if s := c.Stats(); s.Watched != 0 || api.gets.Load() != 2 {
		t.Fatalf("after two reads of a missing object: %d watched, %d GETs; want 0 and 2", s.Watched, api.gets.Load())
	}
	api.put("ns", "late", map[string]string{"role": "r"})
	if got := annotation(t, c, "ns", "late"); got != "r" {
		t.Fatalf("role %q", got)
	}
	eventually(t, "the watch to list", func() bool { return c.Stats().Synced == 1 })
	gets := api.gets.Load()
	if got := annotation(t, c, "ns", "late"); got != "r" || api.gets.Load() != gets {
		t.Errorf("role %q, %d GETs more; want the watch's answer", got, api.gets.Load()-gets)
	}
	api.remove("ns", "late")
	eventually(t, "the deletion", func() bool { _, err := c.Get(ctx, "ns", "late"); return apierrors.IsNotFound(err) })
}

// With the API server down, a read no watch has listed fails with the GET's
// own error (and starts no watch); one whose watch has listed still answers.
func TestAPIServerDown(t *testing.T) {
	api := newFakeAPI()
	api.put("ns", "served", map[string]string{"role": "r"})
	api.put("ns", "new", map[string]string{"role": "n"})
	ctx, cancel := context.WithCancel(quiet())
	defer cancel()
	c := New(api.source(), Options{})
	c.Start(ctx)
	annotation(t, c, "ns", "served")
	eventually(t, "the watch to list", func() bool { return c.Stats().Synced == 1 })

	down := errors.New("connection refused")
	api.setDown(down)
	if _, err := c.Get(ctx, "ns", "new"); !errors.Is(err, down) {
		t.Errorf("unlisted object with the API server down: %v, want the GET's error", err)
	}
	if got := annotation(t, c, "ns", "served"); got != "r" {
		t.Errorf("listed object with the API server down: role %q", got)
	}
	if s := c.Stats(); s.Watched != 1 {
		t.Errorf("%d watched after a failed GET, want 1", s.Watched)
	}
	api.setDown(nil)
	if got := annotation(t, c, "ns", "new"); got != "n" {
		t.Errorf("role %q once the server is back", got)
	}
	eventually(t, "the second watch to list", func() bool { return c.Stats().Synced == 2 })
	gets := api.gets.Load()
	if got := annotation(t, c, "ns", "new"); got != "n" || api.gets.Load() != gets {
		t.Errorf("role %q, %d GETs more", got, api.gets.Load()-gets)
	}
}

// A watch that cannot list or watch any more (RBAC lost list and watch, get
// still works) is not trusted: reads are GETs again and see changes; the
// watch's copy answers only when the GET fails too.
func TestFailingWatchFallsBackToGets(t *testing.T) {
	api := newFakeAPI()
	api.put("ns", "sa", map[string]string{"role": "r1"})
	ctx, cancel := context.WithCancel(quiet())
	defer cancel()
	c := New(api.source(), Options{})
	c.Start(ctx)
	annotation(t, c, "ns", "sa")
	eventually(t, "the watch to list", func() bool { return c.Stats().Synced == 1 })

	api.denyWatches(apierrors.NewForbidden(saResource, "", errors.New("cannot watch serviceaccounts")))
	eventually(t, "the watch to fail", func() bool { return api.watchCalls.Load() >= 2 || api.lists.Load() >= 2 })
	api.put("ns", "sa", map[string]string{"role": "r2"}) // no watch hears it
	eventually(t, "the change, by GET", func() bool { return annotation(t, c, "ns", "sa") == "r2" })
	api.setDown(errors.New("connection refused"))
	if got := annotation(t, c, "ns", "sa"); got != "r1" {
		t.Errorf("with the GET failing too: role %q, want the watch's copy r1", got)
	}
}

func TestIdleWatchesStop(t *testing.T) {
	api := newFakeAPI()
	for _, n := range []string{"a", "b"} {
		api.put("ns", n, nil)
	}
	clk := &fakeClock{now: time.Unix(1000, 0)}
	ctx, cancel := context.WithCancel(quiet())
	defer cancel()
	c := New(api.source(), Options{Idle: time.Minute, Now: clk.Now})
	c.Start(ctx)
	annotation(t, c, "ns", "a")
	annotation(t, c, "ns", "b")
	eventually(t, "both watches", func() bool { return c.Stats().Synced == 2 && api.openWatches() == 2 })

	clk.Add(40 * time.Second)
	annotation(t, c, "ns", "a") // a is in use
	clk.Add(30 * time.Second)   // b unread for 70s, a for 30s
	c.sweep()
	if s := c.Stats(); s.Watched != 1 {
		t.Fatalf("after the sweep %d watched, want 1 (a)", s.Watched)
	}
	eventually(t, "b's watch to stop", func() bool { return c.Stats().Running == 1 && api.openWatches() == 1 })
	// b again: a GET and a new watch.
	gets := api.gets.Load()
	annotation(t, c, "ns", "b")
	if api.gets.Load() != gets+1 {
		t.Errorf("reading a stopped object again made %d GETs, want 1", api.gets.Load()-gets)
	}
	eventually(t, "b's new watch", func() bool { return c.Stats().Synced == 2 })

	// ctx done: every watch stops and reads are GETs again.
	cancel()
	eventually(t, "every watch to stop", func() bool {
		s := c.Stats()
		return s.Watched == 0 && s.Running == 0 && api.openWatches() == 0
	})
	gets = api.gets.Load()
	annotation(t, c, "ns", "a")
	if api.gets.Load() != gets+1 || c.Stats().Watched != 0 {
		t.Errorf("a read after the stop: %d GETs, %d watched; want a GET and no watch", api.gets.Load()-gets, c.Stats().Watched)
	}
}

// Past MaxObjects reads still work, as GETs, and start no watch.
func TestMaxObjects(t *testing.T) {
	api := newFakeAPI()
	for i := range 5 {
		api.put("ns", fmt.Sprint("sa-", i), map[string]string{"role": fmt.Sprint(i)})
	}
	ctx, cancel := context.WithCancel(quiet())
	defer cancel()
	c := New(api.source(), Options{MaxObjects: 2})
	c.Start(ctx)
	for round := range 3 {
		for i := range 5 {
			if got := annotation(t, c, "ns", fmt.Sprint("sa-", i)); got != fmt.Sprint(i) {
				t.Fatalf("round %d sa-%d: role %q", round, i, got)
			}
		}
		eventually(t, "two watches", func() bool { return c.Stats().Synced == 2 })
	}
	s := c.Stats()
	if s.Watched != 2 || s.Running != 2 || api.watchCalls.Load() != 2 {
		t.Errorf("stats %+v, %d watches opened; want 2 watched", s, api.watchCalls.Load())
	}
	// 2 first reads, then 3 uncached objects each round.
	if g := api.gets.Load(); g != 2+3*3 {
		t.Errorf("%d GETs, want 11", g)
	}
}

// Names a GET could not ask for are not watched: the read is the GET's.
func TestInvalidNamesAreNotWatched(t *testing.T) {
	api := newFakeAPI()
	ctx, cancel := context.WithCancel(quiet())
	defer cancel()
	c := New(api.source(), Options{})
	c.Start(ctx)
	for _, k := range [][2]string{{"ns", ""}, {"ns", "a/b"}, {"ns", ".."}, {"ns", "a%b"}, {"", "a"}} {
		_, _ = c.Get(ctx, k[0], k[1])
	}
	if s := c.Stats(); s.Watched != 0 || s.APIReads != 5 {
		t.Errorf("stats %+v, want no watch and 5 GETs", s)
	}
}

// Many readers of a few objects with sweeps in between (run with -race).
func TestConcurrentReads(t *testing.T) {
	api := newFakeAPI()
	for i := range 4 {
		api.put("ns", fmt.Sprint("sa-", i), map[string]string{"role": fmt.Sprint(i)})
	}
	clk := &fakeClock{now: time.Unix(1000, 0)}
	ctx, cancel := context.WithCancel(quiet())
	c := New(api.source(), Options{Idle: time.Second, Now: clk.Now})
	c.Start(ctx)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprint("sa-", (g+i)%4)
				sa, err := c.Get(ctx, "ns", name)
				if err != nil || sa.Name != name {
					t.Errorf("%s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			clk.Add(2 * time.Second)
			c.sweep()
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	cancel()
	eventually(t, "every watch to stop", func() bool {
		s := c.Stats()
		return s.Watched == 0 && s.Running == 0 && api.openWatches() == 0
	})
}
