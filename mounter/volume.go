package mounter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Volume context keys the kubelet sets (podInfoOnMount, tokenRequests) and ours.
const (
	CtxPodName        = "csi.storage.k8s.io/pod.name"
	CtxPodNamespace   = "csi.storage.k8s.io/pod.namespace"
	CtxPodUID         = "csi.storage.k8s.io/pod.uid"
	CtxServiceAccount = "csi.storage.k8s.io/serviceAccount.name"
	CtxEphemeral      = "csi.storage.k8s.io/ephemeral"
	// CtxTokens holds the pod's service-account tokens: never log it. The kubelet
	// sends it in the volume context, or in the request's secrets when the
	// CSIDriver sets serviceAccountTokenInSecrets: true (Kubernetes 1.35+).
	CtxTokens = "csi.storage.k8s.io/serviceAccount.tokens" //nolint:gosec // a volume context key, not a credential
	// AttrSecretProviderClass names the SecretProviderClass in the pod's namespace.
	AttrSecretProviderClass = "secretProviderClass"
	// AttrRefreshInterval (optional, a Go duration of 5s or more) is the pod's own
	// rotation interval: the webhook sets it from the refresh-interval annotation.
	// It wins over the class's refreshInterval and the --refresh-interval flag.
	AttrRefreshInterval = "refreshInterval"
)

// podInfo is what a publish request says about the pod.
type podInfo struct {
	Namespace      string
	Name           string
	UID            string
	ServiceAccount string
	Class          string
	Tokens         map[string]identity.Token
	// RefreshInterval is the pod's AttrRefreshInterval, zero when unset.
	RefreshInterval time.Duration
}

// parsePodInfo reads the volume context, and the tokens from the request's
// secrets (serviceAccountTokenInSecrets) or else the volume context; errors
// name the missing key and the fix.
func parsePodInfo(vc, secrets map[string]string) (podInfo, error) {
	p := podInfo{
		Namespace:      vc[CtxPodNamespace],
		Name:           vc[CtxPodName],
		UID:            vc[CtxPodUID],
		ServiceAccount: vc[CtxServiceAccount],
		Class:          strings.TrimSpace(vc[AttrSecretProviderClass]),
	}
	if p.Class == "" {
		return p, fmt.Errorf("volume attribute %q is missing: set it to the name of a SecretProviderClass in the pod's namespace", AttrSecretProviderClass)
	}
	if raw := strings.TrimSpace(vc[AttrRefreshInterval]); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < spc.MinRefreshInterval {
			return p, fmt.Errorf("volume attribute %s=%q: must be a duration of %s or more, e.g. \"2m\" (set by the aws-secrets-injector.io/refresh-interval annotation)",
				AttrRefreshInterval, raw, spc.MinRefreshInterval)
		}
		p.RefreshInterval = d
	}
	var missing []string
	for _, k := range []string{CtxPodNamespace, CtxPodName, CtxPodUID, CtxServiceAccount} {
		if vc[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("volume context lacks %s: the CSIDriver object must set podInfoOnMount: true", strings.Join(missing, ", "))
	}
	raw, ok := secrets[CtxTokens]
	if !ok {
		raw = vc[CtxTokens]
	}
	toks, err := identity.ParseTokens(raw)
	if err != nil {
		return p, err
	}
	p.Tokens = toks
	return p, nil
}

// volume is one served volume: in memory and, without secrets, on disk.
type volume struct {
	VolumeID     string `json:"volumeID"`
	TargetPath   string `json:"targetPath"`
	StagingPath  string `json:"stagingPath"`
	PodNamespace string `json:"podNamespace"`
	PodName      string `json:"podName"`
	PodUID       string `json:"podUID"`
	SA           string `json:"serviceAccount"`
	Class        string `json:"secretProviderClass"`
	MountGroup   string `json:"mountGroup,omitempty"`
	// LastFetch is when the values served were read from AWS (the read that
	// filled the node cache entry, for a shared value): the interval counts
	// from here.
	LastFetch time.Time `json:"lastFetch"`
	// LastAttempt is the last publish or refresh that tried to fetch.
	LastAttempt time.Time `json:"lastAttempt"`
	// LastChange is when the files served last changed (first publish, rotation).
	LastChange time.Time `json:"lastChange,omitzero"`
	// LastError is the reason and message of the last refresh, empty when it
	// succeeded (the same words as its Event: never a secret value).
	LastError string `json:"lastError,omitempty"`
	// Interval is the refresh interval in force (class or default).
	Interval time.Duration `json:"interval"`
	// Bytes is the size of the file set served.
	Bytes int64 `json:"bytes"`
	// IdentityKey is the cache key of the identity that fetched (no secret).
	IdentityKey string `json:"identityKey"`
	// Synced: the class's secretObjects were synced with --sync-secrets after
	// the last write. False after a failed sync, or when the volume was served
	// while sync was off: the next refresh then syncs even if nothing changed
	// (so turning sync on reaches pods already running).
	Synced bool `json:"synced,omitempty"`
}

// volumesDir is where per-volume directories live.
func (d *Driver) volumesDir() string { return filepath.Join(d.cfg.PluginDir, "volumes") }

// volumeDir is the directory of volumeID: a hash, so any ID is a safe name.
func (d *Driver) volumeDir(volumeID string) string {
	h := sha256.Sum256([]byte(volumeID))
	return filepath.Join(d.volumesDir(), hex.EncodeToString(h[:16]))
}

func stagingPath(dir string) string { return filepath.Join(dir, "mnt") }
func statePath(dir string) string   { return filepath.Join(dir, "state.json") }

// saveState writes v's state file (write to a temp file, rename).
func (d *Driver) saveState(v *volume) error {
	dir := d.volumeDir(v.VolumeID)
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode volume state: %w", err)
	}
	tmp := statePath(dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write volume state: %w", err)
	}
	if err := os.Rename(tmp, statePath(dir)); err != nil {
		return fmt.Errorf("write volume state: %w", err)
	}
	return nil
}

// loadState reads the state file in dir.
func loadState(dir string) (*volume, error) {
	b, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, err
	}
	var v volume
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", statePath(dir), err)
	}
	if v.VolumeID == "" || v.TargetPath == "" {
		return nil, fmt.Errorf("decode %s: no volume id or target path", statePath(dir))
	}
	return &v, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// gid is the fsGroup the files are given, nil without one.
func (v *volume) gid() *int {
	if v.MountGroup == "" {
		return nil
	}
	g, err := strconv.Atoi(v.MountGroup)
	if err != nil {
		return nil
	}
	return &g
}
