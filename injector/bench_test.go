//go:build integration

package injector

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// BenchmarkInject execs the real binary as an init container would: IRSA
// credentials (one STS AssumeRoleWithWebIdentity) and K = 10 Secrets Manager
// objects, written into a fresh directory, then exit. It reports the wall time
// per run (ns/op), the child's peak RSS from its rusage (mean and max over the
// runs) and the binary's size, at 0 ms and 20 ms of injected latency on every
// AWS call; and, as a baseline, the same figures for `version`.
func BenchmarkInject(b *testing.B) {
	const k = 10
	bin := binary(b)
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	// Baseline: the same binary doing nothing (`version`): what any subcommand costs.
	b.Run("baseline=version", func(b *testing.B) {
		var peak int64
		for b.Loop() {
			cmd := exec.Command(bin, "version")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("version: %v %s", err, out)
			}
			peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
		}
		b.ReportMetric(float64(peak)/1024, "maxPeakRSS-MiB")
	})
	for _, latency := range []int{0, 20} {
		b.Run(fmt.Sprintf("K=%d/latency=%dms", k, latency), func(b *testing.B) {
			state := testState()
			for i := range k {
				state.Secrets = append(state.Secrets, fakeaws.Secret{
					Name: fmt.Sprintf("my-app/secret-%02d", i), Value: fmt.Sprintf(`{"n":%d,"pad":"%0128d"}`, i, i)})
			}
			fake := startFake(b, state)
			if latency > 0 {
				fake.SetFault(fakeaws.Fault{API: "*", LatencyMS: latency})
			}
			p := newPod(b, fake, kObjects(k))
			var rss []int64
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				mount := fmt.Sprintf("%s/run-%d", p.dir, i)
				must(b, os.Mkdir(mount, 0o777)) // 0777: the binary may run as nobody
				must(b, os.Chmod(mount, 0o777))
				env := append(slices.Clone(p.env), contract.EnvMountPath+"="+mount)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				cmd, _, stderr := p.command(ctx, b, "inject")
				cmd.Env = env
				b.StartTimer()
				err := cmd.Run()
				b.StopTimer()
				cancel()
				if err != nil {
					b.Fatalf("inject: %v\n%s", err, stderr)
				}
				rss = append(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) // KiB on Linux
				_ = os.RemoveAll(mount)
				b.StartTimer()
			}
			b.StopTimer()
			var sum, peak int64
			for _, r := range rss {
				sum += r
				peak = max(peak, r)
			}
			b.ReportMetric(float64(sum)/float64(len(rss))/1024, "peakRSS-MiB")
			b.ReportMetric(float64(peak)/1024, "maxPeakRSS-MiB")
			b.ReportMetric(float64(st.Size())/(1<<20), "binary-MiB")
			b.ReportMetric(float64(fake.Calls().Total)/float64(len(rss)), "AWScalls/op")
		})
	}
}
