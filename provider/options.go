package provider

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
)

// DefaultCacheTTL is how long fetched values are shared between Mounts of one
// identity unless --cache-ttl says otherwise: long enough for a rollout's pods
// to share one fetch, short enough that a rotation (the driver's poll, 2m by
// default) sees a new value at most this much later than ASCP would.
const DefaultCacheTTL = 30 * time.Second

// unixPathMax is the longest socket path Linux accepts (sun_path, with its NUL).
const unixPathMax = 107

// Options are the flags of `aws-secrets-injector provider`.
type Options struct {
	// Settled, when set, runs once when start-up is over (the socket is
	// listening, before the first request): the lean binary gives back the
	// pages of the code that started it there (not a flag).
	Settled func()
	// ProvidersDir is the directory the driver looks for <provider>.sock in
	// (its --provider-volume); the socket is ProvidersDir/aws.sock.
	ProvidersDir string
	// ShadowDir is a directory the driver searches before ProvidersDir (its
	// --additional-provider-volume-paths): an aws.sock there wins over ours,
	// so Run reports one at start. Empty: not checked.
	ShadowDir string
	// HTTPAddress serves /healthz and /metrics; empty disables it.
	HTTPAddress string
	// NodeIdentity is the node-identity policy: never, fallback or always.
	NodeIdentity string
	// StrictClasses refuses classes with what the AWS provider accepts but
	// is likely a mistake (an unknown key), as the mounter's flag does.
	StrictClasses bool
	// PodIdentityEndpoint is the EKS Pod Identity agent's credentials URL.
	PodIdentityEndpoint string
	// Region is the default AWS region (else AWS_REGION / the SDK's configuration).
	Region string
	// RegionFromIMDS allows the instance metadata service as the last source
	// of the default region (after --region and AWS_REGION). The provider
	// reads no Node, so the node's region label is not a source here.
	RegionFromIMDS bool
	// AWSEndpoint overrides every AWS service endpoint (VPC/FIPS endpoints, tests); AWS_ENDPOINT_URL works too.
	AWSEndpoint string
	// CacheTTL is how long fetched values are shared on the node per identity; 0 disables the cache.
	CacheTTL time.Duration
	// Revalidate checks a cached Secrets Manager value past its TTL with
	// DescribeSecret and reads it again only when its version changed
	// (awsfetch.Options.Revalidate; needs secretsmanager:DescribeSecret).
	Revalidate bool
	// FetchTimeout bounds one Mount.
	FetchTimeout time.Duration
	// DriverMaxRecvMsgSize is the driver's --max-call-recv-msg-size: larger
	// responses are refused here with a clear error instead of failing there.
	DriverMaxRecvMsgSize int
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster configuration.
	Kubeconfig string
	// KubeAPIQPS and KubeAPIBurst bound the client-side rate of API server
	// requests (one ServiceAccount read per IRSA Mount).
	KubeAPIQPS   float32
	KubeAPIBurst int
	// KubeCacheIdle is how long a ServiceAccount may go unread before its
	// watch stops; 0 turns the watches off (every read a GET).
	// KubeCacheMaxObjects bounds the ServiceAccounts watched at once.
	KubeCacheIdle       time.Duration
	KubeCacheMaxObjects int
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		ProvidersDir:         DefaultProvidersDir,
		ShadowDir:            LegacyProvidersDir,
		HTTPAddress:          ":9810",
		NodeIdentity:         string(identity.NodeNever),
		PodIdentityEndpoint:  identity.DefaultPodIdentityEndpoint,
		CacheTTL:             DefaultCacheTTL,
		Revalidate:           true,
		FetchTimeout:         DefaultFetchTimeout,
		DriverMaxRecvMsgSize: DriverMaxRecvMsgSize,
		KubeAPIQPS:           50,
		KubeAPIBurst:         100,
		KubeCacheIdle:        objcache.DefaultIdle,
		KubeCacheMaxObjects:  objcache.DefaultMaxObjects,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ProvidersDir, "providers-dir", o.ProvidersDir, "directory the Secrets Store CSI driver finds providers in (its --provider-volume); the socket is <dir>/"+SocketName)
	fs.StringVar(&o.ShadowDir, "shadow-dir", o.ShadowDir, "directory the driver searches first (its --additional-provider-volume-paths): a "+SocketName+" there shadows ours and is reported at start (empty: not checked)")
	fs.StringVar(&o.HTTPAddress, "http-address", o.HTTPAddress, "address serving /healthz and /metrics (empty: off)")
	fs.BoolVar(&o.StrictClasses, "strict-classes", o.StrictClasses, "refuse SecretProviderClasses with what the AWS provider accepts but is likely a mistake (an unknown key in objects)")
	fs.StringVar(&o.NodeIdentity, "node-identity", o.NodeIdentity, "when the node's own AWS role may be used for a pod: never, fallback (pods without IRSA or Pod Identity) or always")
	fs.StringVar(&o.PodIdentityEndpoint, "pod-identity-endpoint", o.PodIdentityEndpoint, "EKS Pod Identity agent credentials URL")
	fs.StringVar(&o.Region, "region", o.Region, "default AWS region for classes without one (default: AWS_REGION / the SDK's configuration)")
	fs.BoolVar(&o.RegionFromIMDS, "region-from-imds", o.RegionFromIMDS, "when neither --region nor AWS_REGION names a region, ask the instance metadata service")
	fs.StringVar(&o.AWSEndpoint, "aws-endpoint", o.AWSEndpoint, "override every AWS endpoint (VPC/FIPS endpoints); AWS_ENDPOINT_URL works too")
	fs.DurationVar(&o.CacheTTL, "cache-ttl", o.CacheTTL, "how long fetched values are shared between Mounts of one identity on this node (0: no cache)")
	fs.BoolVar(&o.Revalidate, "revalidate", o.Revalidate, "check a cached Secrets Manager value past its TTL with DescribeSecret (needs secretsmanager:DescribeSecret) and read it again only when its version changed; false: read every value again")
	fs.DurationVar(&o.FetchTimeout, "fetch-timeout", o.FetchTimeout, "time limit of one Mount")
	fs.IntVar(&o.DriverMaxRecvMsgSize, "driver-max-recv-msg-size", o.DriverMaxRecvMsgSize, "the driver's --max-call-recv-msg-size in bytes: larger responses are refused with an error naming the limit")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default: in-cluster configuration)")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "API server requests per second (each IRSA Mount reads the pod's ServiceAccount)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "API server request burst")
	fs.DurationVar(&o.KubeCacheIdle, "kube-cache-idle", o.KubeCacheIdle, "watch each ServiceAccount the Mounts read, so the driver's rotation polls make no API call, until it has not been read for this long; keep it above the driver's --rotation-poll-interval (0: no watches, a GET per Mount; needs list and watch on serviceaccounts)")
	fs.IntVar(&o.KubeCacheMaxObjects, "kube-cache-max-objects", o.KubeCacheMaxObjects, "most ServiceAccounts watched at once; reads of more are GETs")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var errs []error
	switch {
	case !filepath.IsAbs(o.ProvidersDir):
		errs = append(errs, fmt.Errorf("--providers-dir %q must be absolute", o.ProvidersDir))
	case len(o.SocketPath()) > unixPathMax:
		errs = append(errs, fmt.Errorf("--providers-dir %q: the socket path %s is longer than %d bytes, the most a unix socket takes", o.ProvidersDir, o.SocketPath(), unixPathMax))
	}
	if o.ShadowDir != "" && !filepath.IsAbs(o.ShadowDir) {
		errs = append(errs, fmt.Errorf("--shadow-dir %q must be absolute (or empty)", o.ShadowDir))
	}
	if _, err := identity.ParsePolicy(o.NodeIdentity); err != nil {
		errs = append(errs, fmt.Errorf("--node-identity: %w", err))
	}
	if o.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("--cache-ttl %s: must not be negative", o.CacheTTL))
	}
	if o.FetchTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--fetch-timeout %s: must be positive", o.FetchTimeout))
	}
	if o.DriverMaxRecvMsgSize < 64<<10 {
		errs = append(errs, fmt.Errorf("--driver-max-recv-msg-size %d: must be at least 65536 (the driver's default is %d)", o.DriverMaxRecvMsgSize, DriverMaxRecvMsgSize))
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
	return errors.Join(errs...)
}

// SocketPath is the socket the provider listens on: <providers dir>/aws.sock.
func (o *Options) SocketPath() string { return filepath.Join(o.ProvidersDir, SocketName) }
