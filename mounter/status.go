package mounter

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Per-volume status, for `aws-secrets-injector doctor` and operators without
// a node shell: GET /status/pods/{uid} on the mounter's HTTP port answers the
// volumes this node serves for that one pod (what was read, when, and the
// last refresh's error). Reached through the API server's pods/proxy of the
// mounter pod on the pod's node, so it costs the API server nothing until
// someone asks, and the mounter needs no write access to pods or to a
// custom resource (at 5,000 nodes a status kept on the pod would be a patch
// per refresh per volume). There is no listing: a caller names a pod by its
// UID, which only whoever may read that pod knows. No secret value is in
// it: names, times, sizes and the words of the refresh failure Event.

// VolumeStatus is one served volume as /status/pods/{uid} shows it.
type VolumeStatus struct {
	VolumeID       string `json:"volumeID"`
	Target         string `json:"targetPath"`
	Class          string `json:"secretProviderClass"`
	ServiceAccount string `json:"serviceAccount"`
	// Identity is the node cache key of the identity that read the values
	// (the role ARN and the ServiceAccount; no credential).
	Identity string `json:"identity"`
	// Interval is the refresh interval in force, as a Go duration.
	Interval string `json:"interval"`
	// LastFetch is when the values served were read from AWS.
	LastFetch time.Time `json:"lastFetch"`
	// LastAttempt is the last publish or refresh that fetched.
	LastAttempt time.Time `json:"lastAttempt"`
	// LastChange is when the files last changed (first publish, rotation).
	LastChange time.Time `json:"lastChange,omitzero"`
	// LastError is the last refresh's failure, empty after a success.
	LastError string `json:"lastError,omitempty"`
	// Bytes is the size of the file set served.
	Bytes int64 `json:"bytes"`
}

// PodStatus is the answer of /status/pods/{uid}.
type PodStatus struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	UID       string         `json:"uid"`
	Node      string         `json:"node"`
	Volumes   []VolumeStatus `json:"volumes"`
}

// PodStatus returns the volumes served for the pod with uid, sorted by
// volume ID; ok is false when this node serves none.
func (d *Driver) PodStatus(uid string) (PodStatus, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ps := PodStatus{UID: uid, Node: d.cfg.NodeID}
	for _, v := range d.volumes {
		if v.PodUID != uid {
			continue
		}
		ps.Namespace, ps.Name = v.PodNamespace, v.PodName
		ps.Volumes = append(ps.Volumes, VolumeStatus{
			VolumeID: v.VolumeID, Target: v.TargetPath, Class: v.Class, ServiceAccount: v.SA, Identity: v.IdentityKey,
			Interval: v.Interval.String(), LastFetch: v.LastFetch, LastAttempt: v.LastAttempt, LastChange: v.LastChange,
			LastError: v.LastError, Bytes: v.Bytes,
		})
	}
	slices.SortFunc(ps.Volumes, func(a, b VolumeStatus) int { return strings.Compare(a.VolumeID, b.VolumeID) })
	return ps, len(ps.Volumes) > 0
}

// maxUIDLen bounds the UID a status request may name (a Kubernetes UID is 36).
const maxUIDLen = 64

// StatusHandler serves GET /status/pods/{uid}: 200 with a PodStatus, 404
// with {"error": …} when the node serves no volume of that pod.
func StatusHandler(d *Driver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		uid := r.PathValue("uid")
		if len(uid) == 0 || len(uid) > maxUIDLen || strings.ContainsAny(uid, "/ \t\r\n") {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "name a pod by its UID: /status/pods/<uid> (kubectl get pod NAME -o jsonpath={.metadata.uid})"})
			return
		}
		ps, ok := d.PodStatus(uid)
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "this node (" + d.cfg.NodeID + ") serves no volume of pod " + uid +
				": the kubelet has not published it (see the pod's Events), or the pod runs on another node"})
			return
		}
		_ = json.NewEncoder(w).Encode(ps)
	})
}
