//go:build integration

package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// Environment of the child process that runs the webhook for the load
// benchmarks (a separate process, so that its RSS is the webhook's alone).
const (
	benchKubeconfigEnv = "WEBHOOK_BENCH_KUBECONFIG"
	benchCertDirEnv    = "WEBHOOK_BENCH_CERT_DIR"
	benchPortEnv       = "WEBHOOK_BENCH_PORT"
	// WEBHOOK_BENCH_CPUPROFILE=FILE: the server is this test binary running
	// Run in a child (runBenchServer), which writes its CPU profile there
	// (go tool pprof -top FILE), from start to SIGTERM. Without it the
	// server is the real asi-webhook binary, whose RSS is what a pod shows.
	benchProfileEnv = "WEBHOOK_BENCH_CPUPROFILE"
	// WEBHOOK_BENCH_CPU=N pins the server to CPU N (taskset), "none" leaves
	// it unpinned; by default it gets the highest CPU this process may use
	// when it may use two or more, as issue #14's side-by-side runs pinned
	// the server to one core.
	benchCPUEnv = "WEBHOOK_BENCH_CPU"
	// WEBHOOK_BENCH_FLOOR=1: the child is the floor target (runFloorServer).
	benchFloorEnv = "WEBHOOK_BENCH_FLOOR"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchFloorEnv) != "" {
		if err := runFloorServer(os.Getenv(benchCertDirEnv), os.Getenv(benchPortEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "floor server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if kc := os.Getenv(benchKubeconfigEnv); kc != "" {
		if err := runBenchServer(kc, os.Getenv(benchCertDirEnv), os.Getenv(benchPortEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}

// runBenchServer runs the webhook exactly as `aws-secrets-injector webhook`
// does (Run: manager, SecretProviderClass informer cache, certificate files
// with hot reload), on a loopback port, until SIGTERM.
func runBenchServer(kubeconfig, certDir, port string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if path := os.Getenv(benchProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	o := NewOptions()
	o.Kubeconfig = kubeconfig
	o.Host = "127.0.0.1"
	o.Port, _ = strconv.Atoi(port)
	o.MetricsAddr, o.HealthAddr = "0", "0"
	o.Namespace = ownNamespace
	o.Certs.Mode, o.Certs.Dir = certs.ModeFiles, certDir
	if err := o.Validate(); err != nil {
		return err
	}
	return Run(ctx, o)
}

// floorAnswer is the floor's answer to every review: an allowed pod with an
// empty JSON patch, the shape the load checks for.
const floorAnswer = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":` +
	`{"uid":"floor","allowed":true,"patch":"W10=","patchType":"JSONPatch"}}` + "\n"

// runFloorServer serves targetFloor on a loopback port until SIGTERM: the
// TLS and HTTP/2 setup the webhook's server has (the certificate from
// certDir, h2 and http/1.1), a handler that reads the request's body to its
// end and writes floorAnswer, and /readyz.
func runFloorServer(certDir, port string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cert, err := tls.LoadX509KeyPair(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc(ReadyzPath, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc(MutatePath, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, maxReviewBytes)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, floorAnswer)
	})
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServeTLS("", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return srv.Close()
	}
}

// benchProc reads the server process's figures from /proc.
type benchProc struct{ pid int }

// rss returns VmRSS and VmHWM in MiB.
func (p benchProc) rss() (float64, float64) {
	return p.status("VmRSS"), p.status("VmHWM")
}

// status returns a field of /proc/PID/status in kB as MiB.
func (p benchProc) status(name string) float64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(st)) {
		if strings.HasPrefix(l, name+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpu returns the CPU time (user + system, every thread) the process has used.
func (p benchProc) cpu() time.Duration {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th, in USER_HZ (100) ticks.
	rest := string(st[bytes.LastIndexByte(st, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * 10 * time.Millisecond
}

// benchCPU is the CPU the server is pinned to, or "" for none: chosen once,
// from the CPUs this process could use before pinAwayFrom took that one away.
func benchCPU(b *testing.B) string {
	b.Helper()
	chosenCPU.Lock()
	defer chosenCPU.Unlock()
	if !chosenCPU.done {
		chosenCPU.cpu, chosenCPU.done = chooseBenchCPU(b), true
	}
	return chosenCPU.cpu
}

var chosenCPU struct {
	sync.Mutex
	done bool
	cpu  string
}

func chooseBenchCPU(b *testing.B) string {
	b.Helper()
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		b.Fatalf("read this process's CPU affinity: %v", err)
	}
	switch v := os.Getenv(benchCPUEnv); {
	case v == "none":
		return ""
	case v != "":
		if n, err := strconv.Atoi(v); err != nil || n < 0 || !mine.IsSet(n) {
			b.Fatalf("%s=%q: want one of the CPUs this process may use, or none", benchCPUEnv, v)
		}
		return v
	case mine.Count() >= 2:
		// The highest CPU this process may use (a cpuset need not start at 0).
		for n := len(mine)*64 - 1; n >= 0; n-- {
			if mine.IsSet(n) {
				return strconv.Itoa(n)
			}
		}
	}
	return ""
}

// pinAwayFrom moves this process, the load generator, and so the API servers
// it starts after, off CPU cpu, the server's, for the rest of the benchmark:
// issue #14's side-by-side runs pinned the server to one core and the load
// generator and fakes to the other. Unpinned, the generator's goroutines ran
// on the server's core too, taking from the faster server the most. An
// affinity is a thread's, so every thread of the process is moved; threads
// created later inherit it. "" (the server unpinned) leaves it alone.
func pinAwayFrom(b *testing.B, cpu string) {
	b.Helper()
	if cpu == "" {
		return
	}
	n, _ := strconv.Atoi(cpu)
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		b.Fatalf("read this process's CPU affinity: %v", err)
	}
	rest := old
	rest.Clear(n)
	if rest.Count() == 0 {
		b.Logf("the load generator shares CPU %s with the server: no other CPU", cpu)
		return
	}
	setAll := func(set *unix.CPUSet) error {
		// Until a pass finds no thread it has not set: a thread started
		// during a pass by one not moved yet took the old affinity.
		done := map[int]bool{}
		for range 20 {
			tasks, err := os.ReadDir("/proc/self/task")
			if err != nil {
				return err
			}
			fresh := false
			for _, t := range tasks {
				tid, err := strconv.Atoi(t.Name())
				if err != nil || done[tid] {
					continue
				}
				fresh = true
				if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
					return err
				}
				done[tid] = true
			}
			if !fresh {
				return nil
			}
		}
		return errors.New("threads kept appearing")
	}
	// First, so that a move that fails half way is undone too.
	b.Cleanup(func() {
		if err := setAll(&old); err != nil {
			b.Logf("restore the load generator's CPU affinity: %v", err)
		}
	})
	if err := setAll(&rest); err != nil {
		b.Fatalf("move the load generator off CPU %s: %v", cpu, err)
	}
	b.Logf("load generator and API server off CPU %s (%d CPUs left)", cpu, rest.Count())
}

// gcCycles is the number of garbage collections this process has completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// benchServer starts a real API server holding the class apps/db, and the
// target in a child process (the real asi-webhook binary, this test binary
// running Run when profiling, the anchor vault-k8s, or this test binary as
// the floor); it returns the
// target's URL, a client that trusts it, and the child's process.
func benchServer(b *testing.B, target benchTarget) (string, *http.Client, benchProc) {
	b.Helper()
	// The floor reads nothing from it, but runs beside one as the others do:
	// the API server shares the load generator's cores.
	env := envtest.Start(b)
	if _, err := env.CreateNamespace(context.Background(), "apps", nil); err != nil {
		b.Fatal(err)
	}
	createClass(b, env, "apps", "db")
	dir := b.TempDir()
	if err := certs.Write(context.Background(), &certs.WriteOptions{Hosts: []string{"127.0.0.1"}, Out: dir, Validity: time.Hour}); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	var argv []string
	environ := append(os.Environ(), benchCertDirEnv+"="+dir, benchPortEnv+"="+port)
	readyPath, mutatePath := ReadyzPath, MutatePath
	switch {
	case target == targetFloor:
		argv = []string{os.Args[0], "-test.run=^$"}
		environ = append(environ, benchFloorEnv+"=1")
	case target == targetVault:
		argv, environ = vaultK8sArgv(b, env, dir, port)
		readyPath, mutatePath = "/health/ready", "/mutate"
	case os.Getenv(benchProfileEnv) != "":
		argv = []string{os.Args[0], "-test.run=^$"}
		environ = append(environ, benchKubeconfigEnv+"="+env.KubeConfigFile)
	default:
		argv = []string{testbin.Path(b, "asi-webhook"), "--kubeconfig", env.KubeConfigFile,
			"--host", "127.0.0.1", "--port", port, "--metrics-addr", "0", "--health-addr", "0",
			"--namespace", ownNamespace, "--cert-mode", certs.ModeFiles, "--cert-dir", dir}
	}
	if cpu := benchCPU(b); cpu != "" {
		taskset, err := exec.LookPath("taskset")
		if err != nil {
			b.Fatalf("pin the server to CPU %s: %v (install util-linux, or set %s=none)", cpu, err, benchCPUEnv)
		}
		argv = append([]string{taskset, "--cpu-list", cpu}, argv...) // taskset execs it: same pid
		b.Logf("%s pinned to CPU %s", target, cpu)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = environ
	// The server's log goes to a file, as a container's goes to the
	// runtime's log (vault-k8s logs every request at its default level).
	logPath := filepath.Join(b.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logFile.Close()
		if b.Failed() {
			out, _ := os.ReadFile(logPath)
			b.Logf("%s log (last 4 KiB):\n%s", target, out[max(0, len(out)-4096):])
		}
	})

	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true, // as the API server's webhook client
		MaxIdleConnsPerHost: 100,
	}}
	base := "https://127.0.0.1:" + port
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Ready: the certificate loaded (ours: and the class cache synced).
		resp, err := client.Get(base + readyPath)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s not ready: %v", target, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return base + mutatePath, client, benchProc{pid: cmd.Process.Pid}
}

func send(client *http.Client, url string, body []byte) (time.Duration, error) {
	start := time.Now()
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	rb, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(rb, []byte(`"patchType":"JSONPatch"`)) {
		return 0, fmt.Errorf("status %d, body %.600s", resp.StatusCode, rb)
	}
	return d, nil
}

// benchResult is one load run's figures.
type benchResult struct {
	rps, cpuMS, p50, p99, idleRSS, rss, peakRSS float64
}

// report reports the run's latencies and the server's figures (cpu0 is its
// CPU time when the run started), and returns them.
func report(b *testing.B, lat []time.Duration, errs int, firstErr error, elapsed time.Duration, idle float64, proc benchProc, cpu0 time.Duration) benchResult {
	b.Helper()
	if len(lat) == 0 {
		b.Fatalf("no successful request (%d errors, the first: %v)", errs, firstErr)
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	cur, peak := proc.rss()
	r := benchResult{
		rps:   float64(len(lat)) / elapsed.Seconds(),
		cpuMS: float64((proc.cpu() - cpu0).Microseconds()) / 1000 / float64(len(lat)),
		p50:   q(0.50), p99: q(0.99), idleRSS: idle, rss: cur, peakRSS: peak,
	}
	b.ReportMetric(r.rps, "req/s")
	b.ReportMetric(r.cpuMS, "server-cpu-ms/req")
	b.ReportMetric(r.p50, "p50-ms")
	b.ReportMetric(r.p99, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(errs), "errors")
	b.ReportMetric(idle, "server-idle-rss-MiB")
	b.ReportMetric(cur, "server-rss-MiB")
	b.ReportMetric(proc.status("RssAnon"), "server-anon-MiB")
	b.ReportMetric(peak, "server-peak-rss-MiB")
	if errs > 0 {
		b.Errorf("%d requests failed, the first: %v", errs, firstErr)
	}
	return r
}

// benchDuration bounds each load run (WEBHOOK_BENCH_SECONDS overrides 5).
func benchDuration() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("WEBHOOK_BENCH_SECONDS")); err == nil && s > 0 && s <= 60 {
		return time.Duration(s) * time.Second
	}
	return 5 * time.Second
}

// benchRounds is how many times each target runs, alternating
// (WEBHOOK_BENCH_ROUNDS overrides 1): on a shared machine the spread
// between rounds says how far one round's ratio can be trusted.
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("WEBHOOK_BENCH_ROUNDS")); err == nil && n > 0 && n <= 10 {
		return n
	}
	return 1
}

// A loadFunc sends body to url for d, and returns the latencies of the
// answers that succeeded, the number that failed and the first failure.
type loadFunc func(client *http.Client, url string, body []byte, d time.Duration) (lat []time.Duration, errs int, firstErr error)

// sideBySide runs load against every target, alternating for benchRounds,
// after warm requests, and reports each round's ratios of ours to the
// anchor's.
func sideBySide(b *testing.B, warm int, openLoop bool, load loadFunc) {
	targets := benchTargets()
	pinAwayFrom(b, benchCPU(b))
	for round := 1; round <= benchRounds(); round++ {
		got := map[benchTarget]benchResult{}
		for _, t := range targets {
			b.Run("server="+string(t), func(b *testing.B) { got[t] = runLoad(b, t, warm, load) })
		}
		ours, okOurs := got[targetOurs]
		vault, okVault := got[targetVault]
		if !okOurs || !okVault || vault.rps == 0 || ours.p99 == 0 || ours.cpuMS == 0 {
			continue
		}
		// A row of its own, so that the ratios print beside the figures.
		b.Run("ratio=asi-webhook/vault-k8s", func(b *testing.B) {
			b.ReportMetric(ours.rps/vault.rps, "throughput-x")
			b.ReportMetric(vault.p99/ours.p99, "p99-x-lower")
			b.ReportMetric(vault.cpuMS/ours.cpuMS, "cpu-x-lower")
			b.ReportMetric(vault.rss/ours.rss, "rss-x-lower")
			// Above the transport both stand on: what each server's own
			// work adds to the floor's p99 and CPU, at a load all three
			// meet (open loop: closed-loop figures are at three loads).
			if floor, ok := got[targetFloor]; ok && openLoop {
				above := func(unit string, o, v, f, margin float64) {
					if o-f < margin || v-f < margin {
						b.Logf("round %d: no %s above the floor: ours %.3f, vault-k8s %.3f, floor %.3f", round, unit, o, v, f)
						return
					}
					b.ReportMetric((v-f)/(o-f), unit)
				}
				above("p99-above-floor-x-lower", ours.p99, vault.p99, floor.p99, 0.05)
				above("cpu-above-floor-x-lower", ours.cpuMS, vault.cpuMS, floor.cpuMS, 0.01)
			}
			b.Logf("round %d: %.0f vs %.0f req/s, p99 %.2f vs %.2f ms, CPU per request %.3f vs %.3f ms, "+
				"RSS ready %.1f vs %.1f MiB, under load %.1f vs %.1f MiB",
				round, ours.rps, vault.rps, ours.p99, vault.p99, ours.cpuMS, vault.cpuMS,
				ours.idleRSS, vault.idleRSS, ours.rss, vault.rss)
		})
	}
}

// runLoad starts the target, sends it warm requests, runs load for
// benchDuration and reports the run. b.N is not used: one bounded run.
func runLoad(b *testing.B, target benchTarget, warm int, load loadFunc) benchResult {
	url, client, proc := benchServer(b, target)
	idle, _ := proc.rss()
	body := targetBody(b, target)
	for range warm {
		if _, err := send(client, url, body); err != nil {
			b.Fatal(err)
		}
	}
	// The generator's own garbage collection stays out of the figures: it
	// collects before the run, and during it only past a 1 GiB heap
	// (client-gcs counts the cycles that happened anyway). Its pauses were
	// in both servers' latencies alike, the faster server's share the larger.
	runtime.GC()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	b.ResetTimer()
	self := benchProc{pid: os.Getpid()} // the load generator
	cpu0, self0, gcs0 := proc.cpu(), self.cpu(), gcCycles()
	start := time.Now()
	lat, errs, firstErr := load(client, url, body, benchDuration())
	b.StopTimer()
	elapsed := time.Since(start)
	// The generator's own CPU: near a core's worth a second, it, not the
	// server, bounds a closed-loop run.
	b.ReportMetric((self.cpu()-self0).Seconds()/elapsed.Seconds(), "client-cores")
	b.ReportMetric(float64(gcCycles()-gcs0), "client-gcs")
	return report(b, lat, errs, firstErr, elapsed, idle, proc, cpu0)
}

// BenchmarkAdmissionTLS500RPS: open-loop load at 500 requests a second over
// loopback TLS (HTTP/2) for a bounded time, after 50 requests that warm the
// connection; each request is a pod that gets mutated; ours, the anchor
// vault-k8s and the floor in turn.
func BenchmarkAdmissionTLS500RPS(b *testing.B) {
	sideBySide(b, 50, true, func(client *http.Client, url string, body []byte, d time.Duration) ([]time.Duration, int, error) {
		const rate = 500
		total := int(d.Seconds() * rate)
		lat := make([]time.Duration, 0, total)
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := 0
		var firstErr error
		start := time.Now()
		for i := range total {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
			wg.Go(func() {
				l, err := send(client, url, body)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs++
					firstErr = cmp.Or(firstErr, err)
					return
				}
				lat = append(lat, l)
			})
		}
		wg.Wait()
		return lat, errs, firstErr
	})
}

// BenchmarkAdmissionTLSSaturation: 32 closed-loop clients as fast as the
// server answers, for a bounded time; ours, the anchor vault-k8s and the
// floor in turn.
func BenchmarkAdmissionTLSSaturation(b *testing.B) {
	sideBySide(b, 0, false, func(client *http.Client, url string, body []byte, d time.Duration) ([]time.Duration, int, error) {
		const workers = 32
		var mu sync.Mutex
		var wg sync.WaitGroup
		var lat []time.Duration
		errs := 0
		var firstErr error
		start := time.Now()
		for range workers {
			wg.Go(func() {
				var mine []time.Duration
				bad := 0
				var myErr error
				for time.Since(start) < d {
					l, err := send(client, url, body)
					if err != nil {
						bad++
						myErr = cmp.Or(myErr, err)
						continue
					}
					mine = append(mine, l)
				}
				mu.Lock()
				lat = append(lat, mine...)
				errs += bad
				firstErr = cmp.Or(firstErr, myErr)
				mu.Unlock()
			})
		}
		wg.Wait()
		return lat, errs, firstErr
	})
}

// BenchmarkHandle: the admission handler alone (decode, mutate, patch), no HTTP.
func BenchmarkHandle(b *testing.B) {
	cfg := testConfig()
	cfg.Specs = NewSpecCache(16)
	h := &Handler{Config: cfg, Lookups: testLookups()}
	raw := review(b, admissionv1.Create, podKind, "apps", testPod(nil))
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &ar); err != nil {
		b.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: *ar.Request}
	b.ReportAllocs()
	for b.Loop() {
		if resp := h.Handle(context.Background(), req); len(resp.Patch) == 0 {
			b.Fatal("no patch")
		}
	}
}
