//go:build integration

package mounter_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// benchK is the number of objects of the benchmark class.
const benchK = 10

// benchClass adds a class of benchK secrets (my-app/bench-0..9) and the secrets.
func benchClass(b *testing.B, e *mountertest.Env) string {
	b.Helper()
	var sb strings.Builder
	for i := range benchK {
		name := fmt.Sprintf("my-app/bench-%d", i)
		if _, err := e.AWS.PutSecret(name, fmt.Sprintf(`{"user":"u%d","password":"p%d"}`, i, i)); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&sb, "- objectName: %q\n  objectType: secretsmanager\n  objectAlias: s%d\n", name, i)
	}
	e.Cluster.AddClass(mountertest.Namespace, "bench", map[string]string{"objects": sb.String()})
	return "bench"
}

func percentile(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(float64(len(d)-1) * p)
	return d[i]
}

// BenchmarkNodePublishVolume: first publish of a pod's volume (class of K=10
// secrets, real tmpfs mount + bind, no node cache so every publish reads AWS
// in one batched call) at 0 ms and 20 ms AWS latency. Unpublish is not timed.
func BenchmarkNodePublishVolume(b *testing.B) {
	requireRoot(b)
	for _, lat := range []int{0, 20} {
		b.Run(fmt.Sprintf("K=%d/aws=%dms", benchK, lat), func(b *testing.B) {
			e := mountertest.Start(b, mountertest.Options{})
			class := benchClass(b, e)
			if lat > 0 {
				e.AWS.SetFault(fakeaws.Fault{API: "secretsmanager:*", LatencyMS: lat})
			}
			ctx := context.Background()
			// Warm the identity's STS credentials, as on a running node.
			if err := e.Publish(ctx, "warm", mountertest.SAApp, class); err != nil {
				b.Fatal(err)
			}
			e.AWS.ResetCalls()
			durs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				pod := fmt.Sprintf("pod-%d", i)
				req := e.PublishRequest(pod, mountertest.SAApp, class)
				start := time.Now()
				_, err := e.Node.NodePublishVolume(ctx, req)
				durs = append(durs, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := e.Unpublish(ctx, pod); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(percentile(durs, 0.50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(durs, 0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(e.AWS.Calls().Total)/float64(b.N), "aws-calls/publish")
		})
	}
}

// BenchmarkConcurrentPublishes: 50 pods of one identity published at once
// (class of K=10, node cache on). Each iteration uses a new service account,
// so its identity starts cold: STS + fetch. The per-object-per-pod baseline
// would be 50 × (10 + 1) = 550 calls.
func BenchmarkConcurrentPublishes(b *testing.B) {
	requireRoot(b)
	e := mountertest.Start(b, mountertest.Options{CacheTTL: time.Minute})
	class := benchClass(b, e)
	ctx := context.Background()
	const pods = 50
	var calls, maxCalls int
	for i := range b.N {
		sa := fmt.Sprintf("bench-sa-%d", i)
		e.Cluster.AddServiceAccount(mountertest.Namespace, sa, map[string]string{identity.AnnotationRoleARN: mountertest.RoleApp})
		e.AWS.ResetCalls()
		var wg sync.WaitGroup
		errs := make([]error, pods)
		for p := range pods {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[p] = e.Publish(ctx, fmt.Sprintf("c%d-%d", i, p), sa, class)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		n := e.AWS.Calls().Total
		calls += n
		maxCalls = max(maxCalls, n)
		b.StopTimer()
		for p := range pods {
			if err := e.Unpublish(ctx, fmt.Sprintf("c%d-%d", i, p)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "aws-calls/50-publishes")
	b.ReportMetric(float64(maxCalls), "max-aws-calls")
	if maxCalls > 2 {
		b.Errorf("50 concurrent publishes of one identity cost %d AWS calls, goal ≤ 2", maxCalls)
	}
}

// shedPeriod is how often the role binaries give back their code pages
// (cmd/internal/app.ShedPeriod, which this package may not import).
const shedPeriod = time.Minute

// BenchmarkMounterRSS builds the real binary and runs `asi-mounter` (the
// lean role binary the DaemonSet runs) as its own process against a real
// kube-apiserver (envtest) and the fake AWS, and reports the process's VmRSS
// (from /proc/PID/status) once started, idle (after its first shed of code
// pages), after its first volume, after it serves 500 volumes (real tmpfs
// mounts), and a shed later.
func BenchmarkMounterRSS(b *testing.B) {
	requireRoot(b)
	if b.N > 1 {
		b.Skip("measured once")
	}
	kube := envtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := kube.CreateServiceAccount(ctx, mountertest.Namespace, mountertest.SAApp,
		map[string]string{identity.AnnotationRoleARN: mountertest.RoleApp}); err != nil {
		b.Fatal(err)
	}
	if _, err := kube.CreateSecretProviderClass(ctx, mountertest.Namespace, []byte(mountertest.SeedClassYAML)); err != nil {
		b.Fatal(err)
	}
	e := mountertest.Start(b, mountertest.Options{}) // its fake AWS and token issuer; its own driver stays idle

	// The lean role binary the chart's DaemonSet runs.
	bin := filepath.Join(e.Dir, "asi-mounter")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../cmd/asi-mounter")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	sock := filepath.Join(e.Dir, "bin-csi.sock")
	cmd := exec.CommandContext(ctx, bin, "--endpoint", "unix://"+sock, "--kubeconfig", kube.KubeConfigFile,
		"--plugin-dir", filepath.Join(e.Dir, "bin-plugin"), "--kubelet-dir", e.KubeletDir, "--register=false", "--http-address", "",
		"--node-name", "bench-node", "--region", mountertest.Region, "--aws-endpoint", e.AWS.URL(), "--cache-ttl", "1m")
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(20 * time.Second)
	for mounter.ProbeSocket(ctx, sock) != nil {
		if time.Now().After(deadline) {
			b.Fatal("the mounter binary did not come up")
		}
		time.Sleep(100 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	node := csi.NewNodeClient(conn)
	time.Sleep(time.Second)
	started := procRSS(b, cmd.Process.Pid, "VmRSS")
	time.Sleep(shedPeriod + 5*time.Second)
	idle := procRSS(b, cmd.Process.Pid, "VmRSS")
	idleAnon := procRSS(b, cmd.Process.Pid, "RssAnon")

	const vols = 500
	publish := func(i int) {
		req := e.PublishRequest(fmt.Sprintf("v%d", i), mountertest.SAApp, mountertest.SeedClass)
		if _, err := node.NodePublishVolume(ctx, req); err != nil {
			b.Fatalf("volume %d: %v", i, err)
		}
	}
	// The first volume runs every path a publish takes once (the token
	// exchange, the SDK's stack, the class's first read; the fake AWS is
	// plain HTTP, so no TLS to it): what it leaves resident is the cost of
	// any activity, not of the count.
	start := time.Now()
	publish(0)
	first := procRSS(b, cmd.Process.Pid, "VmRSS")
	firstAnon := procRSS(b, cmd.Process.Pid, "RssAnon")
	for i := 1; i < vols; i++ {
		publish(i)
	}
	took := time.Since(start)
	busy := procRSS(b, cmd.Process.Pid, "VmRSS")
	busyAnon := procRSS(b, cmd.Process.Pid, "RssAnon")
	// After the binary's next shed of its code pages: what stays resident of
	// the code is what an idle minute ran.
	time.Sleep(shedPeriod + 5*time.Second)
	settled := procRSS(b, cmd.Process.Pid, "VmRSS")
	for i := range vols {
		if _, err := node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: fmt.Sprintf("csi-v%d", i),
			TargetPath: e.Target(fmt.Sprintf("v%d", i))}); err != nil {
			b.Fatalf("unpublish %d: %v", i, err)
		}
	}
	b.ReportMetric(started, "started-RSS-MiB")
	b.ReportMetric(idle, "idle-RSS-MiB")
	b.ReportMetric(first, "1vol-RSS-MiB")
	b.ReportMetric(firstAnon, "1vol-anon-MiB")
	b.ReportMetric(busy, "500vol-RSS-MiB")
	b.ReportMetric(settled, "500vol-settled-RSS-MiB")
	b.ReportMetric(idleAnon, "idle-anon-MiB")
	b.ReportMetric(busyAnon, "500vol-anon-MiB")
	b.ReportMetric(float64(took.Milliseconds())/vols, "ms/publish-serial")
}

// procRSS returns a memory field of /proc/PID/status (VmRSS, RssAnon, ...) in MiB.
func procRSS(b *testing.B, pid int, field string) float64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no " + field)
	return 0
}
