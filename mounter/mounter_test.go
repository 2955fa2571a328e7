//go:build integration

package mounter_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// requireRoot fails (under CI) or skips (elsewhere) when mounts are impossible.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the mounter tests mount tmpfs and need root; CI runs as root")
		}
		t.Skip("needs root to mount tmpfs")
	}
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock          { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) {
	c.ns.Add(int64(d))
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func code(err error) codes.Code { return status.Code(err) }

func TestPublishSeedClassReadOnlyTmpfs(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{CacheTTL: time.Minute})
	ctx := context.Background()
	req := e.PublishRequest("pod-a", mountertest.SAApp, mountertest.SeedClass)
	if _, err := e.Node.NodePublishVolume(ctx, req); err != nil {
		t.Fatalf("publish: %v", err)
	}
	target := req.TargetPath
	if got := readFile(t, filepath.Join(target, "db-user")); got != "admin" {
		t.Errorf("db-user = %q", got)
	}
	if got := readFile(t, filepath.Join(target, "db-password")); got != "supersecretpassword" {
		t.Errorf("db-password = %q", got)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		t.Errorf("target filesystem type %#x, want tmpfs", st.Type)
	}
	for _, f := range []struct {
		flag int64
		name string
	}{{unix.ST_RDONLY, "ro"}, {unix.ST_NOSUID, "nosuid"}, {unix.ST_NODEV, "nodev"}, {unix.ST_NOEXEC, "noexec"}} {
		if st.Flags&f.flag == 0 {
			t.Errorf("target not mounted %s (flags %#x)", f.name, st.Flags)
		}
	}
	err := os.WriteFile(filepath.Join(target, "x"), []byte("x"), 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("write into target: %v, want EROFS", err)
	}
	// The state file holds no secret.
	matches, _ := filepath.Glob(filepath.Join(e.PluginDir, "volumes", "*", "state.json"))
	if len(matches) != 1 {
		t.Fatalf("state files: %v", matches)
	}
	if s := readFile(t, matches[0]); strings.Contains(s, "supersecret") || strings.Contains(s, "admin") || strings.Contains(s, "eyJ") {
		t.Errorf("state file leaks secret material: %s", s)
	}

	// Republish within the interval: no AWS call.
	before := e.SecretCalls()
	if _, err := e.Node.NodePublishVolume(ctx, e.PublishRequest("pod-a", mountertest.SAApp, mountertest.SeedClass)); err != nil {
		t.Fatalf("republish: %v", err)
	}
	if n := e.SecretCalls() - before; n != 0 {
		t.Errorf("republish within the interval made %d AWS calls", n)
	}

	if err := e.Unpublish(ctx, "pod-a"); err != nil {
		t.Fatalf("unpublish: %v", err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("target still there after unpublish: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.PluginDir, "volumes")); len(ents) != 0 {
		t.Errorf("volume dirs left: %d", len(ents))
	}
	if err := e.Unpublish(ctx, "pod-a"); err != nil {
		t.Errorf("second unpublish: %v", err)
	}
	if e.Driver.Volumes() != 0 {
		t.Errorf("driver still serves %d volumes", e.Driver.Volumes())
	}
}

func TestAccessDeniedDespiteCache(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{CacheTTL: time.Hour})
	ctx := context.Background()
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatalf("pod A: %v", err)
	}
	_, err := e.Node.NodePublishVolume(ctx, e.PublishRequest("pod-b", mountertest.SAOther, mountertest.SeedClass))
	if code(err) != codes.PermissionDenied {
		t.Fatalf("pod B with another role: %v, want PermissionDenied", err)
	}
	if !strings.Contains(err.Error(), "access denied") {
		t.Errorf("message does not say access denied: %v", err)
	}
	if strings.Contains(err.Error(), "supersecret") {
		t.Errorf("error leaks the value: %v", err)
	}
	if ok, evs := e.HasEvent(mounter.EventAccessDenied); !ok {
		t.Errorf("no AccessDenied event: %v", evs)
	}
	if _, err := os.Stat(e.Target("pod-b")); !os.IsNotExist(err) {
		t.Errorf("pod B target left behind: %v", err)
	}
	if n := e.Driver.Volumes(); n != 1 {
		t.Errorf("volumes = %d, want 1", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.PluginDir, "volumes")); len(ents) != 1 {
		t.Errorf("volume dirs = %d, want 1 (nothing half-mounted for pod B)", len(ents))
	}
}

func TestNodeIdentityPolicy(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	e := mountertest.Start(t, mountertest.Options{})
	_, err := e.Node.NodePublishVolume(ctx, e.PublishRequest("pod-plain", mountertest.SAPlain, mountertest.SeedClass))
	if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), identity.AnnotationRoleARN) || !strings.Contains(err.Error(), "--node-identity") {
		t.Fatalf("pod without role: %v, want PermissionDenied naming the annotation and the operator option", err)
	}
	if n := e.AWS.Calls().Total; n != 0 {
		t.Errorf("refused pod still made %d AWS calls", n)
	}
	if ok, evs := e.HasEvent(mounter.EventAccessDenied); !ok {
		t.Errorf("no AccessDenied event: %v", evs)
	}

	f := mountertest.Start(t, mountertest.Options{NodeIdentity: identity.NodeFallback})
	if err := f.Publish(ctx, "pod-plain", mountertest.SAPlain, mountertest.SeedClass); err != nil {
		t.Fatalf("fallback policy: %v", err)
	}
	if got := readFile(t, filepath.Join(f.Target("pod-plain"), "db-user")); got != "admin" {
		t.Errorf("db-user = %q", got)
	}
	if n := f.AWS.Calls().ByPrincipal["arn:aws:iam::111122223333:user/node"]; n == 0 {
		t.Errorf("node identity not used: %+v", f.AWS.Calls().ByPrincipal)
	}
}

func TestConcurrentPublishesShareOneFetch(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{CacheTTL: time.Minute})
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.Publish(ctx, podName(i), mountertest.SAApp, mountertest.SeedClass)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	calls := e.AWS.Calls().Total
	t.Logf("%d concurrent publishes of one identity: %d AWS calls (%v)", n, calls, e.AWS.Calls().ByAPI)
	if calls > 2 {
		t.Errorf("%d AWS calls, want at most 2 (one STS, one batched fetch)", calls)
	}
	for i := range n {
		if got := readFile(t, filepath.Join(e.Target(podName(i)), "db-password")); got != "supersecretpassword" {
			t.Fatalf("pod %d db-password = %q", i, got)
		}
	}
}

func podName(i int) string { return "pod-" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }

// inode returns the inode of the file p resolves to.
func inode(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestRotation(t *testing.T) {
	requireRoot(t)
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Now: clk.Now, RefreshInterval: time.Minute})
	ctx := context.Background()
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	target := e.Target("pod-a")
	pw := filepath.Join(target, "db-password")
	ino := inode(t, pw)

	// Interval passed, content unchanged: fetched, nothing rewritten.
	clk.Add(61 * time.Second)
	before := e.SecretCalls()
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	if e.SecretCalls() == before {
		t.Fatal("no fetch after the interval")
	}
	if got := inode(t, pw); got != ino {
		t.Errorf("unchanged content was rewritten (inode %d -> %d)", ino, got)
	}

	// New value within the interval: not seen yet.
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"rotated"}`); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Second)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, pw); got != "supersecretpassword" {
		t.Errorf("rotated before the interval: %q", got)
	}
	// After the interval: the new set, swapped atomically (new inode via the ..data link).
	clk.Add(61 * time.Second)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, pw); got != "rotated" {
		t.Errorf("db-password after rotation = %q", got)
	}
	if got := readFile(t, filepath.Join(target, "db-user")); got != "admin" {
		t.Errorf("db-user after rotation = %q", got)
	}
	if inode(t, pw) == ino {
		t.Error("rotation wrote in place instead of swapping")
	}
	link, err := os.Readlink(filepath.Join(target, "..data"))
	if err != nil || !strings.HasPrefix(link, "..") {
		t.Errorf("..data link = %q, %v", link, err)
	}

	// AWS fails: the files stay, an Event says so.
	e.DrainEvents()
	e.AWS.SetFault(fakeaws.Fault{API: "secretsmanager:*", ErrorCode: "AccessDeniedException"})
	clk.Add(61 * time.Second)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatalf("republish during an AWS failure must keep serving: %v", err)
	}
	if got := readFile(t, pw); got != "rotated" {
		t.Errorf("files changed on a failed refresh: %q", got)
	}
	if ok, evs := e.HasEvent(mounter.EventSecretRefreshFailed); !ok {
		t.Errorf("no SecretRefreshFailed event: %v", evs)
	} else if !strings.Contains(strings.Join(evs, "\n"), "refresh failed (AccessDenied), keeping the previous files") {
		t.Errorf("the SecretRefreshFailed event does not name the reason: %v", evs)
	}
}

func TestRestartResumesVolumes(t *testing.T) {
	requireRoot(t)
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Now: clk.Now, RefreshInterval: time.Minute})
	ctx := context.Background()
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	if n := e.Driver.Volumes(); n != 1 {
		t.Fatalf("restored %d volumes, want 1", n)
	}
	pw := filepath.Join(e.Target("pod-a"), "db-password")
	if got := readFile(t, pw); got != "supersecretpassword" {
		t.Errorf("after restart db-password = %q", got)
	}
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"after-restart"}`); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, pw); got != "after-restart" {
		t.Errorf("rotation did not resume after restart: %q", got)
	}
	if err := e.Unpublish(ctx, "pod-a"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.PluginDir, "volumes")); len(ents) != 0 {
		t.Errorf("volume dirs left: %d", len(ents))
	}
}

func TestInvalidRequestsAndClasses(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{})
	ctx := context.Background()

	req := e.PublishRequest("pod-rw", mountertest.SAApp, mountertest.SeedClass)
	req.Readonly = false
	if _, err := e.Node.NodePublishVolume(ctx, req); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "readOnly") {
		t.Errorf("read-write publish: %v", err)
	}
	req = e.PublishRequest("pod-noinfo", mountertest.SAApp, mountertest.SeedClass)
	delete(req.VolumeContext, mounter.CtxPodUID)
	if _, err := e.Node.NodePublishVolume(ctx, req); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "podInfoOnMount") {
		t.Errorf("publish without pod info: %v", err)
	}
	req = e.PublishRequest("pod-nosa", mountertest.SAApp, mountertest.SeedClass)
	delete(req.VolumeContext, mounter.AttrSecretProviderClass)
	if _, err := e.Node.NodePublishVolume(ctx, req); code(err) != codes.InvalidArgument {
		t.Errorf("publish without class: %v", err)
	}

	_, err := e.Node.NodePublishVolume(ctx, e.PublishRequest("pod-missing", mountertest.SAApp, "nope"))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `SecretProviderClass "nope" not found`) {
		t.Errorf("missing class: %v", err)
	}
	if ok, evs := e.HasEvent(mounter.EventInvalidClass); !ok {
		t.Errorf("no InvalidSecretProviderClass event: %v", evs)
	}
	e.Cluster.AddClass(mountertest.Namespace, "bad", map[string]string{"objects": "- objectName: x\n  objectType: nope"})
	_, err = e.Node.NodePublishVolume(ctx, e.PublishRequest("pod-bad", mountertest.SAApp, "bad"))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "objectType") {
		t.Errorf("invalid class: %v", err)
	}
	e.Cluster.AddClass(mountertest.Namespace, "absent", map[string]string{"objects": "- objectName: my-app/absent\n  objectType: secretsmanager"})
	_, err = e.Node.NodePublishVolume(ctx, e.PublishRequest("pod-absent", mountertest.SAApp, "absent"))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "my-app/absent") {
		t.Errorf("missing secret: %v", err)
	}
	if ok, evs := e.HasEvent(mounter.EventSecretFetchFailed); !ok {
		t.Errorf("no SecretFetchFailed event: %v", evs)
	}
	// A value that is not JSON, with a jmesPath: the extraction fails, naming the object, never the value.
	if _, err := e.AWS.PutSecret("my-app/plain", "plain-text-value"); err != nil {
		t.Fatal(err)
	}
	e.Cluster.AddClass(mountertest.Namespace, "notjson", map[string]string{"objects": "- objectName: my-app/plain\n  objectType: secretsmanager\n  jmesPath:\n    - {path: user, objectAlias: user}"})
	_, err = e.Node.NodePublishVolume(ctx, e.PublishRequest("pod-notjson", mountertest.SAApp, "notjson"))
	if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "my-app/plain") || strings.Contains(err.Error(), "plain-text-value") {
		t.Errorf("extraction failure: %v", err)
	}
	if n := e.Driver.Volumes(); n != 0 {
		t.Errorf("volumes = %d after failures", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.PluginDir, "volumes")); len(ents) != 0 {
		t.Errorf("failed publishes left %d volume dirs", len(ents))
	}
}

func TestPodIdentityAndFSGroup(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{})
	ctx := context.Background()
	e.Cluster.AddClass(mountertest.Namespace, "pi", map[string]string{
		"usePodIdentity": "true",
		"objects":        "- objectName: my-app/db-credentials\n  objectType: secretsmanager\n  objectAlias: creds\n  filePermission: \"0640\"",
	})
	req := e.PublishRequest("pod-pi", mountertest.SAApp, "pi")
	req.VolumeCapability.GetMount().VolumeMountGroup = "4321"
	if _, err := e.Node.NodePublishVolume(ctx, req); err != nil {
		t.Fatalf("pod identity publish: %v", err)
	}
	if n := e.AWS.Calls().Count("eks-auth:AssumeRoleForPodIdentity", ""); n != 1 {
		t.Errorf("pod identity endpoint calls = %d, want 1", n)
	}
	p := filepath.Join(req.TargetPath, "creds")
	if got := readFile(t, p); got != mountertest.SeedValue {
		t.Errorf("creds = %q", got)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Gid != 4321 || st.Mode&0o777 != 0o640 {
		t.Errorf("creds gid %d mode %o, want 4321 0640", st.Gid, st.Mode&0o777)
	}
	if err := unix.Stat(req.TargetPath, &st); err != nil {
		t.Fatal(err)
	}
	if st.Gid != 4321 || st.Mode&0o777 != 0o750 {
		t.Errorf("volume root gid %d mode %o, want 4321 0750", st.Gid, st.Mode&0o777)
	}
}

func TestLogsNeverCarryTokens(t *testing.T) {
	requireRoot(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := logr.FromSlogHandler(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.Level(-5)}))
	e := mountertest.Start(t, mountertest.Options{Log: log})
	ctx := context.Background()
	req := e.PublishRequest("pod-log", mountertest.SAApp, mountertest.SeedClass)
	req.Secrets = map[string]string{"k": "csi-secret-value"}
	if _, err := e.Node.NodePublishVolume(ctx, req); err != nil {
		t.Fatal(err)
	}
	bad := e.PublishRequest("pod-log2", mountertest.SAOther, mountertest.SeedClass)
	if _, err := e.Node.NodePublishVolume(ctx, bad); err == nil {
		t.Fatal("pod with the other role read the secret")
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "NodePublishVolume") {
		t.Fatalf("the gRPC calls were not logged at all: %s", out)
	}
	tok := e.Token(mountertest.Namespace, mountertest.SAApp, identity.STSAudience)
	header := tok[:strings.IndexByte(tok, '.')] // the JWT header is the same for every token of the issuer
	for _, leak := range []string{header, "supersecretpassword", "csi-secret-value"} {
		if strings.Contains(out, leak) {
			t.Errorf("log contains %q", leak)
		}
	}
	r := mounter.Redact(req)
	if strings.Contains(r, header) || !strings.Contains(r, "pod-log") || !strings.Contains(r, "<redacted>") {
		t.Errorf("Redact = %s", r)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestIdentityAndCapabilities(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{})
	ctx := context.Background()
	info, err := e.Identity.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil || info.Name != mounter.DefaultDriverName {
		t.Fatalf("plugin info %v, %v", info, err)
	}
	if err := mounter.ProbeSocket(ctx, e.Socket); err != nil {
		t.Errorf("probe: %v", err)
	}
	caps, err := e.Node.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
	if err != nil || len(caps.Capabilities) != 1 || caps.Capabilities[0].GetRpc().GetType() != csi.NodeServiceCapability_RPC_VOLUME_MOUNT_GROUP {
		t.Errorf("capabilities %v, %v", caps, err)
	}
	ni, err := e.Node.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil || ni.NodeId != "test-node" {
		t.Errorf("node info %v, %v", ni, err)
	}
}

// TestRotationCostsOneFetchPerInterval: N pods of one identity refreshing the
// same class cost one fetch per interval on the node (cache TTL = interval).
func TestRotationCostsOneFetchPerInterval(t *testing.T) {
	requireRoot(t)
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Now: clk.Now, RefreshInterval: time.Minute, CacheTTL: time.Minute})
	ctx := context.Background()
	const n = 8
	for i := range n {
		if err := e.Publish(ctx, podName(i), mountertest.SAApp, mountertest.SeedClass); err != nil {
			t.Fatal(err)
		}
	}
	if c := e.SecretCalls(); c != 1 {
		t.Fatalf("first publishes: %d fetches, want 1", c)
	}
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"next"}`); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		clk.Add(61 * time.Second)
		for i := range n {
			if err := e.Publish(ctx, podName(i), mountertest.SAApp, mountertest.SeedClass); err != nil {
				t.Fatal(err)
			}
		}
		if c := e.SecretCalls(); c != 1+round {
			t.Errorf("after %d intervals: %d fetches, want %d", round, c, 1+round)
		}
	}
	for i := range n {
		if got := readFile(t, filepath.Join(e.Target(podName(i)), "db-password")); got != "next" {
			t.Errorf("pod %d db-password = %q", i, got)
		}
	}
}

// TestRotationByVersionCheck: with --revalidate, pods of one identity on the
// node cost one DescribeSecret per secret per interval while nothing changes,
// and one read more when it does; the files follow the rotation.
func TestRotationByVersionCheck(t *testing.T) {
	requireRoot(t)
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Now: clk.Now, RefreshInterval: time.Minute, CacheTTL: time.Minute, Revalidate: true})
	ctx := context.Background()
	const n = 8
	publishAll := func() {
		t.Helper()
		for i := range n {
			if err := e.Publish(ctx, podName(i), mountertest.SAApp, mountertest.SeedClass); err != nil {
				t.Fatal(err)
			}
		}
	}
	describes := func() int { return e.AWS.Calls().Count("secretsmanager:DescribeSecret", "") }
	publishAll()
	if c, d := e.SecretCalls(), describes(); c != 1 || d != 0 {
		t.Fatalf("first publishes: %d reads, %d version checks; want 1 and 0", c, d)
	}
	clk.Add(61 * time.Second)
	publishAll()
	if c, d := e.SecretCalls(), describes(); c != 1 || d != 1 {
		t.Fatalf("an interval later, nothing rotated: %d reads, %d version checks; want 1 and 1", c, d)
	}
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"next"}`); err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Second)
	publishAll()
	if c, d := e.SecretCalls(), describes(); c != 2 || d != 2 {
		t.Errorf("after a rotation: %d reads, %d version checks; want 2 and 2", c, d)
	}
	for i := range n {
		if got := readFile(t, filepath.Join(e.Target(podName(i)), "db-password")); got != "next" {
			t.Errorf("pod %d db-password = %q", i, got)
		}
	}
}

// TestTokensInSecrets: with serviceAccountTokenInSecrets the kubelet moves the
// tokens from the volume context to the request's secrets.
func TestTokensInSecrets(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{})
	req := e.PublishRequest("pod-sec", mountertest.SAApp, mountertest.SeedClass)
	req.Secrets = map[string]string{mounter.CtxTokens: req.VolumeContext[mounter.CtxTokens]}
	delete(req.VolumeContext, mounter.CtxTokens)
	if _, err := e.Node.NodePublishVolume(context.Background(), req); err != nil {
		t.Fatalf("publish with tokens in secrets: %v", err)
	}
	if got := readFile(t, filepath.Join(req.TargetPath, "db-user")); got != "admin" {
		t.Errorf("db-user = %q", got)
	}
	// Both fields: the secrets field is the one read (a kubelet sets one).
	both := e.PublishRequest("pod-both", mountertest.SAApp, mountertest.SeedClass)
	both.Secrets = map[string]string{mounter.CtxTokens: both.VolumeContext[mounter.CtxTokens]}
	both.VolumeContext[mounter.CtxTokens] = "not json"
	if _, err := e.Node.NodePublishVolume(context.Background(), both); err != nil {
		t.Errorf("publish with tokens in secrets and garbage in the volume context: %v", err)
	}
	delete(req.Secrets, mounter.CtxTokens)
	req.VolumeId, req.TargetPath = "csi-pod-notoken", e.Target("pod-notoken")
	req.VolumeContext[mounter.CtxPodName], req.VolumeContext[mounter.CtxPodUID] = "pod-notoken", mountertest.PodUID("pod-notoken")
	_, err := e.Node.NodePublishVolume(context.Background(), req)
	if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "tokenRequests") {
		t.Errorf("publish without tokens: %v", err)
	}
}

// generations lists the writer's generation directories in dir.
func generations(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var gens []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..") {
			gens = append(gens, e.Name())
		}
	}
	return gens
}

// TestRestoreRepairsStaleGenerations: what a mounter killed in the middle of
// a rotation leaves in a staging directory (a generation holding the values
// from before the rotation, a ..data_tmp, the dangling link of a name the new
// set dropped) is gone once the restarted mounter has restored the volume,
// before any write, and the files served are unchanged.
func TestRestoreRepairsStaleGenerations(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{})
	ctx := context.Background()
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}
	stagings, _ := filepath.Glob(filepath.Join(e.PluginDir, "volumes", "*", "mnt"))
	if len(stagings) != 1 {
		t.Fatalf("staging dirs %v", stagings)
	}
	staging := stagings[0]
	live := generations(t, staging)
	if len(live) != 1 {
		t.Fatalf("generations after publish: %v", live)
	}

	// The crash's leftovers, written as the writer writes them.
	stale := filepath.Join(staging, "..2020_01_02_03_04_05.000000006")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "db-password"), []byte("pre-rotation"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(stale), filepath.Join(staging, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "dropped"), filepath.Join(staging, "dropped")); err != nil {
		t.Fatal(err)
	}
	if err := atomicdir.Verify(staging); err != nil {
		t.Fatalf("the served set is not whole before the restart: %v", err)
	}

	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	if n := e.Driver.Volumes(); n != 1 {
		t.Fatalf("restored %d volumes", n)
	}
	if got := generations(t, staging); len(got) != 1 || got[0] != live[0] {
		t.Errorf("generations after restore: %v, want only %v", got, live)
	}
	for _, name := range []string{"..data_tmp", "dropped"} {
		if _, err := os.Lstat(filepath.Join(staging, name)); !os.IsNotExist(err) {
			t.Errorf("%s left after restore: %v", name, err)
		}
	}
	if err := atomicdir.Verify(staging); err != nil {
		t.Errorf("after restore: %v", err)
	}
	if got := readFile(t, filepath.Join(e.Target("pod-a"), "db-password")); got != "supersecretpassword" {
		t.Errorf("db-password after restore = %q", got)
	}
	if n := e.SecretCalls(); n != 1 {
		t.Errorf("%d fetches: the repair must not fetch or write", n)
	}
}

// TestTokensNeverLoggedAtAnyVerbosity: with every log level on, no
// service-account token (nor any part of one) and no secret value reaches a
// log line, whichever field the kubelet sends the tokens in (the volume
// context, or the secrets field with serviceAccountTokenInSecrets), on first
// publishes, refreshes, refused publishes, invalid requests and unpublishes.
func TestTokensNeverLoggedAtAnyVerbosity(t *testing.T) {
	requireRoot(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := logr.FromSlogHandler(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.Level(-1 << 20)}))
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Log: log, Now: clk.Now, RefreshInterval: time.Minute})
	ctx := context.Background()

	var tokens []string
	collect := func(raw string) {
		toks, err := identity.ParseTokens(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			tokens = append(tokens, tok.Token)
		}
	}
	inSecrets := func(req *csi.NodePublishVolumeRequest) *csi.NodePublishVolumeRequest {
		req.Secrets = map[string]string{mounter.CtxTokens: req.VolumeContext[mounter.CtxTokens]}
		delete(req.VolumeContext, mounter.CtxTokens)
		collect(req.Secrets[mounter.CtxTokens])
		return req
	}
	inContext := func(req *csi.NodePublishVolumeRequest) *csi.NodePublishVolumeRequest {
		collect(req.VolumeContext[mounter.CtxTokens])
		return req
	}
	publish := func(req *csi.NodePublishVolumeRequest) error {
		_, err := e.Node.NodePublishVolume(ctx, req)
		return err
	}
	if err := publish(inSecrets(e.PublishRequest("pod-s", mountertest.SAApp, mountertest.SeedClass))); err != nil {
		t.Fatalf("tokens in secrets: %v", err)
	}
	if err := publish(inContext(e.PublishRequest("pod-c", mountertest.SAApp, mountertest.SeedClass))); err != nil {
		t.Fatalf("tokens in the volume context: %v", err)
	}
	// A refresh (the interval passed, a new value) with fresh tokens in each field.
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"rotated-value"}`); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	if err := publish(inSecrets(e.PublishRequest("pod-s", mountertest.SAApp, mountertest.SeedClass))); err != nil {
		t.Fatal(err)
	}
	if err := publish(inContext(e.PublishRequest("pod-c", mountertest.SAApp, mountertest.SeedClass))); err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"pod-s", "pod-c"} {
		if got := readFile(t, filepath.Join(e.Target(pod), "db-password")); got != "rotated-value" {
			t.Errorf("%s db-password after the refresh = %q", pod, got)
		}
	}
	// Failures log the whole (redacted) request at V(0).
	if err := publish(inSecrets(e.PublishRequest("pod-denied", mountertest.SAOther, mountertest.SeedClass))); code(err) != codes.PermissionDenied {
		t.Fatalf("other role: %v", err)
	}
	if err := publish(inContext(e.PublishRequest("pod-denied2", mountertest.SAOther, mountertest.SeedClass))); code(err) != codes.PermissionDenied {
		t.Fatalf("other role: %v", err)
	}
	bad := inSecrets(e.PublishRequest("pod-bad", mountertest.SAApp, mountertest.SeedClass))
	bad.TargetPath = "relative/mount"
	if err := publish(bad); code(err) != codes.InvalidArgument {
		t.Fatalf("bad target: %v", err)
	}
	bad = inContext(e.PublishRequest("pod-bad2", mountertest.SAApp, mountertest.SeedClass))
	bad.Readonly = false
	if err := publish(bad); code(err) != codes.InvalidArgument {
		t.Fatalf("read-write: %v", err)
	}
	for _, pod := range []string{"pod-s", "pod-c"} {
		if err := e.Unpublish(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{"NodePublishVolume", "NodeUnpublishVolume", "gRPC call failed", "rotated secrets", `"msg":"gRPC call"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("the log lacks %q: the test would not see a leak there\n%s", want, out)
		}
	}
	if len(tokens) != 16 {
		t.Fatalf("%d tokens sent, want 16", len(tokens))
	}
	for _, tok := range tokens {
		for i, part := range strings.Split(tok, ".") {
			if strings.Contains(out, part) {
				t.Errorf("the log holds part %d of a token", i)
			}
		}
	}
	for _, v := range []string{"supersecretpassword", "rotated-value"} {
		if strings.Contains(out, v) {
			t.Errorf("the log holds the secret value %q", v)
		}
	}
}

// TestClassWarningEvent: a class with an unknown key is served, and the pod
// gets one Warning Event naming the key and its "did you mean" on its first
// publish (a republish does not repeat it); with --strict-classes the publish
// is refused naming the key.
func TestClassWarningEvent(t *testing.T) {
	requireRoot(t)
	const typo = "- objectName: \"" + mountertest.SeedSecret + "\"\n  objectType: \"secretsmanager\"\n  objectAlais: \"db\"\n"
	for _, strict := range []bool{false, true} {
		e := mountertest.Start(t, mountertest.Options{StrictClasses: strict})
		ctx := context.Background()
		e.Cluster.AddClass(mountertest.Namespace, "typo", map[string]string{"objects": typo})
		err := e.Publish(ctx, "pod-typo", mountertest.SAApp, "typo")
		if strict {
			if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "objectAlais") {
				t.Errorf("strict: want FailedPrecondition naming objectAlais, got %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		evs := e.DrainEvents()
		var warn []string
		for _, ev := range evs {
			if strings.Contains(ev, mounter.EventClassWarning) {
				warn = append(warn, ev)
			}
		}
		if len(warn) != 1 || !strings.Contains(warn[0], "objects[0].objectAlais") || !strings.Contains(warn[0], `did you mean "objectAlias"`) ||
			strings.Contains(warn[0], "region") {
			t.Errorf("want one class warning naming objectAlais, have %q", evs)
		}
		if err := e.Publish(ctx, "pod-typo", mountertest.SAApp, "typo"); err != nil {
			t.Fatalf("republish: %v", err)
		}
		if ok, evs := e.HasEvent(mounter.EventClassWarning); ok {
			t.Errorf("a republish repeated the warning: %q", evs)
		}
	}
}

// TestStaggeredPodsSeeRotationWithinOneInterval: pods of one identity that
// publish at different times share the node cache, and still each serves a
// rotated value within one interval of the rotation plus one republish
// period. Pod b mounts 54 s after pod a, from the entry a's read filled; its
// interval counts from that read, not from its own publish, so both pods
// refresh at the first republish after a's interval ends. With a cache TTL
// longer than the interval, a refresh still takes no cached value older than
// one interval.
func TestStaggeredPodsSeeRotationWithinOneInterval(t *testing.T) {
	requireRoot(t)
	const interval, republish = time.Minute, 10 * time.Second
	for _, ttl := range []time.Duration{interval, 10 * time.Minute} {
		t.Run("ttl="+ttl.String(), func(t *testing.T) {
			clk := newClock()
			e := mountertest.Start(t, mountertest.Options{Now: clk.Now, RefreshInterval: interval, CacheTTL: ttl})
			ctx := context.Background()
			pw := func(pod string) string { return readFile(t, filepath.Join(e.Target(pod), "db-password")) }
			start := clk.Now()
			if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
				t.Fatal(err)
			}
			before := pw("pod-a")
			clk.Add(time.Second)
			if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"rotated"}`); err != nil {
				t.Fatal(err)
			}
			clk.Add(53 * time.Second)
			if err := e.Publish(ctx, "pod-b", mountertest.SAApp, mountertest.SeedClass); err != nil {
				t.Fatal(err)
			}
			if got := pw("pod-b"); got != before {
				t.Fatalf("pod-b's first publish, 54 s after pod-a's: db-password %q, want the cached %q (the premise: the pods share the cache)", got, before)
			}
			// The kubelet republishes every 10 s; the first republish at or
			// after start+interval must serve the rotated value in both pods.
			for clk.Now().Sub(start) < interval {
				clk.Add(republish)
				for _, pod := range []string{"pod-a", "pod-b"} {
					if err := e.Publish(ctx, pod, mountertest.SAApp, mountertest.SeedClass); err != nil {
						t.Fatal(err)
					}
				}
			}
			at := clk.Now().Sub(start)
			for _, pod := range []string{"pod-a", "pod-b"} {
				if got := pw(pod); got != "rotated" {
					t.Errorf("%s at start+%s (rotation at start+1s, interval %s, republish every %s): db-password %q, want the rotated value",
						pod, at, interval, republish, got)
				}
			}
			if c := e.SecretCalls(); c != 2 {
				t.Errorf("%d secret reads, want 2: one per interval for the identity, staggered pods included", c)
			}
		})
	}
}
