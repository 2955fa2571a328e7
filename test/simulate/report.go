package simulate

import (
	"fmt"
	"strings"
	"time"
)

// Table renders results as a Markdown table: per API the admitted calls a
// second (the busiest second against the quota), the throttled attempts, and
// the staleness a rotated secret had until every pod's files held it.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| polling | GetSecretValue/s | BatchGetSecretValue/s | DescribeSecret/s | GetParameters/s | throttled | failed refreshes | staleness p50 | p99 | max | undelivered at the end |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s |", r.Mode)
		for _, api := range APIs {
			a := r.APIs[api]
			fmt.Fprintf(&b, " %s (peak %d%% of %s) |", num(a.PerSecond), pct(a.Peak, a.Quota), num(float64(a.Quota)))
		}
		thr := 0
		for _, a := range r.APIs {
			thr += a.Throttled
		}
		fmt.Fprintf(&b, " %d of %d attempts (%.1f%%) | %d of %d (%.2f%%) | %s | %s | %s | %d of %d |\n",
			thr, r.Attempts, share(thr, r.Attempts), r.Failed, r.Refreshes, share(r.Failed, r.Refreshes),
			dur(r.P50), dur(r.P99), dur(r.Max), r.Undelivered, r.Samples+r.Undelivered)
	}
	return b.String()
}

func pct(n, of int) int {
	if of == 0 {
		return 0
	}
	return int(float64(n)*100/float64(of) + 0.5)
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 100 / float64(of)
}

func num(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

func dur(d time.Duration) string {
	return fmt.Sprintf("%.0f s", d.Seconds())
}

// Describe says in a line what was simulated.
func Describe(c Config) string {
	return fmt.Sprintf("%d nodes x %d pods x %d secrets (Secrets Manager), %d identities a node, %d pods an app; interval %s, "+
		"%.0f%% of secrets rotate an interval; kubelet sync %s; figures over %s after %s of warm-up; quotas x %.3g",
		c.Nodes, c.PodsPerNode, c.SecretsPerPod, c.IdentitiesPerNode, c.PodsPerApp, c.Interval, c.RotationShare*100,
		c.Sync, c.Measure, c.Warmup, float64(c.Nodes)/5000)
}
