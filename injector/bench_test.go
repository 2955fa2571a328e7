//go:build integration

package injector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// benchK is the number of Secrets Manager objects of a measured fill, and
// benchLatencyMS the latency the fake adds to every AWS call: the issue's
// case, two round trips (STS AssumeRoleWithWebIdentity, one
// BatchGetSecretValue) = 40 ms of the wall time.
const (
	benchK         = 10
	benchLatencyMS = 20
)

// run is one measured execution of a binary.
type run struct {
	wall   time.Duration
	cpu    time.Duration // user + system
	rssKiB int64         // the child's VmHWM (ru_maxrss), KiB
	stderr string
}

// measure runs bin with args in p's environment plus env (given to the child
// only) through peakrss, which reports the child's exact peak RSS (see
// test/testbin/peakrss), and fails t when the binary exits non-zero.
func (p *pod) measure(t testing.TB, env []string, bin string, args ...string) run {
	t.Helper()
	res := filepath.Join(p.dir, "results", "r")
	_ = os.Remove(res)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	saved := p.bin
	p.bin = testbin.Path(t, "test/testbin/peakrss")
	argv := append(append([]string{res}, env...), bin)
	cmd, _, stderr := p.command(ctx, t, append(argv, args...)...)
	p.bin = saved
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, stderr)
	}
	b, err := os.ReadFile(res)
	must(t, err)
	f := strings.Fields(string(b))
	if len(f) != 4 {
		t.Fatalf("peakrss result %q", b)
	}
	wall, _ := strconv.ParseInt(f[0], 10, 64)
	rss, _ := strconv.ParseInt(f[1], 10, 64)
	own, _ := strconv.ParseInt(f[2], 10, 64)
	cpu, _ := strconv.ParseInt(f[3], 10, 64)
	if rss <= own {
		t.Fatalf("%s: peak RSS %d KiB not above peakrss's own %d KiB: not measurable", filepath.Base(bin), rss, own)
	}
	return run{wall: time.Duration(wall), cpu: time.Duration(cpu), rssKiB: rss, stderr: stderr.String()}
}

// benchPod is a pod for the case: IRSA, benchK objects, and the
// fake's latency fault on every call.
func benchPod(t testing.TB) (*pod, *fakeaws.Server) {
	t.Helper()
	state := testState()
	for i := range benchK {
		state.Secrets = append(state.Secrets, fakeaws.Secret{
			Name: fmt.Sprintf("my-app/secret-%02d", i), Value: fmt.Sprintf(`{"n":%d,"pad":"%0128d"}`, i, i)})
	}
	fake := startFake(t, state)
	fake.SetFault(fakeaws.Fault{API: "*", LatencyMS: benchLatencyMS})
	p := newPod(t, fake, kObjects(benchK))
	must(t, os.Mkdir(filepath.Join(p.dir, "results"), 0o777))
	must(t, os.Chmod(filepath.Join(p.dir, "results"), 0o777)) // the binary may run as nobody
	return p, fake
}

// fill runs one fill into a fresh mount directory and checks it: the files are
// there and the fill took exactly two AWS calls (STS, one batch). As root the
// directory is a tmpfs, as the pod's memory emptyDir is (a disk directory adds
// milliseconds of metadata writes that a pod does not pay).
func (p *pod) fill(t testing.TB, fake *fakeaws.Server, i int, bin string, args ...string) run {
	t.Helper()
	mount := fmt.Sprintf("%s/run-%d", p.dir, i)
	must(t, os.Mkdir(mount, 0o777)) // 0777: the binary may run as nobody
	defer func() { _ = os.RemoveAll(mount) }()
	if os.Geteuid() == 0 {
		must(t, syscall.Mount("tmpfs", mount, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=1m,mode=0777"))
		defer func() { _ = syscall.Unmount(mount, syscall.MNT_DETACH) }() // before the RemoveAll above
	}
	must(t, os.Chmod(mount, 0o777))
	fake.ResetCalls()
	r := p.measure(t, []string{contract.EnvMountPath + "=" + mount}, bin, args...)
	if files := readFiles(t, mount); len(files) != benchK {
		t.Fatalf("%s wrote %d files, want %d", filepath.Base(bin), len(files), benchK)
	}
	if st := fake.Calls(); st.Total != 2 || st.Count("sts:AssumeRoleWithWebIdentity", "") != 1 {
		t.Fatalf("%s made %d AWS calls, want 2 (STS, one batch): %+v", filepath.Base(bin), st.Total, st.Calls)
	}
	return r
}

// BenchmarkInject execs the real binaries as an init container would: IRSA
// credentials (one STS AssumeRoleWithWebIdentity) and K = 10 Secrets Manager
// objects, written into a fresh directory, then exit; the lean asi-inject and
// the full CLI's inject, at 0 ms and 20 ms of injected latency on every AWS
// call. It reports the wall time per run (ns/op), the child's exact peak RSS
// (peakrss; mean and max over the runs) and the binary's size; and, as a
// baseline, the full CLI's `version`. `make bench` also prints
// TestInjectBenchTable's percentiles.
func BenchmarkInject(b *testing.B) {
	full := fullCLI(b)
	b.Run("baseline=version", func(b *testing.B) {
		p, _ := benchPod(b)
		var peak int64
		for b.Loop() {
			peak = max(peak, p.measure(b, nil, full, "version").rssKiB)
		}
		b.ReportMetric(float64(peak)/1024, "maxPeakRSS-MiB")
	})
	for _, bin := range []string{binary(b), full} {
		st, err := os.Stat(bin)
		must(b, err)
		for _, latency := range []int{0, benchLatencyMS} {
			b.Run(fmt.Sprintf("bin=%s/K=%d/latency=%dms", filepath.Base(bin), benchK, latency), func(b *testing.B) {
				p, fake := benchPod(b)
				if latency == 0 {
					fake.ClearFaults()
				}
				var sum, peak, n int64
				var wall time.Duration
				for i := 0; b.Loop(); i++ {
					r := p.fill(b, fake, i, bin, "inject")
					sum += r.rssKiB
					peak = max(peak, r.rssKiB)
					wall += r.wall
					n++
				}
				b.ReportMetric(float64(wall.Nanoseconds())/float64(n), "wall-ns/op")
				b.ReportMetric(float64(sum)/float64(n)/1024, "peakRSS-MiB")
				b.ReportMetric(float64(peak)/1024, "maxPeakRSS-MiB")
				b.ReportMetric(float64(st.Size())/(1<<20), "binary-MiB")
			})
		}
	}
}

// TestInjectBenchTable measures the case with the real binaries: N
// runs (BENCH_RUNS, default 3, at most 200) of each, wall time p50/p99/min,
// CPU and peak RSS, package initialisations (GODEBUG=inittrace=1: their
// number and when the last one ended) and the binary's size, beside the
// figures the issue measured before the lean binaries. BENCH_BASELINE=PATH
// adds rows for another build of the full CLI (e.g. of an older commit), run
// interleaved under the same load. It checks every run's files and AWS calls;
// the figures are printed (go test -v), never asserted: the machine's load
// moves them (wall minus the 40 ms of latency is CPU plus waiting for a CPU).
func TestInjectBenchTable(t *testing.T) {
	runs := 3
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			t.Fatalf("BENCH_RUNS=%q: want 1..200", v)
		}
		runs = n
	}
	p, fake := benchPod(t)
	lean, full := binary(t), fullCLI(t)
	type benchRow struct {
		name, bin string
		args      []string
		fill      bool
		// the runs' figures
		walls, cpus []time.Duration
		rss         []int64
	}
	rows := []*benchRow{
		{name: "asi-inject inject", bin: lean, args: []string{"inject"}, fill: true},
		{name: "aws-secrets-injector inject", bin: full, args: []string{"inject"}, fill: true},
		{name: "asi-inject --check (probe)", bin: lean, args: []string{"--check"}},
		{name: "aws-secrets-injector inject --check", bin: full, args: []string{"inject", "--check"}},
		{name: "aws-secrets-injector version", bin: full, args: []string{"version"}},
	}
	if base := os.Getenv("BENCH_BASELINE"); base != "" {
		rows = append(rows,
			&benchRow{name: "BENCH_BASELINE inject", bin: base, args: []string{"inject"}, fill: true},
			&benchRow{name: "BENCH_BASELINE version", bin: base, args: []string{"version"}})
	}
	// The probe needs a filled directory: the pod's own mount.
	p.measure(t, nil, lean, "inject")
	// Interleaved, so that a change of the machine's load hits every row alike.
	for i := range runs {
		for _, row := range rows {
			var r run
			if row.fill {
				r = p.fill(t, fake, i, row.bin, row.args...)
			} else {
				r = p.measure(t, nil, row.bin, row.args...)
			}
			row.walls = append(row.walls, r.wall)
			row.cpus = append(row.cpus, r.cpu)
			row.rss = append(row.rss, r.rssKiB)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Injector: K=%d Secrets Manager objects, IRSA, %d ms per AWS call (fake AWS on loopback), %d runs each\n", benchK, benchLatencyMS, runs)
	const format = "%-36s %9s %9s %9s %9s %11s %11s %6s %9s %8s\n"
	fmt.Fprintf(&b, format, "command", "wall p50", "wall p99", "wall min", "CPU p50", "RSS p50", "RSS max", "inits", "last init", "binary")
	fmt.Fprintf(&b, format, "issue, before: inject", "100 ms", "", "", "", "44 MB", "", "380", "@50 ms", "63 MB")
	fmt.Fprintf(&b, format, "issue, before: version", "", "", "", "", "40-42 MB", "", "", "", "63 MB")
	for _, row := range rows {
		traced := p.measure(t, []string{"GODEBUG=inittrace=1"}, row.bin, row.args...)
		inits, last := initTrace(traced.stderr)
		st, err := os.Stat(row.bin)
		must(t, err)
		slices.Sort(row.walls)
		slices.Sort(row.cpus)
		slices.Sort(row.rss)
		fmt.Fprintf(&b, "%-36s %6.1f ms %6.1f ms %6.1f ms %6.1f ms %7.1f MiB %7.1f MiB %6d %6.1f ms %5.1f MB\n", row.name,
			ms(percentile(row.walls, 50)), ms(percentile(row.walls, 99)), ms(row.walls[0]), ms(percentile(row.cpus, 50)),
			float64(percentile(row.rss, 50))/1024, float64(row.rss[len(row.rss)-1])/1024, inits, last, float64(st.Size())/1e6)
	}
	fmt.Fprintf(&b, "(p99 of %d runs is their maximum below 100 runs; CPU is user+system time; RSS is the child's VmHWM;\n binary MB = 10^6 bytes; last init = when the last package initialiser ended, one traced run)\n", runs)
	if testing.Verbose() {
		fmt.Print(b.String())
	}
}

// initTrace counts the "init PKG @T ms, ..." lines of GODEBUG=inittrace=1 and
// returns the end of the last one (its start plus its clock time), in ms.
func initTrace(stderr string) (n int, lastMS float64) {
	for _, line := range strings.Split(stderr, "\n") {
		f := strings.Fields(line)
		// init PKG @12 ms, 0.5 ms clock, ...
		if len(f) < 6 || f[0] != "init" || !strings.HasPrefix(f[2], "@") {
			continue
		}
		at, err1 := strconv.ParseFloat(strings.TrimPrefix(f[2], "@"), 64)
		clock, err2 := strconv.ParseFloat(f[4], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		n++
		lastMS = max(lastMS, at+clock)
	}
	return n, lastMS
}

// percentile is the nearest-rank q-th percentile of sorted (non-empty) xs.
func percentile[T any](sorted []T, q int) T {
	i := (q*len(sorted) + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
