package webhook

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
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
	// InjectorImage is the image of the init container (init mode): this
	// webhook's own image.
	InjectorImage string
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
	// Certs are the certificate source options.
	Certs *certs.Options
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Port:              DefaultPort,
		MetricsAddr:       ":8080",
		HealthAddr:        ":8081",
		TLSMinVersion:     "1.2",
		DriverName:        DefaultDriverName,
		DefaultMode:       string(ModeCSI),
		DefaultMountPath:  DefaultMountPath,
		Namespace:         os.Getenv("POD_NAMESPACE"),
		WebhookConfigName: DefaultWebhookConfigName,
		ServiceName:       DefaultServiceName,
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
	fs.StringVar(&o.InjectorImage, "injector-image", o.InjectorImage, "image of the init container in init mode (this webhook's own image)")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "the webhook's own namespace: never mutated, holds the certificate Secret (default $POD_NAMESPACE)")
	fs.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespaces", o.ExcludeNamespaces, "more namespaces never mutated (kube-system, kube-public and --namespace always are)")
	fs.StringVar(&o.DefaultRegion, "default-region", o.DefaultRegion, "AWS region assumed when a SecretProviderClass sets none (used for validation)")
	fs.StringVar(&o.WebhookConfigName, "webhook-config-name", o.WebhookConfigName, "MutatingWebhookConfiguration whose caBundle the self-managed certificates are patched into")
	fs.StringVar(&o.ServiceName, "service-name", o.ServiceName, "the webhook's Service, whose DNS names the self-managed serving certificate carries")
	o.Certs.AddFlags(fs)
}

// Validate checks the flag values.
func (o *Options) Validate() error {
	var errs []error
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: must be 1-65535", o.Port))
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
func (o *Options) Config() Config {
	return Config{
		DriverName:         o.DriverName,
		DefaultMode:        Mode(o.DefaultMode),
		DefaultMountPath:   o.DefaultMountPath,
		InjectorImage:      o.InjectorImage,
		Namespace:          o.Namespace,
		ExcludedNamespaces: o.ExcludeNamespaces,
		DefaultRegion:      o.DefaultRegion,
		Specs:              NewSpecCache(1024),
	}
}

func (o *Options) tlsVersion() (uint16, error) {
	switch o.TLSMinVersion {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version %q: must be 1.2 or 1.3", o.TLSMinVersion)
}
