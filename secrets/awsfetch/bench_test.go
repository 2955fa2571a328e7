package awsfetch_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// benchLatency is the latency the fake adds to every AWS call.
const benchLatency = 20 * time.Millisecond

var benchKs = []int{1, 10, 50}

// benchEnv is a fake AWS with 50 secrets and 20 ms latency, a Fetcher, a
// plain SDK client for the baseline, and a spec per K.
type benchEnv struct {
	srv     *fakeaws.Server
	fetcher *awsfetch.Fetcher
	client  *secretsmanager.Client
	specs   map[int]*spc.Spec
}

func newBenchEnv(tb testing.TB) *benchEnv {
	srv := startFake(tb, 50)
	srv.SetFault(fakeaws.Fault{LatencyMS: int(benchLatency / time.Millisecond)})
	cfg := sdkConfig(tb, srv.URL(), "us-east-1", userA, secretA)
	e := &benchEnv{srv: srv, fetcher: awsfetch.New(cfg, awsfetch.Options{}), client: secretsmanager.NewFromConfig(cfg), specs: map[int]*spc.Spec{}}
	for _, k := range benchKs {
		names := make([]string, k)
		for i := range names {
			names[i] = fmt.Sprintf("app/s%d", i)
		}
		s, err := spc.Parse(map[string]string{"region": "us-east-1", "objects": smObjects(names...)}, spc.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		e.specs[k] = s
	}
	return e
}

// batched is one fetch of K objects through the Fetcher (no cache).
func (e *benchEnv) batched(ctx context.Context, k int) error {
	_, err := e.fetcher.Fetch(ctx, e.specs[k], awsfetch.Identity{})
	return err
}

// baseline is what the AWS provider of the Secrets Store CSI driver does: one
// GetSecretValue per object, one after the other.
func (e *benchEnv) baseline(ctx context.Context, k int) error {
	for i := range e.specs[k].Objects {
		if _, err := e.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(e.specs[k].Objects[i].Name)}); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkFetch measures wall time and AWS calls (as counted by the fake) to
// fetch K Secrets Manager objects with 20 ms latency per call, batched versus
// the one-call-per-object baseline.
func BenchmarkFetch(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	for _, k := range benchKs {
		for _, mode := range []string{"batched", "baseline"} {
			run := e.batched
			if mode == "baseline" {
				run = e.baseline
			}
			b.Run(fmt.Sprintf("K=%d/%s", k, mode), func(b *testing.B) {
				e.srv.ResetCalls()
				for b.Loop() {
					if err := run(ctx, k); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(e.srv.Calls().Total)/float64(b.N), "calls/op")
			})
		}
	}
}

type benchRow struct {
	k                     int
	baseCalls, batchCalls int
	baseTime, batchTime   time.Duration
}

// measure runs fn reps times and returns the median wall time and the calls of one run.
func measure(tb testing.TB, e *benchEnv, k, reps int, fn func(context.Context, int) error) (time.Duration, int) {
	times := make([]time.Duration, 0, reps)
	calls := 0
	for range reps {
		e.srv.ResetCalls()
		start := time.Now()
		if err := fn(context.Background(), k); err != nil {
			tb.Fatal(err)
		}
		times = append(times, time.Since(start))
		calls = e.srv.Calls().Total
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], calls
}

// TestFetchBenchTable measures the same as BenchmarkFetch once per K (three
// times with -v or BENCH_TABLE=1, reporting medians), checks that batching
// pays, and prints the comparison table with -v (make bench runs it so).
func TestFetchBenchTable(t *testing.T) {
	reps := 1
	if testing.Verbose() || os.Getenv("BENCH_TABLE") != "" {
		reps = 3
	}
	e := newBenchEnv(t)
	var rows []benchRow
	for _, k := range benchKs {
		r := benchRow{k: k}
		r.baseTime, r.baseCalls = measure(t, e, k, reps, e.baseline)
		r.batchTime, r.batchCalls = measure(t, e, k, reps, e.batched)
		rows = append(rows, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Fetch K Secrets Manager objects, %s latency per AWS call (fake AWS on loopback, median of %d)\n", benchLatency, reps)
	fmt.Fprintf(&b, "%4s  %14s  %14s  %13s  %13s  %10s  %10s\n", "K", "baseline calls", "batched calls", "baseline ms", "batched ms", "calls x", "speedup x")
	for _, r := range rows {
		fmt.Fprintf(&b, "%4d  %14d  %14d  %13.1f  %13.1f  %10.1f  %10.1f\n", r.k, r.baseCalls, r.batchCalls,
			ms(r.baseTime), ms(r.batchTime), float64(r.baseCalls)/float64(r.batchCalls), ms(r.baseTime)/ms(r.batchTime))
	}
	if testing.Verbose() {
		fmt.Print(b.String())
	}
	for _, r := range rows {
		wantBatch := (r.k + awsfetch.MaxBatchSecrets - 1) / awsfetch.MaxBatchSecrets
		if r.baseCalls != r.k || r.batchCalls != wantBatch {
			t.Errorf("K=%d: baseline %d calls (want %d), batched %d (want %d)", r.k, r.baseCalls, r.k, r.batchCalls, wantBatch)
		}
		if r.k >= 10 && r.batchTime >= r.baseTime {
			t.Errorf("K=%d: batched %v not faster than baseline %v", r.k, r.batchTime, r.baseTime)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
