package mounter

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	mount "k8s.io/mount-utils"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// WriteFunc writes a file set into dir atomically, group-owned by gid when not
// nil, and reports whether anything changed (atomicdir.WriteWithOptions).
type WriteFunc func(dir string, files []secrets.File, gid *int) (changed bool, err error)

// EventRecorder records a Kubernetes Event about an object (a pod's
// *corev1.ObjectReference): kube.EventRecorder posts it; client-go's
// record.FakeRecorder collects it in tests.
type EventRecorder interface {
	Event(object runtime.Object, eventtype, reason, message string)
}

// Config holds a Driver's settings and dependencies.
type Config struct {
	// DriverName is the CSI driver name.
	DriverName string
	// NodeID is what NodeGetInfo reports (the node name).
	NodeID string
	// PluginDir holds the per-volume staging mounts and state files.
	PluginDir string
	// KubeletDir is the kubelet's root directory (absolute, clean): target
	// paths must be <KubeletDir>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount.
	KubeletDir string
	// TmpfsSize caps each volume's tmpfs, in bytes.
	TmpfsSize int64
	// RefreshInterval is the default rotation interval (a class's refreshInterval overrides it).
	RefreshInterval time.Duration
	// DefaultRegion is used for classes without a region.
	DefaultRegion string
	// StrictClasses refuses what the AWS provider accepts but is likely a
	// mistake (an unknown key in objects) instead of an Event.
	StrictClasses bool
	// SyncSecrets syncs a class's spec.secretObjects into Kubernetes Secrets
	// through Cluster (its SecretStore half); off, a class with secretObjects
	// gets an EventSecretObjectsNotSynced Event on first publish.
	SyncSecrets bool
	// RegionLooked lists where DefaultRegion was looked for (region.Result),
	// for the error of a class without a region when none was found.
	RegionLooked []string
	// FetchTimeout bounds one fetch.
	FetchTimeout time.Duration

	// Cluster reads SecretProviderClasses and ServiceAccounts, and with
	// SyncSecrets gets, creates and updates Secrets.
	Cluster Cluster
	// Pipeline is the core's pipeline: identity, fetch (the node cache), extract.
	Pipeline *pipeline.Pipeline
	// Write is the atomic writer; nil is atomicdir.WriteWithOptions.
	Write WriteFunc
	// Repair brings a directory the writer manages back to a completed
	// write's state (stale generations collected, links repaired) without
	// changing the files it serves; nil is atomicdir.Repair.
	Repair func(dir string) error
	// Mounter mounts; NewSyscallMounter in production and in sanity/integration tests.
	Mounter mount.Interface
	// Events records Kubernetes Events on pods; nil records none.
	Events EventRecorder
	// Metrics records Prometheus metrics; nil creates a private registry.
	Metrics *Metrics
	// Log receives structured logs (never secret values).
	Log logr.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Driver is the CSI identity and node service.
type Driver struct {
	cfg      Config
	inflight *inflight

	mu      sync.Mutex
	volumes map[string]*volume // by volume ID
	ready   bool
}

// NewDriver checks cfg and returns a Driver. Call Restore before serving to
// pick up volumes served before a restart.
func NewDriver(cfg Config) (*Driver, error) {
	switch {
	case cfg.DriverName == "":
		return nil, errors.New("driver name is required")
	case cfg.NodeID == "":
		return nil, errors.New("node id is required")
	case cfg.PluginDir == "":
		return nil, errors.New("plugin dir is required")
	case !filepath.IsAbs(cfg.KubeletDir) || filepath.Clean(cfg.KubeletDir) != cfg.KubeletDir:
		return nil, fmt.Errorf("kubelet dir %s must be an absolute, clean path", secrets.Quote(cfg.KubeletDir))
	case cfg.Cluster == nil || cfg.Pipeline == nil || cfg.Mounter == nil:
		return nil, errors.New("cluster, pipeline and mounter are required")
	}
	if cfg.TmpfsSize <= 0 {
		cfg.TmpfsSize = DefaultTmpfsSize
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Write == nil {
		cfg.Write = AtomicWrite
	}
	if cfg.Repair == nil {
		cfg.Repair = atomicdir.Repair
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Driver{cfg: cfg, inflight: newInflight(), volumes: map[string]*volume{}, ready: true}, nil
}

// Metrics returns the driver's metrics.
func (d *Driver) Metrics() *Metrics { return d.cfg.Metrics }

// Volumes returns the number of volumes served.
func (d *Driver) Volumes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.volumes)
}

func (d *Driver) lookup(volumeID string) *volume {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.volumes[volumeID]
}

func (d *Driver) store(v *volume) {
	d.mu.Lock()
	d.volumes[v.VolumeID] = v
	d.updateGaugesLocked()
	d.mu.Unlock()
}

// servedAt returns the ID of the served volume whose target is path, "" when none.
func (d *Driver) servedAt(path string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, v := range d.volumes {
		if v.TargetPath == path {
			return id
		}
	}
	return ""
}

func (d *Driver) forget(volumeID string) {
	d.mu.Lock()
	delete(d.volumes, volumeID)
	d.updateGaugesLocked()
	d.mu.Unlock()
}

func (d *Driver) updateGaugesLocked() {
	var n int64
	for _, v := range d.volumes {
		n += v.Bytes
	}
	d.cfg.Metrics.volumes.Set(float64(len(d.volumes)))
	d.cfg.Metrics.bytesMounted.Set(float64(n))
}

// Defaults.
const (
	DefaultTmpfsSize       = 8 << 20
	DefaultRefreshInterval = 2 * time.Minute
	DefaultFetchTimeout    = 30 * time.Second
)

// classify attaches a failure reason to err.
func classify(r reason.Reason, err error) error { return reason.Wrap(r, err) }

// Event reasons recorded on pods (the one vocabulary's, package reason).
const (
	EventSecretFetchFailed   = reason.EventSecretFetchFailed
	EventAccessDenied        = reason.EventAccessDenied
	EventInvalidClass        = reason.EventInvalidClass
	EventSecretRefreshFailed = reason.EventSecretRefreshFailed
	EventClassWarning        = reason.EventClassWarning
)

// AtomicWrite is the production WriteFunc: the shared core's atomic writer.
// A write whose new set is live but whose cleanup failed (atomicdir.ErrCleanup)
// is a success: the next write or Repair removes what is left.
func AtomicWrite(dir string, files []secrets.File, gid *int) (bool, error) {
	changed, err := atomicdir.WriteWithOptions(dir, files, atomicdir.Options{GID: gid})
	if changed && errors.Is(err, atomicdir.ErrCleanup) {
		return true, nil
	}
	return changed, err
}
