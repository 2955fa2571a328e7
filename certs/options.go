package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// Certificate source modes.
const (
	// ModeSelfManaged keeps a CA and serving certificate in a Secret.
	ModeSelfManaged = "self-managed"
	// ModeFiles reads tls.crt and tls.key from a directory.
	ModeFiles = "files"
)

// Default lifetimes.
const (
	DefaultCAValidity      = 10 * 365 * 24 * time.Hour
	DefaultServingValidity = 365 * 24 * time.Hour
)

// Source provides the webhook's serving certificate. It is a manager.Runnable.
type Source interface {
	// GetCertificate is used as tls.Config.GetCertificate.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Ready returns nil once a certificate is loaded.
	Ready() error
	// Start keeps the certificate current until ctx ends.
	Start(ctx context.Context) error
}

// Options are the certificate flags of the webhook.
type Options struct {
	// Mode is ModeSelfManaged or ModeFiles.
	Mode string
	// Dir holds tls.crt and tls.key in files mode.
	Dir string
	// SecretName is the Secret (in the webhook's namespace) holding the
	// self-managed certificates.
	SecretName string
	// CheckInterval is how often self-managed certificates are checked, and
	// files re-read.
	CheckInterval time.Duration
	// CAValidity and ServingValidity are the self-managed lifetimes.
	CAValidity, ServingValidity time.Duration
	// ExtraHosts are more DNS names or IPs for the self-managed serving
	// certificate, beside the Service's names.
	ExtraHosts []string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{ //nolint:gosec // G101: SecretName is a Secret's name, not a credential
		Mode:            ModeSelfManaged,
		Dir:             "/var/run/aws-secrets-injector/certs",
		SecretName:      "aws-secrets-injector-webhook-tls",
		CheckInterval:   time.Minute,
		CAValidity:      DefaultCAValidity,
		ServingValidity: DefaultServingValidity,
	}
}

// AddFlags registers the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Mode, "cert-mode", o.Mode, `serving certificate source: "self-managed" (a CA in a Secret, caBundle patched) or "files" (tls.crt and tls.key in --cert-dir, e.g. from cert-manager)`)
	fs.StringVar(&o.Dir, "cert-dir", o.Dir, "directory holding tls.crt and tls.key (files mode)")
	fs.StringVar(&o.SecretName, "cert-secret-name", o.SecretName, "Secret in the webhook's namespace holding the self-managed CA and serving certificate")
	fs.DurationVar(&o.CheckInterval, "cert-check-interval", o.CheckInterval, "how often certificates are checked for renewal and the caBundle for drift")
	fs.DurationVar(&o.CAValidity, "ca-validity", o.CAValidity, "lifetime of a self-managed CA (rolled over at 2/3, staged at 1/2)")
	fs.DurationVar(&o.ServingValidity, "cert-validity", o.ServingValidity, "lifetime of a self-managed serving certificate (renewed at 2/3)")
	fs.StringSliceVar(&o.ExtraHosts, "cert-extra-hosts", o.ExtraHosts, "more DNS names or IP addresses for the self-managed serving certificate")
}

// Validate checks the flag values.
func (o *Options) Validate() error {
	var errs []error
	switch o.Mode {
	case ModeSelfManaged:
		if len(validation.IsDNS1123Subdomain(o.SecretName)) > 0 {
			errs = append(errs, fmt.Errorf("--cert-secret-name %q: not a valid Secret name", o.SecretName))
		}
		if o.ServingValidity < 10*time.Minute || o.CAValidity < 2*o.ServingValidity {
			errs = append(errs, fmt.Errorf("--cert-validity %s, --ca-validity %s: need cert-validity ≥ 10m and ca-validity ≥ 2×cert-validity", o.ServingValidity, o.CAValidity))
		}
		if err := checkHosts(o.ExtraHosts); err != nil {
			errs = append(errs, fmt.Errorf("--cert-extra-hosts: %w", err))
		}
	case ModeFiles:
		if o.Dir == "" {
			errs = append(errs, errors.New("--cert-dir: required in files mode"))
		}
	default:
		errs = append(errs, fmt.Errorf("--cert-mode %q: must be %s or %s", o.Mode, ModeSelfManaged, ModeFiles))
	}
	if o.CheckInterval < time.Second {
		errs = append(errs, fmt.Errorf("--cert-check-interval %s: must be 1s or more", o.CheckInterval))
	}
	return errors.Join(errs...)
}

// ServiceHosts are the DNS names of Service svc in namespace ns.
func ServiceHosts(svc, ns string) []string {
	return []string{svc, svc + "." + ns, svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"}
}

// NewSource builds the source the options ask for. In self-managed mode it
// needs the client, the webhook's namespace and Service name, and the
// MutatingWebhookConfiguration to patch.
func (o *Options) NewSource(c kubernetes.Interface, namespace, service, webhookConfig string) Source {
	if o.Mode == ModeFiles {
		return NewFiles(o.Dir, o.CheckInterval)
	}
	return NewSelfManaged(SelfManagedConfig{
		Client:            c,
		Namespace:         namespace,
		SecretName:        o.SecretName,
		WebhookConfigName: webhookConfig,
		CheckInterval:     o.CheckInterval,
		Policy: Policy{
			Hosts:           append(ServiceHosts(service, namespace), o.ExtraHosts...),
			CommonName:      "aws-secrets-injector-webhook-ca",
			CAValidity:      o.CAValidity,
			ServingValidity: o.ServingValidity,
		},
	})
}

func checkHosts(hosts []string) error {
	for _, h := range hosts {
		if h == "" {
			return errors.New("empty host name")
		}
		if strings.Contains(h, "*") {
			if len(validation.IsWildcardDNS1123Subdomain(h)) > 0 {
				return fmt.Errorf("%q is not a DNS name", h)
			}
			continue
		}
		if isIP(h) {
			continue
		}
		if len(validation.IsDNS1123Subdomain(h)) > 0 {
			return fmt.Errorf("%q is neither a DNS name nor an IP address", h)
		}
	}
	return nil
}

// WriteOptions are the flags of `aws-secrets-injector certs`.
type WriteOptions struct {
	// Hosts are the DNS names and IP addresses of the serving certificate.
	Hosts []string
	// Out is the directory to write ca.crt, tls.crt and tls.key into.
	Out string
	// Validity is the serving certificate's lifetime; the CA gets twice it.
	Validity time.Duration
}

// AddFlags registers the flags.
func (o *WriteOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Hosts, "dns-names", nil, "DNS names (or IP addresses) of the serving certificate, comma separated, e.g. svc.ns.svc,svc.ns.svc.cluster.local")
	fs.StringVar(&o.Out, "out", "", "directory to write ca.crt, tls.crt and tls.key (0600) into; created if missing")
	fs.DurationVar(&o.Validity, "validity", DefaultServingValidity, "serving certificate lifetime (the CA gets twice as long)")
}

// Validate checks the flag values.
func (o *WriteOptions) Validate() error {
	var errs []error
	if len(o.Hosts) == 0 {
		errs = append(errs, errors.New("--dns-names: at least one name is required"))
	} else if err := checkHosts(o.Hosts); err != nil {
		errs = append(errs, fmt.Errorf("--dns-names: %w", err))
	}
	if o.Out == "" {
		errs = append(errs, errors.New("--out: required"))
	}
	if o.Validity < time.Minute {
		errs = append(errs, fmt.Errorf("--validity %s: must be 1m or more", o.Validity))
	}
	return errors.Join(errs...)
}

// Write creates a CA and a serving certificate and writes ca.crt, tls.crt
// and tls.key (mode 0600) into o.Out. The CA key is not kept.
func Write(ctx context.Context, o *WriteOptions) error {
	now := time.Now()
	ca, err := NewCA("aws-secrets-injector-ca", now, 2*o.Validity)
	if err != nil {
		return err
	}
	srv, err := NewServing(ca, o.Hosts, now, o.Validity)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Out, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", o.Out, err)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.crt", ca.CertPEM, 0o644},
		{KeyTLSCert, srv.CertPEM, 0o644},
		{KeyTLSKey, srv.KeyPEM, 0o600},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(o.Out, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	logr.FromContextOrDiscard(ctx).Info("wrote certificates", "dir", o.Out, "hosts", o.Hosts, "notAfter", srv.Cert.NotAfter)
	return nil
}

// writeFile writes data to a temporary file with mode, then renames it over p.
func writeFile(p string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // fails harmlessly after the rename
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
