//go:build integration

package mounter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// apiCounter counts the requests of the clients whose rest.Config it wraps,
// by verb (GET, LIST, WATCH, or the method) and resource, and the watches
// whose response is still open.
type apiCounter struct {
	mu    sync.Mutex
	reqs  []string // "VERB resource path?query"
	watch atomic.Int64
}

func (c *apiCounter) wrap(rt http.RoundTripper) http.RoundTripper { return &countingRT{c: c, next: rt} }

type countingRT struct {
	c    *apiCounter
	next http.RoundTripper
}

func (r *countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	verb, res := classify(req)
	r.c.mu.Lock()
	r.c.reqs = append(r.c.reqs, verb+" "+res+" "+req.URL.Path+"?"+req.URL.RawQuery)
	r.c.mu.Unlock()
	resp, err := r.next.RoundTrip(req)
	if err == nil && verb == "WATCH" {
		r.c.watch.Add(1)
		resp.Body = &watchBody{ReadCloser: resp.Body, done: func() { r.c.watch.Add(-1) }}
	}
	return resp, err
}

// watchBody tells when a watch's response is closed.
type watchBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *watchBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

// classify names a request's verb and resource: GET of an object, LIST or
// WATCH of a collection (the watch=true query), else the method.
func classify(req *http.Request) (verb, resource string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	i := slices.IndexFunc(parts, func(p string) bool { return p == "secretproviderclasses" || p == "serviceaccounts" })
	if i < 0 {
		return req.Method, "other"
	}
	resource = parts[i]
	switch {
	case req.Method != http.MethodGet:
		return req.Method, resource
	case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
		return "WATCH", resource
	case i == len(parts)-1:
		return "LIST", resource
	}
	return "GET", resource
}

// counts returns the requests so far by "VERB resource", and all of them.
func (c *apiCounter) counts() (map[string]int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for _, r := range c.reqs {
		f := strings.Fields(r)
		m[f[0]+" "+f[1]]++
	}
	return m, slices.Clone(c.reqs)
}

// TestIntegrationKubeReadsIndependentOfRefreshes: the mounter's KubeCluster
// with its caches on a real API server. N volumes of a few classes and
// ServiceAccounts are published, then refreshed M times: the requests the
// mounter sends after the first round do not grow with M (no GET, list or
// watch per refresh), changes of a class and of a ServiceAccount's
// annotation reach later reads through the watches, a deleted class reads as
// NotFound, and the watches stop once their objects go unread for the idle
// period, and all of them when the cache's context ends.
func TestIntegrationKubeReadsIndependentOfRefreshes(t *testing.T) {
	requireRoot(t)
	kube := envtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const ns = mountertest.Namespace // where e.PublishRequest's pods live
	sas := []string{"cache-a", "cache-b"}
	classes := []string{"cache-0", "cache-1", "cache-2"}
	for _, sa := range sas {
		if _, err := kube.CreateServiceAccount(ctx, ns, sa, map[string]string{identity.AnnotationRoleARN: mountertest.RoleApp}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range classes {
		doc := strings.Replace(mountertest.SeedClassYAML, "name: "+mountertest.SeedClass, "name: "+c, 1)
		if _, err := kube.CreateSecretProviderClass(ctx, ns, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}

	counter := &apiCounter{}
	cfg := rest.CopyConfig(kube.Config)
	cfg.Wrap(counter.wrap)
	cluster, err := mounter.NewKubeCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const idle = 4 * time.Second
	cctx, stopCache := context.WithCancel(logr.NewContext(ctx, logr.Discard()))
	defer stopCache()
	cluster.StartCache(cctx, objcache.Options{Idle: idle})
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Cluster: cluster, Now: clk.Now, RefreshInterval: time.Minute})

	const volumes, rounds = 12, 5
	pod := func(i int) string { return fmt.Sprintf("cache-pod-%02d", i) }
	publishAll := func(what string) {
		t.Helper()
		for i := range volumes {
			if _, err := e.Node.NodePublishVolume(ctx, e.PublishRequest(pod(i), sas[i%len(sas)], classes[i%len(classes)])); err != nil {
				t.Fatalf("%s of %s: %v", what, pod(i), err)
			}
		}
	}
	stats := func() (classes, accounts objcache.Stats) {
		s := cluster.CacheStats()
		return s[mounter.ResourceClasses], s[mounter.ResourceServiceAccounts]
	}
	wait := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > limit {
				c, a := stats()
				t.Fatalf("no %s in %s: classes %+v, ServiceAccounts %+v, %d watches open", what, limit, c, a, counter.watch.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	objects := len(classes) + len(sas)

	// 1. First publishes: each object's first read is a GET and starts its
	// watch; the round ends when every watch has listed and is open.
	publishAll("first publish")
	wait("listed watches", 20*time.Second, func() bool {
		c, a := stats()
		return c.Synced == len(classes) && a.Synced == len(sas) && counter.watch.Load() == int64(objects)
	})
	first, firstReqs := counter.counts()
	c0, a0 := stats()

	// 2. M refresh rounds: every volume's interval has passed, so each
	// republish reads its class and ServiceAccount again.
	for r := range rounds {
		clk.Add(61 * time.Second)
		publishAll(fmt.Sprintf("refresh round %d", r+1))
	}
	after, afterReqs := counter.counts()
	c1, a1 := stats()
	if c1.CacheReads-c0.CacheReads != rounds*volumes || a1.CacheReads-a0.CacheReads != rounds*volumes || c1.APIReads != c0.APIReads || a1.APIReads != a0.APIReads {
		t.Errorf("refresh reads: classes %d from the cache, %d GETs; ServiceAccounts %d, %d; want %d from the cache each and no GET",
			c1.CacheReads-c0.CacheReads, c1.APIReads-c0.APIReads, a1.CacheReads-a0.CacheReads, a1.APIReads-a0.APIReads, rounds*volumes)
	}
	if len(afterReqs) != len(firstReqs) {
		t.Errorf("%d requests after the first round, %d after %d refresh rounds; new: %q", len(firstReqs), len(afterReqs), rounds, afterReqs[len(firstReqs):])
	}
	if first["GET secretproviderclasses"] < len(classes) || first["GET serviceaccounts"] < len(sas) {
		t.Errorf("first round %v: want at least one GET of each object", first)
	}
	for _, r := range firstReqs {
		// Lists and watches of one object each, in its namespace.
		if (strings.HasPrefix(r, "LIST ") || strings.HasPrefix(r, "WATCH ")) &&
			(!strings.Contains(r, "/namespaces/"+ns+"/") || !strings.Contains(r, "fieldSelector=metadata.name%3Dcache-")) {
			t.Errorf("not scoped to one object: %s", r)
		}
	}
	t.Logf("%d volumes (%d classes, %d ServiceAccounts): after the first round %d requests %v; after %d refresh rounds (%d reads) %d requests %v",
		volumes, len(classes), len(sas), len(firstReqs), first, rounds, 2*rounds*volumes, len(afterReqs), after)

	// 3. Changes reach the reads through the watches: a class's parameter, a
	// ServiceAccount's annotation, a deleted class.
	dyn, err := dynamic.NewForConfig(kube.Config) // not counted
	if err != nil {
		t.Fatal(err)
	}
	spcs := dyn.Resource(mounter.SecretProviderClassGVR).Namespace(ns)
	u, err := spcs.Get(ctx, classes[0], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(u.Object, mountertest.Region, "spec", "parameters", "region"); err != nil {
		t.Fatal(err)
	}
	if _, err := spcs.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa, err := kube.Clientset.CoreV1().ServiceAccounts(ns).Get(ctx, sas[1], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa.Annotations[identity.AnnotationRoleARN] = mountertest.RoleOther
	if _, err := kube.Clientset.CoreV1().ServiceAccounts(ns).Update(ctx, sa, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := spcs.Delete(ctx, classes[2], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var deleted error
	seen := wait("changes", 10*time.Second, func() bool {
		c, err := cluster.SecretProviderClass(ctx, ns, classes[0])
		if err != nil || c.Parameters["region"] != mountertest.Region {
			return false
		}
		ann, err := cluster.ServiceAccountAnnotations(ctx, ns, sas[1])
		if err != nil || ann[identity.AnnotationRoleARN] != mountertest.RoleOther {
			return false
		}
		_, deleted = cluster.SecretProviderClass(ctx, ns, classes[2])
		return deleted != nil
	})
	lastRead := time.Now()
	var st apierrors.APIStatus
	if !apierrors.IsNotFound(deleted) || !errors.As(deleted, &st) || st.Status().Details == nil ||
		st.Status().Details.Group != spc.Group || st.Status().Details.Kind != "secretproviderclasses" {
		t.Errorf("deleted class: %v, want NotFound of secretproviderclasses.%s", deleted, spc.Group)
	}
	// The annotations handed out are the caller's: a change to them does not
	// reach the watch's copy.
	ann, err := cluster.ServiceAccountAnnotations(ctx, ns, sas[1])
	if err != nil {
		t.Fatal(err)
	}
	ann[identity.AnnotationRoleARN] = "changed by the caller"
	if ann, err := cluster.ServiceAccountAnnotations(ctx, ns, sas[1]); err != nil || ann[identity.AnnotationRoleARN] != mountertest.RoleOther {
		t.Errorf("a caller's change reached the cache: %v, %v", ann, err)
	}
	if _, reqs := counter.counts(); len(reqs) != len(afterReqs) {
		t.Errorf("reading the changes sent requests: %q", reqs[len(afterReqs):])
	}
	t.Logf("class update, annotation update and class deletion read from the watches within %s, no request", seen.Round(time.Millisecond))

	// 4. Unread for the idle period, every watch stops (its response closed).
	wait("stopped watches", 3*idle, func() bool {
		c, a := stats()
		return c.Watched+a.Watched+c.Running+a.Running == 0 && counter.watch.Load() == 0
	})
	if since := time.Since(lastRead); since < idle {
		t.Errorf("the watches stopped %s after the last read, before the idle period %s", since, idle)
	}
	t.Logf("idle watches stopped %s after the last read (idle %s)", time.Since(lastRead).Round(time.Millisecond), idle)

	// 5. A read again is a GET and a new watch; the cache's end stops it.
	before, _ := counter.counts()
	if _, err := cluster.SecretProviderClass(ctx, ns, classes[1]); err != nil {
		t.Fatal(err)
	}
	wait("a new watch", 10*time.Second, func() bool { c, _ := stats(); return c.Synced == 1 && counter.watch.Load() == 1 })
	if now, _ := counter.counts(); now["GET secretproviderclasses"] != before["GET secretproviderclasses"]+1 {
		t.Errorf("reading a class again after its watch stopped: %d GETs, want 1", now["GET secretproviderclasses"]-before["GET secretproviderclasses"])
	}
	stopCache()
	wait("the watches to stop with the cache", 10*time.Second, func() bool {
		c, a := stats()
		return c.Watched+a.Watched+c.Running+a.Running == 0 && counter.watch.Load() == 0
	})
	for i := range volumes {
		if err := e.Unpublish(ctx, pod(i)); err != nil {
			t.Error(err)
		}
	}
}
