//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// read returns a file's content, failing the test when it cannot be read.
func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

// mountID is the mount ID of the mount at p (0 when none): a first publish
// from scratch would mount anew and change it.
func mountID(t *testing.T, p string) int {
	t.Helper()
	m, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(p))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 {
		return 0
	}
	return m[0].ID
}

// testAWSOutage: AWS answers 503 to everything, then drops every connection,
// for several refresh intervals while the kubelet keeps republishing. The
// files stay as they were and readable, each failed refresh is counted
// (refresh_failures_total{reason="AWSUnavailable"}) and said in a
// SecretRefreshFailed Event; when AWS is back the next refresh brings the new
// value into the same mount, without a publish from scratch.
//
// FAULTS_OUTAGE_INTERVALS (default 4) is the outage's length in refresh intervals.
func testAWSOutage(t *testing.T, c *cluster) {
	intervals := envInt(t, "FAULTS_OUTAGE_INTERVALS", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const ns, pod = "faults-aws", "outage"
	c.namespace(ctx, t, ns, map[string]string{"outage": valueClass("faults/outage")})
	c.putSecret(t, "faults/outage", "outage-value-1")
	// A refresh gives up after 2s, so the battery sees several an interval.
	n := c.newNode(t, []string{"--fetch-timeout", "2s"}, "outage-value-")
	n.start(ctx)
	if err := n.publish(ctx, ns, pod, "outage", true); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(n.target(pod), "value")
	mounted := mountID(t, n.target(pod))

	// AWS has a new value, and is down, from the moment a refresh is due: 503,
	// then no answer at all.
	c.putSecret(t, "faults/outage", "outage-value-2")
	time.Sleep(interval)
	began := time.Now()
	outage := time.Duration(intervals) * interval
	var republishes int
	for phase, f := range []fakeaws.Fault{
		{API: "*", ErrorCode: "ServiceUnavailable", Status: 503, Message: "injected outage"},
		{API: "*", Drop: true},
	} {
		id := c.aws.SetFault(f)
		for time.Since(began) < time.Duration(phase+1)*outage/2 {
			if err := n.publish(ctx, ns, pod, "outage", true); err != nil {
				t.Fatalf("republish during the outage: %v (the kubelet would retry it; the files must simply stay)", err)
			}
			republishes++
			if got := read(t, file); got != "outage-value-1" {
				t.Fatalf("during the outage the file holds %q", got)
			}
			time.Sleep(500 * time.Millisecond)
		}
		c.aws.RemoveFault(id)
	}
	failures := n.metric(ctx, "refresh_failures_total", `reason="AWSUnavailable"`)
	if failures < float64(intervals) {
		t.Errorf("%v failed refreshes counted over %d intervals, want at least one an interval", failures, intervals)
	}
	msg := c.waitEvent(ctx, t, ns, pod, mounter.EventSecretRefreshFailed, "AWSUnavailable", "keeping the previous files")
	if strings.Contains(msg, "outage-value") {
		t.Errorf("the event holds the value: %s", msg)
	}

	// AWS is back: the next refresh (a quarter interval after the last
	// attempt) brings the new value.
	back := time.Now()
	for read(t, file) != "outage-value-2" {
		if time.Since(back) > 2*interval {
			t.Fatalf("no refresh in %s after AWS came back", 2*interval)
		}
		time.Sleep(250 * time.Millisecond)
		if err := n.publish(ctx, ns, pod, "outage", true); err != nil {
			t.Fatal(err)
		}
	}
	recovered := time.Since(back)
	if got := n.metric(ctx, "publishes_total", `outcome="mounted"`); got != 1 {
		t.Errorf("%v first publishes, want 1: the recovery published from scratch", got)
	}
	if got := mountID(t, n.target(pod)); got != mounted {
		t.Errorf("the target's mount changed (%d -> %d): the recovery published from scratch", mounted, got)
	}
	if got := n.metric(ctx, "rotations_total", ""); got != 1 {
		t.Errorf("rotations_total %v, want 1", got)
	}
	t.Logf("AWS outage: %s (%d refresh intervals: 503, then dropped connections), %d republishes answered OK with the files kept, "+
		"%v failed refreshes (AWSUnavailable), SecretRefreshFailed event %q; new value served %s after AWS came back, same mount",
		outage, intervals, republishes, failures, msg, recovered.Round(time.Millisecond))
	if err := n.unpublish(ctx, ns, pod); err != nil {
		t.Error(err)
	}
}

// testTmpfsFull: a rotation whose new set does not fit the volume (a secret
// that grew past --tmpfs-size) keeps the old set, counts the refresh as
// failed with reason WriteFailed, says so (and to raise the size) in the
// Event, and leaves no partial generation; a set that fits again is written
// on the next refresh.
func testTmpfsFull(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const ns, pod = "faults-full", "full"
	c.namespace(ctx, t, ns, map[string]string{"grow": "- objectName: faults/grow\n  objectType: secretsmanager\n  objectAlias: whole\n  jmesPath:\n    - {path: blob, objectAlias: blob}\n"})
	value := func(tag string, size int) string {
		return fmt.Sprintf(`{"blob":"grow-value-%s-%s"}`, tag, strings.Repeat("y", size))
	}
	c.putSecret(t, "faults/grow", value("small", 100))
	n := c.newNode(t, []string{"--tmpfs-size", "64Ki"}, "grow-value-")
	n.start(ctx)
	if err := n.publish(ctx, ns, pod, "grow", false); err != nil {
		t.Fatal(err)
	}
	target := n.target(pod)
	before := read(t, filepath.Join(target, "blob"))

	// 2 files of 40 KiB: more than the 64 KiB tmpfs holds.
	c.putSecret(t, "faults/grow", value("big", 40<<10))
	time.Sleep(interval)
	if err := n.publish(ctx, ns, pod, "grow", false); err != nil {
		t.Fatalf("republish of a set that does not fit: %v (the files must simply stay)", err)
	}
	if got := read(t, filepath.Join(target, "blob")); got != before {
		t.Errorf("after the failed write blob holds %d bytes, want the old %d", len(got), len(before))
	}
	if got := n.metric(ctx, "refresh_failures_total", `reason="WriteFailed"`); got != 1 {
		t.Errorf("refresh_failures_total{reason=WriteFailed} %v, want 1", got)
	}
	msg := c.waitEvent(ctx, t, ns, pod, mounter.EventSecretRefreshFailed, "WriteFailed", "keeping the previous files")
	if !strings.Contains(msg, "size") {
		t.Errorf("the event does not say to raise the volume size: %s", msg)
	}
	sts := n.stagings()
	if len(sts) != 1 {
		t.Fatalf("staging dirs %v", sts)
	}
	if l := leftovers(sts[0]); len(l) > 0 {
		t.Errorf("the failed write left %q", l)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(sts[0], &st); err != nil {
		t.Fatal(err)
	}
	used := (st.Blocks - st.Bfree) * uint64(st.Bsize)
	if used > 16<<10 {
		t.Errorf("%d bytes in use after the failed write: its partial generation was not removed", used)
	}

	// A set that fits: written on the next refresh.
	c.putSecret(t, "faults/grow", value("medium", 10<<10))
	time.Sleep(interval / 4)
	if err := n.publish(ctx, ns, pod, "grow", false); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(target, "blob")); !strings.HasPrefix(got, "grow-value-medium-") {
		t.Errorf("after the secret shrank blob holds %d bytes of %q...", len(got), got[:min(len(got), 20)])
	}
	t.Logf("tmpfs full: a 2x40 KiB set on a 64 KiB tmpfs refused with reason WriteFailed, old set kept, %d bytes in use after the failure, event %q; a 2x10 KiB set written on the next refresh",
		used, msg)
	if err := n.unpublish(ctx, ns, pod); err != nil {
		t.Error(err)
	}
}

// testAPIServerDown: with the API server unreachable, a first publish of a
// class the node has not read yet fails at once with Unavailable (retryable:
// the kubelet retries) naming what it could not read, and leaves nothing
// behind; a refresh of a served volume reads its class and ServiceAccount
// from the node's watches (the mounter watches each object its volumes read)
// and serves AWS's new value, with no KubernetesAPI failure. When the API
// server is back, the retried publish succeeds, and so do later refreshes.
func testAPIServerDown(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const ns = "faults-api"
	// "api-new" exists before the outage, but no volume of the node reads it until then.
	c.namespace(ctx, t, ns, map[string]string{"api": valueClass("faults/api"), "api-new": valueClass("faults/api")})
	c.putSecret(t, "faults/api", "api-value-1")
	n := c.newNode(t, nil, "api-value-")
	n.start(ctx)
	if err := n.publish(ctx, ns, "served", "api", true); err != nil {
		t.Fatal(err)
	}
	served := filepath.Join(n.target("served"), "value")
	// The publish read the class and the ServiceAccount with GETs and started
	// their watches: wait until both have listed.
	for begin := time.Now(); n.metric(ctx, "kube_cache_synced_objects", `resource="secretproviderclasses"`) != 1 ||
		n.metric(ctx, "kube_cache_synced_objects", `resource="serviceaccounts"`) != 1; {
		if time.Since(begin) > 20*time.Second {
			t.Fatal("the watches of the served volume's class and ServiceAccount did not list in 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	n.api.Down()
	// First publish of a class the node has not read: Unavailable, fast, nothing left.
	start := time.Now()
	err := n.publish(ctx, ns, "new", "api-new", true)
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "SecretProviderClass") {
		t.Fatalf("first publish with the API server down: %v, want Unavailable naming the SecretProviderClass read", err)
	}
	if took > 15*time.Second {
		t.Errorf("the failed publish took %s", took)
	}
	if _, err := os.Stat(n.target("new")); !os.IsNotExist(err) {
		t.Errorf("the failed publish left its target: %v", err)
	}
	if sts := n.stagings(); len(sts) != 1 {
		t.Errorf("staging dirs after the failed publish: %v", sts)
	}
	if got := n.metric(ctx, "publish_failures_total", `reason="KubernetesAPI"`); got != 1 {
		t.Errorf("publish_failures_total{reason=KubernetesAPI} %v, want 1", got)
	}
	// Refresh: the class and ServiceAccount come from the watches, the new value from AWS.
	c.putSecret(t, "faults/api", "api-value-2")
	time.Sleep(interval)
	if err := n.publish(ctx, ns, "served", "api", true); err != nil {
		t.Fatalf("republish with the API server down: %v", err)
	}
	if got := read(t, served); got != "api-value-2" {
		t.Errorf("after a refresh with the API server down the file holds %q, want the new value", got)
	}
	if got := n.metric(ctx, "refresh_failures_total", `reason="KubernetesAPI"`); got != 0 {
		t.Errorf("refresh_failures_total{reason=KubernetesAPI} %v, want 0: the refresh reads from the watches", got)
	}
	if got := n.metric(ctx, "rotations_total", ""); got != 1 {
		t.Errorf("rotations_total %v, want 1", got)
	}

	// Back: the kubelet's retry of the first publish works, and later refreshes.
	if err := n.api.Up(); err != nil {
		t.Fatal(err)
	}
	if err := n.publish(ctx, ns, "new", "api-new", true); err != nil {
		t.Fatalf("retried publish with the API server back: %v", err)
	}
	if got := read(t, filepath.Join(n.target("new"), "value")); got != "api-value-2" {
		t.Errorf("new volume holds %q", got)
	}
	c.putSecret(t, "faults/api", "api-value-3")
	time.Sleep(interval)
	if err := n.publish(ctx, ns, "served", "api", true); err != nil {
		t.Fatal(err)
	}
	if got := read(t, served); got != "api-value-3" {
		t.Errorf("after the API server came back the refresh left %q", got)
	}
	t.Logf("API server down: first publish of an unread class failed in %s with %s (%v); the served volume's refresh read from the watches and served the new value; both fine once it was back",
		took.Round(time.Millisecond), status.Code(err), err)
	for _, pod := range []string{"served", "new"} {
		if err := n.unpublish(ctx, ns, pod); err != nil {
			t.Error(err)
		}
	}
}

// testRestartWithLiveVolumes: a mounter serving many volumes is restarted (a
// DaemonSet rolling update: SIGTERM, a new process); the new one restores
// every volume, every file stays readable, and each volume unpublishes.
//
// FAULTS_VOLUMES (default 100) volumes.
func testRestartWithLiveVolumes(t *testing.T, c *cluster) {
	volumes := envInt(t, "FAULTS_VOLUMES", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const ns = "faults-restart"
	c.namespace(ctx, t, ns, map[string]string{"many": valueClass("faults/many")})
	c.putSecret(t, "faults/many", "many-value-1")
	n := c.newNode(t, nil, "many-value-")
	n.start(ctx)
	pod := func(i int) string { return fmt.Sprintf("live-%03d", i) }
	start := time.Now()
	for i := range volumes {
		if err := n.publish(ctx, ns, pod(i), "many", i%2 == 0); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	published := time.Since(start)
	mounts := mountsUnder(n.dir)
	if mounts != 2*volumes {
		t.Errorf("%d mounts for %d volumes, want 2 each", mounts, volumes)
	}

	n.stop()
	// While no mounter runs, the pods still read their files.
	for i := range volumes {
		if got := read(t, filepath.Join(n.target(pod(i)), "value")); got != "many-value-1" {
			t.Fatalf("%s with the mounter down: %q", pod(i), got)
		}
	}
	ready := n.start(ctx)
	if got := n.metric(ctx, "volumes", ""); int(got) != volumes {
		t.Errorf("%v volumes restored, want %d", got, volumes)
	}
	for i := range volumes {
		if got := read(t, filepath.Join(n.target(pod(i)), "value")); got != "many-value-1" {
			t.Errorf("%s after the restart: %q", pod(i), got)
		}
	}
	for _, st := range n.stagings() {
		if l := leftovers(st); len(l) > 0 {
			t.Errorf("%s after the restart: %q", st, l)
		}
	}
	start = time.Now()
	for i := range volumes {
		if err := n.unpublish(ctx, ns, pod(i)); err != nil {
			t.Errorf("unpublish %s: %v", pod(i), err)
		}
		if _, err := os.Stat(n.target(pod(i))); !os.IsNotExist(err) {
			t.Errorf("%s target after unpublish: %v", pod(i), err)
		}
	}
	unpublished := time.Since(start)
	if m := mountsUnder(n.dir); m != 0 {
		t.Errorf("%d mounts left after unpublishing every volume", m)
	}
	if got := n.metric(ctx, "volumes", ""); got != 0 {
		t.Errorf("%v volumes served after unpublishing every one", got)
	}
	if sts := n.stagings(); len(sts) != 0 {
		t.Errorf("%d staging dirs left", len(sts))
	}
	t.Logf("restart with %d live volumes (%d mounts): published in %s; SIGTERM and a new process ready (every volume restored) in %s; every file readable throughout; unpublished in %s",
		volumes, mounts, published.Round(time.Millisecond), ready.Round(time.Millisecond), unpublished.Round(time.Millisecond))
}

// valueClass is the objects parameter of a class that writes one Secrets
// Manager secret to the file "value".
func valueClass(secret string) string {
	return "- objectName: " + secret + "\n  objectType: secretsmanager\n  objectAlias: value\n"
}
