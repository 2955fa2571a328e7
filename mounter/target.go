package mounter

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// The kubelet's layout of a pod's CSI volume (pkg/volume/csi in the kubelet:
// GetPodVolumeDir(podUID, EscapeQualifiedName("kubernetes.io/csi"),
// specVolumeID) + "/mount"):
//
//	<kubelet-dir>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount
const (
	kubeletPodsDir    = "pods"
	kubeletVolumesDir = "volumes"
	kubeletCSIPlugin  = "kubernetes.io~csi"
	kubeletMountDir   = "mount"
)

// targetShape is the layout above, for messages.
const targetShape = "<kubelet-dir>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount"

// maxTargetPath bounds a target path (PATH_MAX).
const maxTargetPath = 4096

// pathElement is what a pod UID and a volume name may be in a target path: one
// path element the kubelet could have made (a UUID, a static pod's hash, a DNS
// label or subdomain), never "." or "..".
var pathElement = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// target is a target path checked against the kubelet's layout.
type target struct {
	// Path is the target path, as given.
	Path string
	// PodUID and Volume are its <pod-uid> and <volume-name> elements.
	PodUID string
	Volume string
}

// parseTarget checks that p is where the kubelet publishes a CSI volume of a
// pod under kubeletDir (an absolute, clean path): absolute, clean (no "..",
// no "//", no trailing "/"), and exactly targetShape. The error names the
// path, the expected shape and the --kubelet-dir flag.
func parseTarget(kubeletDir, p string) (target, error) {
	bad := func(why string) (target, error) {
		return target{}, fmt.Errorf("target_path %s %s: the kubelet publishes this driver's volumes at %s with --kubelet-dir %s (set the mounter's --kubelet-dir, chart value mounter.kubeletDir, to the kubelet's --root-dir)",
			secrets.Quote(p), why, targetShape, secrets.Quote(kubeletDir))
	}
	switch {
	case len(p) > maxTargetPath:
		return bad(fmt.Sprintf("is longer than %d bytes", maxTargetPath))
	case !filepath.IsAbs(p):
		return bad("is not absolute")
	case filepath.Clean(p) != p:
		return bad("is not clean (\"..\", \".\", \"//\" or a trailing \"/\")")
	}
	rest, ok := strings.CutPrefix(p, filepath.Join(kubeletDir, kubeletPodsDir)+"/")
	if !ok {
		return bad("is not under the kubelet's pods directory")
	}
	el := strings.Split(rest, "/")
	if len(el) != 5 || el[1] != kubeletVolumesDir || el[2] != kubeletCSIPlugin || el[4] != kubeletMountDir {
		return bad("does not have the kubelet's layout")
	}
	if !pathElement.MatchString(el[0]) {
		return bad("has a pod UID that is not one the kubelet makes")
	}
	if !pathElement.MatchString(el[3]) {
		return bad("has a volume name that is not one the kubelet makes")
	}
	return target{Path: p, PodUID: el[0], Volume: el[3]}, nil
}
