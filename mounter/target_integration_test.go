//go:build integration

package mounter_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// TestPublishOnlyAtKubeletTargets: the mounter mounts only at the kubelet's
// target of a pod's CSI volume, whose pod UID is the pod's; any other target
// is InvalidArgument before anything is fetched, mounted or created.
func TestPublishOnlyAtKubeletTargets(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{})
	ctx := context.Background()
	outside := filepath.Join(e.Dir, "elsewhere", "mount")
	if err := os.MkdirAll(filepath.Dir(outside), 0o750); err != nil {
		t.Fatal(err)
	}
	uid := mountertest.PodUID("pod-t")
	for name, target := range map[string]string{
		"relative":          "pods/" + uid + "/volumes/kubernetes.io~csi/secrets/mount",
		"outside":           outside,
		"dot-dot":           filepath.Join(e.KubeletDir, "pods", uid, "volumes", "kubernetes.io~csi", "secrets") + "/../../../../../elsewhere/mount",
		"not-clean":         filepath.Join(e.KubeletDir, "pods", uid, "volumes", "kubernetes.io~csi", "secrets", "mount") + "/",
		"other-plugin":      filepath.Join(e.KubeletDir, "pods", uid, "volumes", "kubernetes.io~empty-dir", "secrets", "mount"),
		"plugin-dir":        filepath.Join(e.PluginDir, "volumes", "x", "mnt"),
		"another-pods-uid":  mountertest.KubeletTarget(e.KubeletDir, mountertest.PodUID("someone-else"), "secrets"),
		"sanity-style-path": filepath.Join(e.KubeletDir, "pods", uid, "target"),
	} {
		req := e.PublishRequest("pod-t", mountertest.SAApp, mountertest.SeedClass)
		req.TargetPath = target
		_, err := e.Node.NodePublishVolume(ctx, req)
		if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "target_path") {
			t.Errorf("%s: publish at %q: %v, want InvalidArgument naming target_path", name, target, err)
			continue
		}
		if _, err := os.Lstat(target); !os.IsNotExist(err) {
			t.Errorf("%s: %q exists after a refused publish: %v", name, target, err)
		}
	}
	if n := e.AWS.Calls().Total; n != 0 {
		t.Errorf("refused publishes made %d AWS calls", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.PluginDir, "volumes")); len(ents) != 0 {
		t.Errorf("refused publishes left %d volume dirs", len(ents))
	}
	if mnts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(e.Dir)); len(mnts) != 0 {
		t.Errorf("refused publishes left mounts: %v", mnts[0].Mountpoint)
	}

	// The target's parent is the kubelet's to make: a target whose volume
	// directory does not exist is not created (nor its pod's directory).
	req := e.PublishRequest("pod-t", mountertest.SAApp, mountertest.SeedClass)
	req.TargetPath = filepath.Join(e.KubeletDir, "pods", uid, "volumes", "kubernetes.io~csi", "not-made", "mount")
	if _, err := e.Node.NodePublishVolume(ctx, req); err == nil {
		t.Error("publish into a volume directory the kubelet did not make succeeded")
	}
	if _, err := os.Stat(filepath.Dir(req.TargetPath)); !os.IsNotExist(err) {
		t.Errorf("the mounter created the volume directory: %v", err)
	}

	// The right target works.
	if err := e.Publish(ctx, "pod-t", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatalf("publish at the kubelet's target: %v", err)
	}
	if got := readFile(t, filepath.Join(e.Target("pod-t"), "db-user")); got != "admin" {
		t.Errorf("db-user = %q", got)
	}
}

// TestUnpublishTouchesOnlyKubeletTargets: unpublish of a volume the mounter
// does not serve at that target unmounts and removes only a path of the
// kubelet's layout that no served volume uses; anything else is refused and
// left exactly as it was.
func TestUnpublishTouchesOnlyKubeletTargets(t *testing.T) {
	requireRoot(t)
	e := mountertest.Start(t, mountertest.Options{})
	ctx := context.Background()
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, mountertest.SeedClass); err != nil {
		t.Fatal(err)
	}

	// A mounted directory outside the kubelet's pods directory, with a file in it.
	outside := filepath.Join(e.Dir, "host", "data")
	if err := os.MkdirAll(outside, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", outside, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(outside, "keep")
	if err := os.WriteFile(keep, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	plainDir := filepath.Join(e.Dir, "host", "plain")
	if err := os.MkdirAll(plainDir, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{outside, plainDir, "host/plain", e.Dir, filepath.Join(e.PluginDir, "volumes"),
		e.Target("pod-a") + "/..", filepath.Join(e.KubeletDir, "pods", mountertest.PodUID("pod-a"))} {
		for _, id := range []string{"csi-unknown", "csi-pod-a"} {
			_, err := e.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
			if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "target_path") {
				t.Errorf("unpublish %s at %q: %v, want InvalidArgument", id, target, err)
			}
		}
	}
	if got := readFile(t, keep); got != "keep" {
		t.Errorf("file under the foreign mount = %q", got)
	}
	if ok, err := mountinfo.Mounted(outside); err != nil || !ok {
		t.Errorf("foreign mount gone: %v %v", ok, err)
	}
	if _, err := os.Stat(plainDir); err != nil {
		t.Errorf("foreign directory removed: %v", err)
	}
	if got := readFile(t, filepath.Join(e.Target("pod-a"), "db-user")); got != "admin" {
		t.Errorf("pod A's files after refused unpublishes: %q", got)
	}

	// Another volume's target under an unknown volume ID: refused, still served.
	_, err := e.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-unknown", TargetPath: e.Target("pod-a")})
	if code(err) != codes.FailedPrecondition {
		t.Errorf("unpublish of pod A's target as another volume: %v, want FailedPrecondition", err)
	}
	if got := readFile(t, filepath.Join(e.Target("pod-a"), "db-user")); got != "admin" {
		t.Errorf("pod A's files after unpublish under another ID: %q", got)
	}

	// A kubelet target of a volume the mounter does not know (e.g. after its
	// state was lost): the kubelet's cleanup works, the target goes.
	stale := mountertest.KubeletTarget(e.KubeletDir, mountertest.PodUID("gone"), "secrets")
	if err := os.Mkdir(stale, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-gone", TargetPath: stale}); err != nil {
		t.Errorf("unpublish of an unknown volume at a kubelet target: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale kubelet target not removed: %v", err)
	}

	// Pod A's own unpublish still works.
	if err := e.Unpublish(ctx, "pod-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.Target("pod-a")); !os.IsNotExist(err) {
		t.Errorf("pod A's target after unpublish: %v", err)
	}
}
