package mounter

import (
	"strings"
	"testing"
)

// TestParseTarget: only the kubelet's layout of a pod's CSI volume under the
// kubelet dir is a target; everything else is refused naming the path, the
// layout and the flag.
func TestParseTarget(t *testing.T) {
	const kd = "/var/lib/kubelet"
	const uid = "0f2c1f4e-6a55-4f32-9b3e-3c2e1d9a7b10"
	good := kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/secrets-store/mount"
	got, err := parseTarget(kd, good)
	if err != nil {
		t.Fatalf("kubelet target refused: %v", err)
	}
	if got.PodUID != uid || got.Volume != "secrets-store" || got.Path != good {
		t.Errorf("parsed %+v", got)
	}
	// A static pod's UID (a hash) and a PV-style dotted name are the kubelet's too.
	if _, err := parseTarget(kd, kd+"/pods/6c3f0a2b9e8d7c6b5a4f3e2d1c0b9a88/volumes/kubernetes.io~csi/pv.example-1/mount"); err != nil {
		t.Errorf("static pod target refused: %v", err)
	}
	if _, err := parseTarget("/", "/pods/"+uid+"/volumes/kubernetes.io~csi/v/mount"); err != nil {
		t.Errorf("kubelet dir / refused: %v", err)
	}

	for _, tt := range []struct{ path, why string }{
		{"", "is not absolute"},
		{"pods/" + uid + "/volumes/kubernetes.io~csi/v/mount", "is not absolute"},
		{"var/lib/kubelet/pods/" + uid + "/volumes/kubernetes.io~csi/v/mount", "is not absolute"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/v/mount/", "is not clean"},
		{kd + "//pods/" + uid + "/volumes/kubernetes.io~csi/v/mount", "is not clean"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/v/./mount", "is not clean"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/v/../../../../../../etc/mount", "is not clean"},
		{kd + "/pods/../pods/" + uid + "/volumes/kubernetes.io~csi/v/mount", "is not clean"},
		{"/etc", "is not under the kubelet's pods directory"},
		{"/tmp/csi-mount/target", "is not under the kubelet's pods directory"},
		{kd + "x/pods/" + uid + "/volumes/kubernetes.io~csi/v/mount", "is not under the kubelet's pods directory"},
		{kd + "/plugins/csi.aws-secrets-injector.io/volumes/x/mnt", "is not under the kubelet's pods directory"},
		{kd + "/pods", "is not under the kubelet's pods directory"},
		{kd + "/pods/" + uid, "does not have the kubelet's layout"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/v", "does not have the kubelet's layout"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/v/mount/x", "does not have the kubelet's layout"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~empty-dir/v/mount", "does not have the kubelet's layout"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/v/target", "does not have the kubelet's layout"},
		{kd + "/pods/" + uid + "/volume-subpaths/kubernetes.io~csi/v/mount", "does not have the kubelet's layout"},
		{kd + "/pods/..x/volumes/kubernetes.io~csi/v/mount", "pod UID"},
		{kd + "/pods/a b/volumes/kubernetes.io~csi/v/mount", "pod UID"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/.hidden/mount", "volume name"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/a\nb/mount", "volume name"},
		{kd + "/pods/" + uid + "/volumes/kubernetes.io~csi/" + strings.Repeat("v", 254) + "/mount", "volume name"},
		{kd + "/pods/" + strings.Repeat("u", 5000) + "/volumes/kubernetes.io~csi/v/mount", "is longer than"},
	} {
		_, err := parseTarget(kd, tt.path)
		if err == nil {
			t.Errorf("%q accepted", tt.path)
			continue
		}
		msg := err.Error()
		for _, want := range []string{tt.why, targetShape, "--kubelet-dir", `"` + kd + `"`} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: error %q does not say %q", tt.path, msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%q: error spans lines: %q", tt.path, msg)
		}
		if len(msg) > 1000 {
			t.Errorf("%q: error of %d bytes", tt.path, len(msg))
		}
	}
}

// FuzzParseTarget: an accepted target is always clean, absolute, under the
// kubelet's pods directory, and exactly seven elements below the kubelet dir.
func FuzzParseTarget(f *testing.F) {
	f.Add("/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/v/mount")
	f.Add("/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/v/../mount")
	f.Add("/var/lib/kubelet/pods/../../../etc/volumes/kubernetes.io~csi/v/mount")
	f.Fuzz(func(t *testing.T, p string) {
		got, err := parseTarget("/var/lib/kubelet", p)
		if err != nil {
			return
		}
		rest, ok := strings.CutPrefix(p, "/var/lib/kubelet/pods/")
		if !ok || strings.Count(rest, "/") != 4 || strings.Contains(p, "//") ||
			!strings.HasSuffix(p, "/mount") || got.PodUID == "" || got.Volume == "" {
			t.Fatalf("accepted %q as %+v", p, got)
		}
		for _, el := range strings.Split(rest, "/") {
			if el == "." || el == ".." || el == "" {
				t.Fatalf("accepted %q with element %q", p, el)
			}
		}
	})
}
