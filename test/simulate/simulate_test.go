package simulate

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestSimulateTable runs the three ways of polling on one fleet and prints
// the table (`make simulate`). SIM_NODES sets the fleet's size (default 100
// here, 5,000 in make simulate; quotas scale with it). It asserts what the
// defaults promise: every API under its quota with margin, nothing throttled,
// no refresh failed, and every pod's files reach a rotation within an
// interval and a kubelet sync; and that the ways the mounter had before fail
// it at this scale, so the check can fail.
func TestSimulateTable(t *testing.T) {
	cfg := Default()
	cfg.Nodes = 100
	if s := os.Getenv("SIM_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SIM_NODES=%q: want a positive number", s)
		}
		cfg.Nodes = n
	}
	var results []Result
	for _, m := range []Mode{Revalidate, Batch, ASCP} {
		r, err := Run(cfg, m)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d refreshes, %d staleness samples, %s wall", m, r.Refreshes, r.Samples, r.Wall.Round(time.Millisecond))
		results = append(results, r)
	}
	t.Logf("\n%s\n\n%s", Describe(cfg), Table(results))

	ours := results[0]
	for api, a := range ours.APIs {
		if a.Throttled > 0 || float64(a.Peak) > 0.8*float64(a.Quota) {
			t.Errorf("%s: %s peaked at %d calls in a second (quota %d), %d throttled; want at most 80%% of the quota and none throttled",
				ours.Mode, api, a.Peak, a.Quota, a.Throttled)
		}
	}
	if ours.Failed > 0 {
		t.Errorf("%s: %d of %d refreshes failed", ours.Mode, ours.Failed, ours.Refreshes)
	}
	if limit := cfg.Interval + cfg.Sync; ours.Max > limit+time.Second {
		t.Errorf("%s: staleness max %s, want within the interval and a sync (%s)", ours.Mode, ours.Max, limit)
	}
	if ours.Undelivered > 0 {
		t.Errorf("%s: %d changes never reached their pods' files", ours.Mode, ours.Undelivered)
	}
	if ours.Samples == 0 {
		t.Error("no staleness samples: nothing rotated in the window")
	}
	if b := results[1].APIs[BatchGetSecretValue]; b.Throttled == 0 {
		t.Errorf("%s: BatchGetSecretValue never throttled (%.1f calls a second, quota %d): the model no longer shows why --revalidate is the default",
			results[1].Mode, b.PerSecond, b.Quota)
	}
}
