package mounter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
)

// DefaultDriverName is the CSI driver name unless --driver-name says otherwise.
const DefaultDriverName = "csi.aws-secrets-injector.io"

// Options are the flags of `aws-secrets-injector mounter`.
type Options struct {
	// Settled, when set, runs once when start-up is over (the socket is
	// listening, before the first request): the lean binary gives back the
	// pages of the code that started it there (not a flag).
	Settled func()
	// Endpoint is the CSI socket the kubelet calls (unix:///path).
	Endpoint string
	// DriverName is the CSI driver name; "secrets-store.csi.k8s.io" lets it stand in for the upstream driver.
	DriverName string
	// NodeName is the node's name, reported as the CSI node ID (default $NODE_NAME, else the host name).
	NodeName string
	// KubeletDir is the kubelet's root directory (its --root-dir): target paths
	// must be <kubelet-dir>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount.
	KubeletDir string
	// PluginDir holds staging mounts and state files (default <kubelet-dir>/plugins/<driver-name>).
	PluginDir string
	// Register serves the kubelet plugin-registration socket under <kubelet-dir>/plugins_registry.
	Register bool
	// RegistrationEndpoint is the CSI socket path as the kubelet sees it on the host
	// (default <plugin-dir>/csi.sock).
	RegistrationEndpoint string
	// HTTPAddress serves /healthz and /metrics; empty disables it.
	HTTPAddress string
	// NodeIdentity is the node-identity policy: never, fallback or always.
	NodeIdentity string
	// PodIdentityEndpoint is the EKS Pod Identity agent's credentials URL.
	PodIdentityEndpoint string
	// Region is the default AWS region (else AWS_REGION / the SDK's configuration).
	Region string
	// RegionFromIMDS allows the instance metadata service as the last source of
	// the default region (after --region and the node's label).
	RegionFromIMDS bool
	// AWSEndpoint overrides every AWS service endpoint (VPC/FIPS endpoints, tests); AWS_ENDPOINT_URL works too.
	AWSEndpoint string
	// RefreshInterval is the rotation interval of volumes whose class sets none.
	RefreshInterval time.Duration
	// StrictClasses refuses classes with what the AWS provider accepts but
	// is likely a mistake (an unknown key), instead of a warning Event.
	StrictClasses bool
	// SyncSecrets creates and updates the Kubernetes Secrets a class declares
	// in spec.secretObjects (the values then sit in etcd; the mounter needs
	// get, create and update on secrets cluster-wide). Off, such a class gets
	// an Event on the pod instead.
	SyncSecrets bool
	// CacheTTL is how long fetched values are shared on the node per identity; 0 disables the cache.
	CacheTTL time.Duration
	// Revalidate checks a cached Secrets Manager value past its TTL with
	// DescribeSecret and reads it again only when its version changed
	// (awsfetch.Options.Revalidate; needs secretsmanager:DescribeSecret).
	Revalidate bool
	// TmpfsSize caps each volume's tmpfs.
	TmpfsSize string
	// FetchTimeout bounds one volume's fetch.
	FetchTimeout time.Duration
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster configuration.
	Kubeconfig string
	// KubeAPIQPS and KubeAPIBurst bound the client-side rate of API server requests.
	KubeAPIQPS   float32
	KubeAPIBurst int
	// KubeCacheIdle is how long a SecretProviderClass or ServiceAccount the
	// node's volumes read stays watched after its last read (refreshes read
	// from the watches); 0 turns the watches off: every read is a GET.
	KubeCacheIdle time.Duration
	// KubeCacheMaxObjects bounds the objects watched per resource; reads of
	// more are GETs.
	KubeCacheMaxObjects int

	tmpfsBytes int64
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Endpoint:            "unix:///csi/csi.sock",
		DriverName:          DefaultDriverName,
		KubeletDir:          "/var/lib/kubelet",
		Register:            true,
		HTTPAddress:         ":9809",
		NodeIdentity:        string(identity.NodeNever),
		PodIdentityEndpoint: identity.DefaultPodIdentityEndpoint,
		RefreshInterval:     DefaultRefreshInterval,
		CacheTTL:            DefaultRefreshInterval,
		Revalidate:          true,
		TmpfsSize:           "8Mi",
		FetchTimeout:        DefaultFetchTimeout,
		KubeAPIQPS:          50,
		KubeAPIBurst:        100,
		KubeCacheIdle:       objcache.DefaultIdle,
		KubeCacheMaxObjects: objcache.DefaultMaxObjects,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Endpoint, "endpoint", o.Endpoint, "CSI endpoint the mounter listens on (unix:///path)")
	fs.StringVar(&o.DriverName, "driver-name", o.DriverName, `CSI driver name (e.g. "secrets-store.csi.k8s.io" to stand in for the upstream driver)`)
	fs.StringVar(&o.NodeName, "node-name", o.NodeName, "node name, reported as the CSI node ID (default $NODE_NAME, else the host name)")
	fs.StringVar(&o.KubeletDir, "kubelet-dir", o.KubeletDir, "the kubelet's root directory (its --root-dir); the mounter publishes only at <kubelet-dir>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume-name>/mount")
	fs.StringVar(&o.PluginDir, "plugin-dir", o.PluginDir, "directory for staging mounts and volume state (default <kubelet-dir>/plugins/<driver-name>)")
	fs.BoolVar(&o.Register, "register", o.Register, "register with the kubelet through <kubelet-dir>/plugins_registry (no node-driver-registrar needed)")
	fs.StringVar(&o.RegistrationEndpoint, "kubelet-registration-path", o.RegistrationEndpoint, "CSI socket path as the kubelet sees it on the host (default <plugin-dir>/csi.sock)")
	fs.StringVar(&o.HTTPAddress, "http-address", o.HTTPAddress, "address serving /healthz and /metrics (empty: off)")
	fs.StringVar(&o.NodeIdentity, "node-identity", o.NodeIdentity, "when the node's own AWS role may be used for a pod: never, fallback (pods without IRSA or Pod Identity) or always")
	fs.StringVar(&o.PodIdentityEndpoint, "pod-identity-endpoint", o.PodIdentityEndpoint, "EKS Pod Identity agent credentials URL")
	fs.StringVar(&o.Region, "region", o.Region, "default AWS region for classes without one (default: AWS_REGION, else the node's topology.kubernetes.io/region label, else IMDS with --region-from-imds)")
	fs.BoolVar(&o.RegionFromIMDS, "region-from-imds", o.RegionFromIMDS, "when neither --region nor the node's topology.kubernetes.io/region label names a region, ask the instance metadata service")
	fs.StringVar(&o.AWSEndpoint, "aws-endpoint", o.AWSEndpoint, "override every AWS endpoint (VPC/FIPS endpoints); AWS_ENDPOINT_URL works too")
	fs.DurationVar(&o.RefreshInterval, "refresh-interval", o.RefreshInterval, "rotation interval for classes that set no refreshInterval")
	fs.BoolVar(&o.StrictClasses, "strict-classes", o.StrictClasses, "refuse SecretProviderClasses with what the AWS provider accepts but is likely a mistake (an unknown key in objects), instead of a warning Event")
	fs.BoolVar(&o.SyncSecrets, "sync-secrets", o.SyncSecrets, "create and update the Kubernetes Secrets a SecretProviderClass declares in spec.secretObjects (the values then sit in etcd; needs RBAC get, create and update on secrets)")
	fs.DurationVar(&o.CacheTTL, "cache-ttl", o.CacheTTL, "how long fetched values are shared between pods of one identity on this node (0: no cache)")
	fs.BoolVar(&o.Revalidate, "revalidate", o.Revalidate, "check a cached Secrets Manager value past its TTL with DescribeSecret (needs secretsmanager:DescribeSecret) and read it again only when its version changed; false: read every value again")
	fs.StringVar(&o.TmpfsSize, "tmpfs-size", o.TmpfsSize, "size limit of each volume's tmpfs (a Kubernetes quantity)")
	fs.DurationVar(&o.FetchTimeout, "fetch-timeout", o.FetchTimeout, "time limit of one volume's fetch")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default: in-cluster configuration)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "API server requests per second (a first publish reads a SecretProviderClass and a ServiceAccount and starts their watches; refreshes read from the watches, see --kube-cache-idle)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "API server request burst")
	fs.DurationVar(&o.KubeCacheIdle, "kube-cache-idle", o.KubeCacheIdle, "watch each SecretProviderClass and ServiceAccount the node's volumes read, so refreshes make no API call, until it has not been read for this long; keep it above the refresh intervals (0: no watches, a GET per read; needs list and watch on both)")
	fs.IntVar(&o.KubeCacheMaxObjects, "kube-cache-max-objects", o.KubeCacheMaxObjects, "most SecretProviderClasses, and most ServiceAccounts, watched at once; reads of more are GETs")
}

// Validate checks the flags and fills the derived defaults.
func (o *Options) Validate() error {
	var errs []error
	if _, err := ParseEndpoint(o.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("--endpoint: %w", err))
	}
	if o.DriverName == "" {
		errs = append(errs, errors.New("--driver-name must not be empty"))
	}
	if o.NodeName == "" {
		o.NodeName = os.Getenv("NODE_NAME")
	}
	if o.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			errs = append(errs, fmt.Errorf("--node-name not set and no host name: %w", err))
		}
		o.NodeName = h
	}
	if !filepath.IsAbs(o.KubeletDir) {
		errs = append(errs, fmt.Errorf("--kubelet-dir %q must be absolute", o.KubeletDir))
	} else {
		o.KubeletDir = filepath.Clean(o.KubeletDir) // "/var/lib/kubelet/" is "/var/lib/kubelet"
	}
	if o.PluginDir == "" {
		o.PluginDir = filepath.Join(o.KubeletDir, "plugins", o.DriverName)
	}
	if o.RegistrationEndpoint == "" {
		o.RegistrationEndpoint = filepath.Join(o.PluginDir, "csi.sock")
	}
	if _, err := identity.ParsePolicy(o.NodeIdentity); err != nil {
		errs = append(errs, fmt.Errorf("--node-identity: %w", err))
	}
	if o.RefreshInterval < 5*time.Second {
		errs = append(errs, fmt.Errorf("--refresh-interval %s: must be 5s or more", o.RefreshInterval))
	}
	if o.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("--cache-ttl %s: must not be negative", o.CacheTTL))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst <= 0 {
		errs = append(errs, errors.New("--kube-api-qps and --kube-api-burst must be positive"))
	}
	if o.KubeCacheIdle != 0 && o.KubeCacheIdle < time.Minute {
		errs = append(errs, fmt.Errorf("--kube-cache-idle %s: must be 0 (no watches) or 1m or more", o.KubeCacheIdle))
	}
	if o.KubeCacheMaxObjects <= 0 {
		errs = append(errs, fmt.Errorf("--kube-cache-max-objects %d: must be positive", o.KubeCacheMaxObjects))
	}
	if o.FetchTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--fetch-timeout %s: must be positive", o.FetchTimeout))
	}
	q, err := resource.ParseQuantity(o.TmpfsSize)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("--tmpfs-size %q: %w", o.TmpfsSize, err))
	case q.Value() < 64<<10:
		errs = append(errs, fmt.Errorf("--tmpfs-size %s: must be at least 64Ki", o.TmpfsSize))
	default:
		o.tmpfsBytes = q.Value()
	}
	return errors.Join(errs...)
}
