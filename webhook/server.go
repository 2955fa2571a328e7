package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync/atomic"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
)

// Paths of the health endpoints (on the HTTPS port and on --health-addr).
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
)

// Run serves the webhook until ctx ends: the HTTPS server (/mutate-pods,
// /healthz, /readyz), /metrics, the HTTP health probes, the certificate
// source, and a cache of SecretProviderClasses.
func Run(ctx context.Context, o *Options) error {
	log := logr.FromContextOrDiscard(ctx).WithName("webhook")
	ctrllog.SetLogger(log)
	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build clientset: %w", err)
	}
	src := o.Certs.NewSource(cs, o.Namespace, o.ServiceName, o.WebhookConfigName)
	minTLS, err := o.tlsVersion()
	if err != nil {
		return err
	}

	// The manager's client reads ServiceAccounts (typed) and classes
	// (unstructured): core/v1 is all its scheme needs, not client-go's
	// every API group.
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("build scheme: %w", err)
	}
	srv := newWebhookServer(o.Host, o.Port, src, minTLS)
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.HealthAddr,
		WebhookServer:          srv,
		Client:                 client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject:         map[client.Object]cache.ByObject{ServiceAccountMeta(): ServiceAccountCache()},
		},
	})
	if err != nil {
		return fmt.Errorf("build manager: %w", err)
	}
	m, err := NewMetrics(metrics.Registry)
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if err := RegisterCertExpiry(metrics.Registry, src.GetCertificate); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	h := &Handler{
		Config:  o.Config(),
		Lookups: ClientLookups{Classes: mgr.GetClient(), ServiceAccounts: mgr.GetClient(), ServiceAccountsLive: mgr.GetAPIReader()},
		Metrics: m,
		Log:     log.WithName("admission"),
	}

	// Warm the SecretProviderClass and ServiceAccount caches at start so
	// the first admission does not wait for them; readiness waits for them
	// too. Admissions then make no API call: before these caches, each
	// init-mode pod's uncached ServiceAccount GET went through client-go's
	// default 5 QPS, capping admission at 5 pods a second.
	classes := &unstructured.Unstructured{}
	classes.SetGroupVersionKind(SecretProviderClassGVK)
	var warm warmCache
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// GetInformer blocks until the informer has synced.
		if _, err := mgr.GetCache().GetInformer(ctx, classes); err != nil {
			return fmt.Errorf("watch SecretProviderClasses: %w", err)
		}
		if _, err := mgr.GetCache().GetInformer(ctx, ServiceAccountMeta()); err != nil {
			return fmt.Errorf("watch ServiceAccounts: %w", err)
		}
		warm.synced.Store(true)
		// Start-up's garbage (the scheme, the first lists' decoding) goes
		// back to the OS once, now, rather than sitting in RSS until the
		// scavenger finds it: BenchmarkAdmissionTLS500RPS's ready RSS went
		// from 24.3-24.6 to 23.7-23.9 MiB.
		debug.FreeOSMemory()
		if o.Settled != nil {
			o.Settled()
		}
		return nil
	})); err != nil {
		return err
	}
	if err := mgr.Add(src); err != nil {
		return err
	}
	ready := func(*http.Request) error {
		if err := src.Ready(); err != nil {
			return err
		}
		return warm.check()
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("certificate-and-cache", ready); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook-server", srv.StartedChecker()); err != nil {
		return err
	}
	// The manager runs its webhook server only once asked for it.
	Register(mgr.GetWebhookServer(), h, ready)

	log.Info("starting webhook", "port", o.Port, "certMode", o.Certs.Mode, "driver", o.DriverName,
		"defaultMode", o.DefaultMode, "namespace", o.Namespace)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run webhook: %w", err)
	}
	return nil
}

// warmCache reports readiness of the SecretProviderClass informer.
type warmCache struct{ synced atomic.Bool }

func (w *warmCache) check() error {
	if !w.synced.Load() {
		return errors.New("SecretProviderClass and ServiceAccount caches not synced yet")
	}
	return nil
}

// newWebhookServer returns controller-runtime's webhook server serving the
// certificate from src, TLS minTLS or later, HTTP/2 and HTTP/1.1.
func newWebhookServer(host string, port int, src certs.Source, minTLS uint16) ctrlwebhook.Server {
	return ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host: host,
		Port: port,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = minTLS
			c.GetCertificate = src.GetCertificate
			c.NextProtos = []string{"h2", "http/1.1"}
		}},
	})
}

// Register adds the mutation handler and the health endpoints to srv; ready
// decides /readyz.
func Register(srv ctrlwebhook.Server, h *Handler, ready func(*http.Request) error) {
	srv.Register(MutatePath, h)
	srv.Register(HealthzPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Register(ReadyzPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load Kubernetes client configuration: %w", err)
	}
	cfg.UserAgent = "aws-secrets-injector-webhook"
	return cfg, nil
}
