package webhook

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Defaults of the webhook's flags.
const (
	DefaultDriverName        = "csi.aws-secrets-injector.io"
	DefaultMountPath         = "/mnt/secrets-store"
	DefaultPort              = 9443
	DefaultWebhookConfigName = "aws-secrets-injector"
	DefaultServiceName       = "aws-secrets-injector-webhook"
)

// Options are the flags of `aws-secrets-injector webhook`.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster (or $KUBECONFIG).
	Kubeconfig string
	// Host and Port are where the HTTPS webhook server listens.
	Host string
	Port int
	// MetricsAddr serves Prometheus /metrics over HTTP ("0" disables).
	MetricsAddr string
	// HealthAddr serves /healthz and /readyz over HTTP ("0" disables);
	// the HTTPS port serves them too.
	HealthAddr string
	// TLSMinVersion is "1.2" or "1.3".
	TLSMinVersion string
	// DriverName is the CSI driver of the inline volumes (csi mode).
	DriverName string
	// DefaultMode is the delivery for pods without a mode annotation.
	DefaultMode string
	// DefaultMountPath is where files appear when a pod has no mount-path annotation.
	DefaultMountPath string
	// InjectorImage is the image of the init container (init mode) and of
	// the exec wrapper's copy container (either mode): this webhook's own
	// image.
	InjectorImage string
	// InjectorImagePullPolicy is the init container's imagePullPolicy
	// (Always, IfNotPresent, Never); empty leaves the API server's default.
	InjectorImagePullPolicy string
	// InjectorAWSRegion becomes AWS_REGION of the init container; empty
	// leaves the region to the class and the SDK (the pod's env, IMDS).
	InjectorAWSRegion string
	// Settled, when set, runs once when start-up is over (the caches have
	// synced): the lean binary gives back the pages of the code that started
	// it there (not a flag).
	Settled func()
	// InjectorAWSEndpoint becomes AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_STS
	// of the init container (VPC or FIPS endpoint, or a fake AWS in tests).
	InjectorAWSEndpoint string
	// InjectorCPURequest, InjectorCPULimit, InjectorMemoryRequest and
	// InjectorMemoryLimit are the init container's default resources
	// (Kubernetes quantities; empty: none); pods override them by annotation.
	InjectorCPURequest    string
	InjectorCPULimit      string
	InjectorMemoryRequest string
	InjectorMemoryLimit   string
	// InjectorVolumeSizeLimit is the sizeLimit of the memory emptyDir
	// (a Kubernetes quantity; empty: none).
	InjectorVolumeSizeLimit string
	// InjectorRefreshInterval is the refresh period of pods with
	// refresh: "true" and no refresh-interval annotation.
	InjectorRefreshInterval time.Duration
	// InjectorDeadline bounds the first fill of pods without the
	// injector-deadline annotation; 0 leaves the injector's default (2m).
	InjectorDeadline time.Duration
	// Namespace is the webhook's own namespace (never mutated; holds the
	// certificate Secret). Defaults to $POD_NAMESPACE.
	Namespace string
	// ExcludeNamespaces are never mutated, besides kube-system, kube-public
	// and Namespace.
	ExcludeNamespaces []string
	// DefaultRegion is the AWS region assumed when a SecretProviderClass has
	// none (validation only).
	DefaultRegion string
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle
	// self-managed certificates are patched into.
	WebhookConfigName string
	// ServiceName is the webhook's Service; its DNS names go into the
	// self-managed serving certificate.
	ServiceName string
	// StrictClasses denies pods whose class has what the AWS provider
	// accepts but is likely a mistake (an unknown key), instead of warning.
	StrictClasses bool
	// KubeAPIQPS and KubeAPIBurst bound the client-side rate of API server
	// requests (certificate bootstrap, cache lists and watches; admission
	// itself reads only the caches).
	KubeAPIQPS   float32
	KubeAPIBurst int
	// Certs are the certificate source options.
	Certs *certs.Options
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Port:             DefaultPort,
		MetricsAddr:      ":8080",
		HealthAddr:       ":8081",
		TLSMinVersion:    "1.2",
		DriverName:       DefaultDriverName,
		DefaultMode:      string(ModeCSI),
		DefaultMountPath: DefaultMountPath,
		Namespace:        os.Getenv("POD_NAMESPACE"),

		InjectorCPURequest:      DefaultInjectorCPURequest,
		InjectorMemoryRequest:   DefaultInjectorMemoryRequest,
		InjectorMemoryLimit:     DefaultInjectorMemoryLimit,
		InjectorVolumeSizeLimit: DefaultInjectorVolumeSizeLimit,
		InjectorRefreshInterval: DefaultInjectorRefreshInterval,

		WebhookConfigName: DefaultWebhookConfigName,
		ServiceName:       DefaultServiceName,
		KubeAPIQPS:        50,
		KubeAPIBurst:      100,
		Certs:             certs.NewOptions(),
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file (default: in-cluster configuration, or $KUBECONFIG)")
	fs.StringVar(&o.Host, "host", o.Host, "address the HTTPS webhook server binds to (default all)")
	fs.IntVar(&o.Port, "port", o.Port, "port of the HTTPS webhook server (/mutate-pods, /healthz, /readyz)")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, `address of the Prometheus /metrics endpoint (HTTP); "0" disables it`)
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, `address of /healthz and /readyz over HTTP; "0" disables it`)
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", o.TLSMinVersion, `minimum TLS version: "1.2" or "1.3"`)
	fs.StringVar(&o.DriverName, "driver-name", o.DriverName, "CSI driver name of the inline volumes (csi mode), e.g. secrets-store.csi.k8s.io to stand in for the upstream driver")
	fs.StringVar(&o.DefaultMode, "default-mode", o.DefaultMode, `delivery for pods without the mode annotation: "csi" or "init"`)
	fs.StringVar(&o.DefaultMountPath, "default-mount-path", o.DefaultMountPath, "mount path for pods without the mount-path annotation")
	fs.StringVar(&o.InjectorImage, "injector-image", o.InjectorImage, "image of the init container in init mode and of the exec wrapper's copy container (this webhook's own image)")
	fs.StringVar(&o.InjectorImagePullPolicy, "injector-image-pull-policy", o.InjectorImagePullPolicy, `imagePullPolicy of the init container: "Always", "IfNotPresent" or "Never" (default: the API server's)`)
	fs.StringVar(&o.InjectorAWSRegion, "injector-aws-region", o.InjectorAWSRegion, "AWS_REGION of the init container (default: the class's region, else the SDK's configuration)")
	fs.StringVar(&o.InjectorAWSEndpoint, "injector-aws-endpoint", o.InjectorAWSEndpoint, "AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_STS of the init container: a VPC or FIPS endpoint, or a fake AWS in tests")
	fs.StringVar(&o.InjectorCPURequest, "injector-cpu-request", o.InjectorCPURequest, "CPU request of the init container (pods override it with the injector-cpu-request annotation; empty: none)")
	fs.StringVar(&o.InjectorCPULimit, "injector-cpu-limit", o.InjectorCPULimit, "CPU limit of the init container (annotation injector-cpu-limit; empty: none)")
	fs.StringVar(&o.InjectorMemoryRequest, "injector-memory-request", o.InjectorMemoryRequest, "memory request of the init container (annotation injector-memory-request; empty: none)")
	fs.StringVar(&o.InjectorMemoryLimit, "injector-memory-limit", o.InjectorMemoryLimit, "memory limit of the init container (annotation injector-memory-limit; empty: none)")
	fs.StringVar(&o.InjectorVolumeSizeLimit, "injector-volume-size-limit", o.InjectorVolumeSizeLimit, "sizeLimit of the memory emptyDir the init container fills (empty: none)")
	fs.DurationVar(&o.InjectorRefreshInterval, "injector-refresh-interval", o.InjectorRefreshInterval, `refresh period of pods with refresh: "true" and no refresh-interval annotation (native sidecar)`)
	fs.DurationVar(&o.InjectorDeadline, "injector-deadline", o.InjectorDeadline, "time the init container has to write the first complete file set (annotation injector-deadline; 0: the injector's default, 2m)")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "the webhook's own namespace: never mutated, holds the certificate Secret (default $POD_NAMESPACE)")
	fs.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespaces", o.ExcludeNamespaces, "more namespaces never mutated (kube-system, kube-public and --namespace always are)")
	fs.StringVar(&o.DefaultRegion, "default-region", o.DefaultRegion, "AWS region assumed when a SecretProviderClass sets none (used for validation)")
	fs.StringVar(&o.WebhookConfigName, "webhook-config-name", o.WebhookConfigName, "MutatingWebhookConfiguration whose caBundle the self-managed certificates are patched into")
	fs.StringVar(&o.ServiceName, "service-name", o.ServiceName, "the webhook's Service, whose DNS names the self-managed serving certificate carries")
	fs.BoolVar(&o.StrictClasses, "strict-classes", o.StrictClasses, "deny pods whose SecretProviderClass has what the AWS provider accepts but is likely a mistake (an unknown key in objects), instead of an admission warning")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "API server requests per second (admissions read only the webhook's caches)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "API server request burst")
	o.Certs.AddFlags(fs)
}

// Validate checks the flag values.
func (o *Options) Validate() error {
	var errs []error
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: must be 1-65535", o.Port))
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v and --kube-api-burst %d: must be positive", o.KubeAPIQPS, o.KubeAPIBurst))
	}
	if _, err := o.tlsVersion(); err != nil {
		errs = append(errs, err)
	}
	if len(validation.IsDNS1123Subdomain(o.DriverName)) > 0 {
		errs = append(errs, fmt.Errorf("--driver-name %q: not a valid CSI driver name", o.DriverName))
	}
	mode, err := ParseMode(o.DefaultMode)
	if err != nil {
		errs = append(errs, fmt.Errorf("--default-mode: %w", err))
	}
	if _, err := checkMountPath(o.DefaultMountPath); err != nil {
		errs = append(errs, fmt.Errorf("--default-mount-path %q: %w", o.DefaultMountPath, err))
	} else if path.Clean(o.DefaultMountPath) != o.DefaultMountPath {
		errs = append(errs, fmt.Errorf("--default-mount-path %q: use the clean form %q", o.DefaultMountPath, path.Clean(o.DefaultMountPath)))
	}
	if mode == ModeInit && o.InjectorImage == "" {
		errs = append(errs, errors.New("--injector-image: required when --default-mode is init"))
	}
	if _, err := o.initConfig(); err != nil {
		errs = append(errs, err)
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace: required (or set POD_NAMESPACE)"))
	} else if len(validation.IsDNS1123Label(o.Namespace)) > 0 {
		errs = append(errs, fmt.Errorf("--namespace %q: not a valid namespace name", o.Namespace))
	}
	for _, ns := range o.ExcludeNamespaces {
		if len(validation.IsDNS1123Label(ns)) > 0 {
			errs = append(errs, fmt.Errorf("--exclude-namespaces: %q is not a valid namespace name", ns))
		}
	}
	if o.Certs.Mode == certs.ModeSelfManaged {
		if len(validation.IsDNS1123Subdomain(o.WebhookConfigName)) > 0 {
			errs = append(errs, fmt.Errorf("--webhook-config-name %q: not a valid object name", o.WebhookConfigName))
		}
		if len(validation.IsDNS1123Label(o.ServiceName)) > 0 {
			errs = append(errs, fmt.Errorf("--service-name %q: not a valid Service name", o.ServiceName))
		}
	}
	if err := o.Certs.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Config is the mutation configuration the options describe.
// Invalid init-mode flags (which Validate reports) are left at their zero
// values.
func (o *Options) Config() Config {
	ic, _ := o.initConfig()
	return Config{
		DriverName:         o.DriverName,
		DefaultMode:        Mode(o.DefaultMode),
		DefaultMountPath:   o.DefaultMountPath,
		InjectorImage:      o.InjectorImage,
		Init:               ic,
		Namespace:          o.Namespace,
		ExcludedNamespaces: o.ExcludeNamespaces,
		DefaultRegion:      o.DefaultRegion,
		StrictClasses:      o.StrictClasses,
		Specs:              NewSpecCache(1024),
	}
}

// initConfig parses the --injector-* flags.
func (o *Options) initConfig() (InitConfig, error) {
	var ic InitConfig
	var errs []error
	switch p := corev1.PullPolicy(o.InjectorImagePullPolicy); p {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		ic.PullPolicy = p
	default:
		errs = append(errs, fmt.Errorf("--injector-image-pull-policy %q: use Always, IfNotPresent or Never", o.InjectorImagePullPolicy))
	}
	if o.InjectorAWSRegion != "" && !regionRE.MatchString(o.InjectorAWSRegion) {
		errs = append(errs, fmt.Errorf("--injector-aws-region %q: not an AWS region such as us-east-1", o.InjectorAWSRegion))
	}
	ic.Region = o.InjectorAWSRegion
	if o.InjectorAWSEndpoint != "" {
		u, err := url.Parse(o.InjectorAWSEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--injector-aws-endpoint %q: not an http(s) URL", o.InjectorAWSEndpoint))
		}
	}
	ic.Endpoint = o.InjectorAWSEndpoint
	quantity := func(flag, v string) *resource.Quantity {
		if v == "" {
			return nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("--%s %q: not a positive Kubernetes quantity", flag, v))
			return nil
		}
		return &q
	}
	put := func(list *corev1.ResourceList, name corev1.ResourceName, q *resource.Quantity) {
		if q == nil {
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = *q
	}
	put(&ic.Resources.Requests, corev1.ResourceCPU, quantity("injector-cpu-request", o.InjectorCPURequest))
	put(&ic.Resources.Limits, corev1.ResourceCPU, quantity("injector-cpu-limit", o.InjectorCPULimit))
	put(&ic.Resources.Requests, corev1.ResourceMemory, quantity("injector-memory-request", o.InjectorMemoryRequest))
	put(&ic.Resources.Limits, corev1.ResourceMemory, quantity("injector-memory-limit", o.InjectorMemoryLimit))
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := ic.Resources.Requests[r]
		lim, okLim := ic.Resources.Limits[r]
		if okReq && okLim && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("--injector-%s-request %s exceeds --injector-%s-limit %s", r, req.String(), r, lim.String()))
		}
	}
	ic.VolumeSizeLimit = quantity("injector-volume-size-limit", o.InjectorVolumeSizeLimit)
	if o.InjectorRefreshInterval < spc.MinRefreshInterval {
		errs = append(errs, fmt.Errorf("--injector-refresh-interval %s: use %s or more", o.InjectorRefreshInterval, spc.MinRefreshInterval))
	}
	ic.RefreshInterval = o.InjectorRefreshInterval
	if o.InjectorDeadline < 0 || (o.InjectorDeadline > 0 && o.InjectorDeadline < time.Second) {
		errs = append(errs, fmt.Errorf("--injector-deadline %s: use 1s or more, or 0 for the injector's default", o.InjectorDeadline))
	}
	ic.Deadline = o.InjectorDeadline
	return ic, errors.Join(errs...)
}

// regionRE matches AWS region names such as us-east-1 or us-gov-west-1.
var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func (o *Options) tlsVersion() (uint16, error) {
	switch o.TLSMinVersion {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version %q: must be 1.2 or 1.3", o.TLSMinVersion)
}
