package awsfetch_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// malformedKinds are the spoiled 200 answers a proxy, a broken connection or a bad deployment
// gives: none may be taken for a value, each is retried, then failed over.
var malformedKinds = []string{fakeaws.ResponseBadJSON, fakeaws.ResponseTruncated, fakeaws.ResponseEmpty,
	fakeaws.ResponseHTML, fakeaws.ResponseContentType}

// fetchCase is one API under test: the objects that make the fetcher call it and what they read.
type fetchCase struct {
	api    string
	objs   string
	values []string
}

var fetchCases = []fetchCase{
	{"secretsmanager:GetSecretValue", smObjects("app/s0"), []string{"value-0"}},
	{"secretsmanager:BatchGetSecretValue", smObjects("app/s0", "app/s1"), []string{"value-0", "value-1"}},
	{"ssm:GetParameters", "- {objectName: /app/p0, objectType: ssmparameter}\n", []string{"pv-0"}},
}

func checkValues(t *testing.T, vals []secrets.Fetched, want []string, region string) {
	t.Helper()
	for i, w := range want {
		if got := string(vals[i].Value.Bytes()); got != w || vals[i].Region != region {
			t.Fatalf("object %d = %q from %s, want %q from %s", i, got, vals[i].Region, w, region)
		}
	}
}

// TestMalformedAnswerIsRetried: one spoiled answer, then a good one: the SDK retries and the
// value is the real one (never an empty or partial one).
func TestMalformedAnswerIsRetried(t *testing.T) {
	srv := startFake(t, 2)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	for _, fc := range fetchCases {
		for _, kind := range malformedKinds {
			t.Run(fc.api+"/"+kind, func(t *testing.T) {
				srv.ResetCalls()
				srv.SetFault(fakeaws.Fault{API: fc.api, Response: kind, Count: 1})
				vals, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": fc.objs}), idA)
				if err != nil {
					t.Fatalf("fetch after one %s answer: %v", kind, err)
				}
				checkValues(t, vals, fc.values, "us-east-1")
				if c := srv.Calls(); c.ByAPI[fc.api] != 2 || c.Total != 2 {
					t.Fatalf("calls %v, want the spoiled %s call and its retry only", c.ByAPI, fc.api)
				}
			})
		}
	}
}

// TestMalformedAnswerFailsOver: the primary region answers nothing but spoiled 200s: the class
// is served from the failover region, and without one the error is AWSUnavailable.
func TestMalformedAnswerFailsOver(t *testing.T) {
	srv := startFake(t, 2)
	f, _ := newFetcher(t, srv, awsfetch.Options{MaxAttempts: 2})
	for _, fc := range fetchCases {
		for _, kind := range malformedKinds {
			t.Run(fc.api+"/"+kind, func(t *testing.T) {
				srv.ClearFaults()
				srv.SetFault(fakeaws.Fault{Region: "us-east-1", Response: kind})
				vals, err := f.Fetch(ctx(t), failoverSpec(t, fc.objs), idA)
				if err != nil {
					t.Fatalf("fetch with us-east-1 answering %s: %v", kind, err)
				}
				checkValues(t, vals, fc.values, "us-west-2")

				_, err = f.Fetch(ctx(t), spec(t, map[string]string{"objects": fc.objs}), idA)
				if !errors.Is(err, awsfetch.ErrUnavailable) || reason.Of(err) != reason.AWSUnavailable {
					t.Fatalf("without failover: %v (reason %s), want AWSUnavailable", err, reason.Of(err))
				}
				if !strings.Contains(err.Error(), "malformed") && !strings.Contains(err.Error(), "deserializ") {
					t.Fatalf("error %q does not say the answer was malformed", err)
				}
			})
		}
	}
	srv.ClearFaults()
}

// TestHungAttemptIsRetried: the first attempt is accepted and never answered (or answered one
// byte at a time); the attempt's own timeout ends it and the retry reads the value, well inside
// a caller's deadline the hang alone would spend.
func TestHungAttemptIsRetried(t *testing.T) {
	srv := startFake(t, 1)
	f, _ := newFetcher(t, srv, awsfetch.Options{AttemptTimeout: 300 * time.Millisecond})
	for _, fault := range []fakeaws.Fault{
		{API: "secretsmanager:GetSecretValue", Hang: true, HangMS: 60_000, Count: 1},
		{API: "secretsmanager:GetSecretValue", Response: fakeaws.ResponseTrickle, TrickleMS: 500, Count: 1},
	} {
		srv.ResetCalls()
		srv.SetFault(fault)
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		vals, err := f.Fetch(c, spec(t, map[string]string{"objects": smObjects("app/s0")}), idA)
		cancel()
		if err != nil {
			t.Fatalf("fault %+v: %v", fault, err)
		}
		checkValues(t, vals, []string{"value-0"}, "us-east-1")
		if n := srv.Calls().ByAPI["secretsmanager:GetSecretValue"]; n != 2 {
			t.Fatalf("fault %+v: %d calls, want the hung one and its retry", fault, n)
		}
	}

	// Every attempt hangs: the fetch fails when the attempts are spent, as unavailable (failover).
	srv.SetFault(fakeaws.Fault{API: "secretsmanager:GetSecretValue", Hang: true, HangMS: 60_000})
	f2, _ := newFetcher(t, srv, awsfetch.Options{AttemptTimeout: 100 * time.Millisecond, MaxAttempts: 2})
	_, err := f2.Fetch(ctx(t), spec(t, map[string]string{"objects": smObjects("app/s0")}), idA)
	if !errors.Is(err, awsfetch.ErrUnavailable) || !strings.Contains(err.Error(), "timed out after 100ms") {
		t.Fatalf("every attempt hung: %v", err)
	}
	srv.ClearFaults()
}

// TestEndlessBodyIsCapped: a 200 whose body never ends (1 GiB, generated by the fake) fails fast
// with LimitExceeded naming the cap, is not retried, and costs the heap little.
func TestEndlessBodyIsCapped(t *testing.T) {
	srv := startFake(t, 2)
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	for _, fc := range fetchCases {
		t.Run(fc.api, func(t *testing.T) {
			srv.ClearFaults()
			srv.ResetCalls()
			srv.SetFault(fakeaws.Fault{API: fc.api, Response: fakeaws.ResponseEndless})
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": fc.objs}), idA)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, awsfetch.ErrLimitExceeded) || reason.Of(err) != reason.LimitExceeded {
				t.Fatalf("endless body: %v (reason %s), want LimitExceeded", err, reason.Of(err))
			}
			if want := fmt.Sprint(secrets.MaxResponseBytes); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not name the cap %s", err, want)
			}
			if n := srv.Calls().ByAPI[fc.api]; n != 1 {
				t.Fatalf("%d calls, want 1 (an oversized answer is not retried)", n)
			}
			// Everything allocated during the fetch, the fake's side included: a bound on the peak.
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: endless body refused after %d calls, %.1f MiB allocated in all", fc.api, srv.Calls().ByAPI[fc.api], float64(alloc)/(1<<20))
			if alloc > 64<<20 {
				t.Fatalf("the fetch allocated %d MiB for a capped body", alloc>>20)
			}
		})
	}
	srv.ClearFaults()
}

// TestValueOverLimit: a value past secrets.MaxValueBytes is refused with LimitExceeded naming
// the object, whichever API served it.
func TestValueOverLimit(t *testing.T) {
	srv := startFake(t, 2)
	big := strings.Repeat("x", secrets.MaxValueBytes+1)
	if _, err := srv.PutSecret("app/s0", big); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PutSecretBinary("app/s1", []byte(big)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PutParameter("/app/p0", big); err != nil {
		t.Fatal(err)
	}
	f, _ := newFetcher(t, srv, awsfetch.Options{})
	for _, objs := range []string{
		smObjects("app/s0"), smObjects("app/s1"), smObjects("app/s0", "app/s1"),
		"- {objectName: /app/p0, objectType: ssmparameter}\n",
	} {
		_, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": objs}), idA)
		var fe *awsfetch.FetchError
		if !errors.As(err, &fe) || !errors.Is(err, awsfetch.ErrLimitExceeded) || reason.Of(err) != reason.LimitExceeded {
			t.Fatalf("objects %s: %v, want LimitExceeded", objs, err)
		}
		for _, oe := range fe.Errs {
			if !strings.Contains(oe.Error(), secrets.Quote(oe.Name)) || !strings.Contains(oe.Error(), fmt.Sprint(secrets.MaxValueBytes)) {
				t.Fatalf("error %q does not name the object and the limit", oe)
			}
		}
		if strings.Contains(err.Error(), "xxxxxxxx") {
			t.Fatal("error holds the value")
		}
	}
}
