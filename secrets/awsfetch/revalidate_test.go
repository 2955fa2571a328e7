package awsfetch_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// fakeClock is a settable clock for the cache and the skip memories.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(2_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// calls is the fake's count of one Secrets Manager API.
func calls(srv *fakeaws.Server, api string) int { return srv.Calls().ByAPI["secretsmanager:"+api] }

func TestRevalidateReadsOnlyWhatChanged(t *testing.T) {
	srv := startFake(t, 3)
	clock := newClock()
	f, _ := newFetcher(t, srv, awsfetch.Options{CacheTTL: time.Minute, Revalidate: true, Now: clock.Now})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1", "app/s2")})
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	if b := calls(srv, "BatchGetSecretValue"); b != 1 {
		t.Fatalf("first read: %d batch calls, want 1", b)
	}

	// Two of three rotated: three version checks, two reads one by one (on
	// GetSecretValue's quota, not the batch API's).
	for _, name := range []string{"app/s1", "app/s2"} {
		if _, err := srv.PutSecret(name, "rotated"); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(61 * time.Second)
	srv.ResetCalls()
	vals, err := f.FetchWithin(ctx(t), s, idA, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d, g, b := calls(srv, "DescribeSecret"), calls(srv, "GetSecretValue"), calls(srv, "BatchGetSecretValue")
	if d != 3 || g != 2 || b != 0 {
		t.Fatalf("refresh with two rotated: DescribeSecret %d, GetSecretValue %d, batch %d; want 3, 2, 0", d, g, b)
	}
	want := []string{"value-0", "rotated", "rotated"}
	for i, v := range vals {
		if string(v.Value.Bytes()) != want[i] || !v.ReadAt.Equal(clock.Now()) {
			t.Errorf("object %d: %q read at %s, want %q read now (%s)", i, v.Value.Bytes(), v.ReadAt, want[i], clock.Now())
		}
	}
	// A revalidated value is fresh again: shared within the TTL, no call.
	srv.ResetCalls()
	if _, err := f.FetchWithin(ctx(t), s, idA, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls().Total; n != 0 {
		t.Fatalf("right after the revalidation: %d AWS calls, want 0", n)
	}

	// Nothing changed: version checks only.
	clock.advance(61 * time.Second)
	srv.ResetCalls()
	if _, err := f.FetchWithin(ctx(t), s, idA, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d, n := calls(srv, "DescribeSecret"), srv.Calls().Total; d != 3 || n != 3 {
		t.Fatalf("refresh with nothing rotated: %d calls, %d of them DescribeSecret; want 3 and 3", n, d)
	}

	// Past the revalidation window: read anew, one by one (a refresh keeps
	// off the batch API's small quota).
	clock.advance(awsfetch.DefaultRevalidateWindow + time.Second)
	srv.ResetCalls()
	if _, err := f.FetchWithin(ctx(t), s, idA, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d, g, b := calls(srv, "DescribeSecret"), calls(srv, "GetSecretValue"), calls(srv, "BatchGetSecretValue"); d != 0 || g != 3 || b != 0 {
		t.Fatalf("past the window: DescribeSecret %d, GetSecretValue %d, batch %d; want 0, 3, 0", d, g, b)
	}
}

func TestRevalidateOffReadsAnew(t *testing.T) {
	srv := startFake(t, 2)
	clock := newClock()
	f, _ := newFetcher(t, srv, awsfetch.Options{CacheTTL: time.Minute, Now: clock.Now})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1")})
	for range 2 {
		if _, err := f.FetchWithin(ctx(t), s, idA, time.Minute); err != nil {
			t.Fatal(err)
		}
		clock.advance(61 * time.Second)
	}
	if d, b := calls(srv, "DescribeSecret"), calls(srv, "BatchGetSecretValue"); d != 0 || b != 2 {
		t.Fatalf("without Revalidate: DescribeSecret %d, batch %d; want 0 and 2", d, b)
	}
}

func TestRevalidateLabelMoved(t *testing.T) {
	srv := startFake(t, 0)
	clock := newClock()
	f, _ := newFetcher(t, srv, awsfetch.Options{CacheTTL: time.Minute, Revalidate: true, Now: clock.Now})
	s := spec(t, map[string]string{"objects": `
- {objectName: app/versioned, objectType: secretsmanager, objectVersionLabel: AWSPREVIOUS, objectAlias: prev}
- {objectName: app/versioned, objectType: secretsmanager, objectVersion: v2id, objectAlias: pinned}`})
	vals, err := f.Fetch(ctx(t), s, idA)
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0].Value.Bytes()) != "v1" || string(vals[1].Value.Bytes()) != "v2" {
		t.Fatalf("first read: %q, %q", vals[0].Value.Bytes(), vals[1].Value.Bytes())
	}
	// A new version: AWSPREVIOUS moves to v2id; v2id itself is unchanged.
	if _, err := srv.PutSecret("app/versioned", "v3"); err != nil {
		t.Fatal(err)
	}
	clock.advance(61 * time.Second)
	srv.ResetCalls()
	if vals, err = f.FetchWithin(ctx(t), s, idA, time.Minute); err != nil {
		t.Fatal(err)
	}
	if string(vals[0].Value.Bytes()) != "v2" || string(vals[1].Value.Bytes()) != "v2" {
		t.Fatalf("after the label moved: AWSPREVIOUS %q, v2id %q; want v2 and v2", vals[0].Value.Bytes(), vals[1].Value.Bytes())
	}
	if d, g := calls(srv, "DescribeSecret"), calls(srv, "GetSecretValue"); d != 1 || g != 1 {
		t.Fatalf("DescribeSecret %d (one per secret id), GetSecretValue %d (only the moved label); want 1 and 1", d, g)
	}
}

func TestRevalidateDeniedReadsAsUsual(t *testing.T) {
	srv := startFake(t, 2)
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:DescribeSecret", ErrorCode: "AccessDeniedException",
		Message: "not authorized to perform: secretsmanager:DescribeSecret"})
	clock := newClock()
	f, _ := newFetcher(t, srv, awsfetch.Options{CacheTTL: time.Minute, Revalidate: true, Now: clock.Now})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1")})
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PutSecret("app/s0", "rotated"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		clock.advance(61 * time.Second)
		srv.ResetCalls()
		vals, err := f.FetchWithin(ctx(t), s, idA, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if string(vals[0].Value.Bytes()) != "rotated" {
			t.Fatalf("refresh %d: %q, want the rotated value", i, vals[0].Value.Bytes())
		}
		wantD := 0
		if i == 0 {
			wantD = 2 // refused once, then remembered
		}
		if d, b := calls(srv, "DescribeSecret"), calls(srv, "BatchGetSecretValue"); d != wantD || b != 1 {
			t.Fatalf("refresh %d with DescribeSecret denied: DescribeSecret %d, batch %d; want %d and 1", i, d, b, wantD)
		}
	}
}

func TestBatchThrottledSkipsTheBatchForAWhile(t *testing.T) {
	srv := startFake(t, 2)
	id := srv.SetFault(fakeaws.Fault{API: "secretsmanager:BatchGetSecretValue", Throttle: true})
	clock := newClock()
	f, _ := newFetcher(t, srv, awsfetch.Options{MaxAttempts: 2, Now: clock.Now})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1")})
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	srv.RemoveFault(id)
	srv.ResetCalls()
	clock.advance(30 * time.Second)
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	if b, g := calls(srv, "BatchGetSecretValue"), calls(srv, "GetSecretValue"); b != 0 || g != 2 {
		t.Fatalf("30 s after a throttled batch: batch %d, get %d; want 0 and 2", b, g)
	}
	clock.advance(31 * time.Second)
	srv.ResetCalls()
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	if b, g := calls(srv, "BatchGetSecretValue"), calls(srv, "GetSecretValue"); b != 1 || g != 0 {
		t.Fatalf("a minute after: batch %d, get %d; want the batch again", b, g)
	}
}

// TestRevalidateWindowCountsFromTheRead: version checks do not renew the
// window; a value is read from AWS again once RevalidateWindow has passed
// since its last real read, so a revoked permission takes effect.
func TestRevalidateWindowCountsFromTheRead(t *testing.T) {
	srv := startFake(t, 2)
	clock := newClock()
	f, _ := newFetcher(t, srv, awsfetch.Options{CacheTTL: time.Minute, Revalidate: true, RevalidateWindow: 5 * time.Minute, Now: clock.Now})
	s := spec(t, map[string]string{"objects": smObjects("app/s0", "app/s1")})
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	reads := []int{}
	for range 8 {
		clock.advance(61 * time.Second)
		srv.ResetCalls()
		if _, err := f.FetchWithin(ctx(t), s, idA, time.Minute); err != nil {
			t.Fatal(err)
		}
		reads = append(reads, calls(srv, "GetSecretValue")+calls(srv, "BatchGetSecretValue"))
	}
	// Refreshes at 61 s .. 488 s: checks until the window (300 s from the
	// read at 0) ends, then a read of both (at 305 s), then checks again.
	want := []int{0, 0, 0, 0, 2, 0, 0, 0}
	if !slices.Equal(reads, want) {
		t.Fatalf("reads per refresh %v, want %v", reads, want)
	}
}

// TestRevalidateUnavailableFailsOver: AWS unavailable to DescribeSecret fails
// the value as unavailable at once, so failover reads the other region, with
// no second round of reads in the failing one.
func TestRevalidateUnavailableFailsOver(t *testing.T) {
	srv := startFake(t, 2)
	clock := newClock()
	f, _ := newFetcher(t, srv, awsfetch.Options{CacheTTL: time.Minute, Revalidate: true, MaxAttempts: 2, Now: clock.Now})
	s := spec(t, map[string]string{"failoverRegion": "us-west-2", "objects": smObjects("app/s0", "app/s1")})
	if _, err := f.Fetch(ctx(t), s, idA); err != nil {
		t.Fatal(err)
	}
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:*", Region: "us-east-1", ErrorCode: "InternalServiceError"})
	clock.advance(61 * time.Second)
	srv.ResetCalls()
	vals, err := f.FetchWithin(ctx(t), s, idA, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Region != "us-west-2" {
		t.Fatalf("served from %s, want the failover region", vals[0].Region)
	}
	st := srv.Calls()
	east := 0
	for _, c := range st.Calls {
		if c.Region == "us-east-1" && c.API != "secretsmanager:DescribeSecret" {
			east += c.Count
		}
	}
	if east != 0 {
		t.Fatalf("%d reads in the unavailable region after its version checks failed (%+v), want 0", east, st.ByAPI)
	}
}
