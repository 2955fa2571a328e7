package mounter

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/record"
	mount "k8s.io/mount-utils"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/extract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Source turns a validated class into its file set, fetched with an identity:
// the shared core's awsfetch + extract (see NewCoreSource).
type Source interface {
	Files(ctx context.Context, spec *spc.Spec, id identity.Identity) ([]secrets.File, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, spec *spc.Spec, id identity.Identity) ([]secrets.File, error)

// Files implements Source.
func (f SourceFunc) Files(ctx context.Context, spec *spc.Spec, id identity.Identity) ([]secrets.File, error) {
	return f(ctx, spec, id)
}

// Resolver picks a pod's AWS identity (*identity.Resolver).
type Resolver interface {
	Resolve(ctx context.Context, req identity.Request) (identity.Identity, error)
}

// WriteFunc writes a file set into dir atomically, group-owned by gid when not
// nil, and reports whether anything changed (atomicdir.WriteWithOptions).
type WriteFunc func(dir string, files []secrets.File, gid *int) (changed bool, err error)

// Config holds a Driver's settings and dependencies.
type Config struct {
	// DriverName is the CSI driver name.
	DriverName string
	// NodeID is what NodeGetInfo reports (the node name).
	NodeID string
	// PluginDir holds the per-volume staging mounts and state files.
	PluginDir string
	// TmpfsSize caps each volume's tmpfs, in bytes.
	TmpfsSize int64
	// RefreshInterval is the default rotation interval (a class's refreshInterval overrides it).
	RefreshInterval time.Duration
	// DefaultRegion is used for classes without a region.
	DefaultRegion string
	// FetchTimeout bounds one fetch.
	FetchTimeout time.Duration

	// Cluster reads SecretProviderClasses and ServiceAccounts.
	Cluster Cluster
	// Resolver picks identities.
	Resolver Resolver
	// Source fetches and extracts.
	Source Source
	// Write is the atomic writer; nil is atomicdir.WriteWithOptions.
	Write WriteFunc
	// Reason classifies fetch errors into the fixed reason set; nil is awsfetch.Reason.
	Reason func(error) string
	// Mounter mounts; NewSyscallMounter in production and in sanity/integration tests.
	Mounter mount.Interface
	// Events records Kubernetes Events on pods; nil records none.
	Events record.EventRecorder
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
	case cfg.Cluster == nil || cfg.Resolver == nil || cfg.Source == nil || cfg.Mounter == nil:
		return nil, errors.New("cluster, resolver, source and mounter are required")
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
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Reason == nil {
		cfg.Reason = awsfetch.Reason
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

// inflight is a set of volume IDs with an operation in progress (the per-volume lock).
type inflight struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func newInflight() *inflight { return &inflight{ids: map[string]struct{}{}} }

// acquire takes the lock for id, or reports false when it is held.
func (f *inflight) acquire(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ids[id]; ok {
		return false
	}
	f.ids[id] = struct{}{}
	return true
}

func (f *inflight) release(id string) {
	f.mu.Lock()
	delete(f.ids, id)
	f.mu.Unlock()
}

// Defaults.
const (
	DefaultTmpfsSize       = 8 << 20
	DefaultRefreshInterval = 2 * time.Minute
	DefaultFetchTimeout    = 30 * time.Second
)

// classify attaches a failure reason to err.
func classify(reason string, err error) error { return &classified{reason: reason, err: err} }

// classified is an error with its failure reason attached.
type classified struct {
	reason string
	err    error
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// reasonOf returns the fixed failure reason for err.
func (d *Driver) reasonOf(err error) string {
	var c *classified
	if errors.As(err, &c) {
		return c.reason
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ReasonAWSUnavailable
	}
	if r := d.cfg.Reason(err); r != "" {
		return r
	}
	return ReasonInternal
}

// Failure reasons: the fixed label set of the failures metric: the shared
// core's (awsfetch.Reasons) plus the mounter's own.
const (
	ReasonInvalidRequest = "InvalidRequest"
	ReasonInvalidClass   = awsfetch.ReasonInvalidClass
	ReasonNoIdentity     = "NoIdentity"
	ReasonAccessDenied   = awsfetch.ReasonAccessDenied
	ReasonNotFound       = awsfetch.ReasonNotFound
	ReasonThrottled      = awsfetch.ReasonThrottled
	ReasonDecryption     = awsfetch.ReasonDecryption
	ReasonAWSUnavailable = awsfetch.ReasonUnavailable
	ReasonAWSError       = awsfetch.ReasonAWSError
	ReasonInvalidValue   = awsfetch.ReasonInvalidValue
	ReasonKubernetesAPI  = "KubernetesAPI"
	ReasonMount          = "MountFailed"
	ReasonInternal       = awsfetch.ReasonInternal
)

// Event reasons recorded on pods.
const (
	EventSecretFetchFailed   = "SecretFetchFailed"
	EventAccessDenied        = "AccessDenied"
	EventInvalidClass        = "InvalidSecretProviderClass"
	EventSecretRefreshFailed = "SecretRefreshFailed"
)

// eventReason maps a failure reason to the pod Event reason of a first publish.
func eventReason(reason string) string {
	switch reason {
	case ReasonInvalidClass:
		return EventInvalidClass
	case ReasonAccessDenied, ReasonNoIdentity:
		return EventAccessDenied
	}
	return EventSecretFetchFailed
}

// AtomicWrite is the production WriteFunc: the shared core's atomic writer.
func AtomicWrite(dir string, files []secrets.File, gid *int) (bool, error) {
	return atomicdir.WriteWithOptions(dir, files, atomicdir.Options{GID: gid})
}

// NewCoreSource returns the production Source: the shared core's fetcher
// (node cache keyed by the identity's Key) followed by extraction.
func NewCoreSource(f *awsfetch.Fetcher) Source {
	return SourceFunc(func(ctx context.Context, spec *spc.Spec, id identity.Identity) ([]secrets.File, error) {
		vals, err := f.Fetch(ctx, spec, awsfetch.Identity{Key: id.Key, Credentials: id.Credentials})
		if err != nil {
			return nil, err
		}
		return extract.Files(spec, vals)
	})
}
