package provider_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
)

// benchLatency is what the fake AWS adds to every Secrets Manager and SSM call.
const benchLatency = 20 * time.Millisecond

var benchKs = []int{1, 10, 50}

// benchClass puts K secrets in the fake and returns a class naming them.
func benchClass(tb testing.TB, e *env, k int) map[string]string {
	tb.Helper()
	var b strings.Builder
	for i := range k {
		name := fmt.Sprintf("app/bench-%d", i)
		if _, err := e.AWS.PutSecret(name, fmt.Sprintf(`{"user":"u%d","password":"p%d"}`, i, i)); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "- {objectName: %q, objectType: secretsmanager, objectAlias: s%d}\n", name, i)
	}
	return map[string]string{"region": region, "objects": b.String()}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mountLatency mounts a class of k objects n times (no node cache: every
// Mount reads AWS; the identity's STS credentials warm, as on a running
// node) and returns the durations and the AWS calls of one Mount.
func mountLatency(tb testing.TB, e *env, k, n int) ([]time.Duration, int) {
	tb.Helper()
	p := pod{name: "bench", sa: saApp, class: "bench", params: benchClass(tb, e, k)}
	req := e.firstMount(tb, p)
	if _, err := e.Client.Mount(context.Background(), req); err != nil {
		tb.Fatal(err)
	}
	durs := make([]time.Duration, 0, n)
	calls := 0
	if b, ok := tb.(*testing.B); ok {
		b.ResetTimer()
	}
	for range n {
		e.AWS.ResetCalls()
		start := time.Now()
		if _, err := e.Client.Mount(context.Background(), req); err != nil {
			tb.Fatal(err)
		}
		durs = append(durs, time.Since(start))
		calls = e.awsCalls()
	}
	return durs, calls
}

// BenchmarkMount: one Mount over the driver's socket of a class of K
// Secrets Manager objects, 20 ms AWS latency per call, no cache.
func BenchmarkMount(b *testing.B) {
	for _, k := range benchKs {
		b.Run(fmt.Sprintf("K=%d/aws=%s", k, benchLatency), func(b *testing.B) {
			e := startEnv(b, envOptions{latency: benchLatency})
			durs, calls := mountLatency(b, e, k, b.N)
			b.ReportMetric(ms(percentile(durs, 0.50)), "p50-ms")
			b.ReportMetric(ms(percentile(durs, 0.99)), "p99-ms")
			b.ReportMetric(float64(calls), "aws-calls/mount")
		})
	}
}

// concurrentMounts runs 50 Mounts of one fresh identity at once (class of
// K=10, node cache on) and returns the AWS calls they cost, STS included.
func concurrentMounts(tb testing.TB, e *env, params map[string]string, round int) int {
	tb.Helper()
	const pods = 50
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer() // minting 100 tokens is not the provider's time
	}
	sa := fmt.Sprintf("bench-sa-%d", round)
	e.SAs.set(namespace, sa, map[string]string{identity.AnnotationRoleARN: roleApp})
	reqs := make([]*v1alpha1.MountRequest, pods)
	for i := range pods {
		reqs[i] = e.firstMount(tb, pod{name: fmt.Sprintf("c%d-%d", round, i), sa: sa, class: "bench", params: params})
	}
	e.AWS.ResetCalls()
	if b, ok := tb.(*testing.B); ok {
		b.StartTimer()
	}
	var wg sync.WaitGroup
	errs := make([]error, pods)
	for i := range pods {
		wg.Go(func() {
			_, errs[i] = e.Client.Mount(context.Background(), reqs[i])
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return e.awsCalls()
}

// BenchmarkConcurrentMounts: 50 Mounts of one identity at once (K=10, node
// cache on); each round a new service account, so the identity starts cold.
// One GetSecretValue per object per pod, as ASCP does, would be 50 × 10.
func BenchmarkConcurrentMounts(b *testing.B) {
	e := startEnv(b, envOptions{latency: benchLatency, cacheTTL: time.Minute})
	params := benchClass(b, e, 10)
	maxCalls, total := 0, 0
	b.ResetTimer()
	for i := range b.N {
		n := concurrentMounts(b, e, params, i)
		total += n
		maxCalls = max(maxCalls, n)
	}
	b.ReportMetric(float64(total)/float64(b.N), "aws-calls/50-mounts")
	b.ReportMetric(float64(maxCalls), "max-aws-calls")
}

// TestProviderBenchTable measures what the benchmarks do (20 Mounts per K,
// more with -v or BENCH_TABLE=1), checks the AWS call counts (one batched
// call per 20 objects; 50 concurrent Mounts of one identity cost one STS
// call and one fetch) and prints the table with -v (make bench runs it so).
func TestProviderBenchTable(t *testing.T) {
	n := 5
	if testing.Verbose() || os.Getenv("BENCH_TABLE") != "" {
		n = 40
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Provider Mount over the driver's socket, K Secrets Manager objects, %s AWS latency per call, no cache (%d Mounts each)\n", benchLatency, n)
	fmt.Fprintf(&b, "%4s  %9s  %8s  %8s\n", "K", "AWS calls", "p50 ms", "p99 ms")
	for _, k := range benchKs {
		e := startEnv(t, envOptions{latency: benchLatency})
		durs, calls := mountLatency(t, e, k, n)
		fmt.Fprintf(&b, "%4d  %9d  %8.1f  %8.1f\n", k, calls, ms(percentile(durs, 0.5)), ms(percentile(durs, 0.99)))
		if want := (k + awsfetch.MaxBatchSecrets - 1) / awsfetch.MaxBatchSecrets; calls != want {
			t.Errorf("K=%d: %d AWS calls per Mount, want %d (batched)", k, calls, want)
		}
	}
	e := startEnv(t, envOptions{latency: benchLatency, cacheTTL: time.Minute})
	params := benchClass(t, e, 10)
	calls := concurrentMounts(t, e, params, 0)
	fmt.Fprintf(&b, "50 concurrent Mounts of one identity (K=10, cache on): %d AWS calls (one GetSecretValue per object per pod: 500)\n", calls)
	if calls > 2 {
		t.Errorf("50 concurrent Mounts of one identity cost %d AWS calls, want at most 2 (1 STS + 1 batched fetch)", calls)
	}
	if testing.Verbose() {
		fmt.Print(b.String())
	}
}
