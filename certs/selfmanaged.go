package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// SelfManagedConfig configures a SelfManaged source.
type SelfManagedConfig struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// Namespace and SecretName locate the Secret holding the State.
	Namespace, SecretName string
	// WebhookConfigName is the MutatingWebhookConfiguration whose webhooks
	// get the CA bundle ("" to patch none).
	WebhookConfigName string
	// Policy says which certificates to keep.
	Policy Policy
	// CheckInterval is how often the Secret and the webhook configuration
	// are checked (renewals, other replicas' changes, a reset caBundle).
	CheckInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// SelfManaged keeps a CA and serving certificate in one Secret shared by all
// replicas, patches the CA bundle into the webhook configuration and serves
// the current certificate from memory. It is a manager.Runnable.
type SelfManaged struct {
	cfg  SelfManagedConfig
	cert atomic.Pointer[tls.Certificate]
	// serial of the loaded serving certificate, to skip needless reloads.
	loaded atomic.Pointer[[]byte]
	kick   chan struct{}
	mu     sync.Mutex // serialises sync
	force  bool
}

// NewSelfManaged returns a source; Start (or Sync) loads the certificate.
func NewSelfManaged(cfg SelfManagedConfig) *SelfManaged {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Minute
	}
	return &SelfManaged{cfg: cfg, kick: make(chan struct{}, 1)}
}

// GetCertificate serves the current certificate (tls.Config.GetCertificate).
func (m *SelfManaged) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := m.cert.Load()
	if c == nil {
		return nil, errors.New("no serving certificate loaded yet")
	}
	return c, nil
}

// Ready returns nil once a serving certificate is loaded.
func (m *SelfManaged) Ready() error {
	if m.cert.Load() == nil {
		return errors.New("no serving certificate loaded yet")
	}
	return nil
}

// Start bootstraps the certificates and keeps them current until ctx ends:
// a check every CheckInterval, and at once when the webhook configuration
// changes (a watch on that one object).
func (m *SelfManaged) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("certs")
	if err := m.syncRetry(ctx, log); err != nil {
		return err
	}
	if m.cfg.WebhookConfigName != "" {
		go m.watchWebhookConfig(ctx, log)
	}
	t := time.NewTicker(m.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		}
		if err := m.Sync(ctx); err != nil {
			log.Error(err, "certificate check failed; retrying at the next interval")
		}
	}
}

// syncRetry runs the first Sync until it succeeds (the API server may not be
// reachable yet), with a capped backoff.
func (m *SelfManaged) syncRetry(ctx context.Context, log logr.Logger) error {
	delay := 200 * time.Millisecond
	for {
		err := m.Sync(ctx)
		if err == nil {
			return nil
		}
		log.Error(err, "certificate bootstrap failed; retrying", "in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("bootstrap certificates: %w", err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// RenewServing forces a new serving certificate now (stored in the Secret,
// so every replica picks it up at its next check).
func (m *SelfManaged) RenewServing(ctx context.Context) error {
	m.mu.Lock()
	m.force = true
	m.mu.Unlock()
	return m.Sync(ctx)
}

// Trigger asks Start's loop for a check now.
func (m *SelfManaged) Trigger() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Sync runs one check:
//  1. read the Secret, or create it when absent (on AlreadyExists another
//     replica won: re-read and use its content);
//  2. rotate what is due and update the Secret (on Conflict re-read and
//     start over, so replicas converge on one State);
//  3. load the serving certificate into memory;
//  4. patch the CA bundle into the webhook configuration where it differs.
func (m *SelfManaged) Sync(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	log := logr.FromContextOrDiscard(ctx).WithName("certs")
	secrets := m.cfg.Client.CoreV1().Secrets(m.cfg.Namespace)
	var state *State
	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			return fmt.Errorf("update Secret %s/%s: too many conflicts", m.cfg.Namespace, m.cfg.SecretName)
		}
		sec, err := secrets.Get(ctx, m.cfg.SecretName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Keep trusting what the webhook configuration trusts now
			// (the Secret was deleted while replicas serve its certificate).
			st, _, err := Rotate(&State{Bundle: m.currentBundle(ctx)}, m.cfg.Now(), m.cfg.Policy, false)
			if err != nil {
				return err
			}
			sec = &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: m.cfg.SecretName, Namespace: m.cfg.Namespace,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "aws-secrets-injector"}},
				Type: corev1.SecretTypeOpaque,
				Data: st.Encode(),
			}
			if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
				if apierrors.IsAlreadyExists(err) {
					continue // another replica created it: use theirs
				}
				return fmt.Errorf("create Secret %s/%s: %w", m.cfg.Namespace, m.cfg.SecretName, err)
			}
			log.Info("created certificate Secret", "secret", m.cfg.SecretName)
			m.force = false
			state = st
			break
		}
		if err != nil {
			return fmt.Errorf("get Secret %s/%s: %w", m.cfg.Namespace, m.cfg.SecretName, err)
		}
		cur := Decode(sec.Data)
		next, reasons, err := Rotate(cur, m.cfg.Now(), m.cfg.Policy, m.force)
		if err != nil {
			return err
		}
		if len(reasons) == 0 {
			state = cur
			break
		}
		sec.Data = next.Encode()
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				continue
			}
			return fmt.Errorf("update Secret %s/%s: %w", m.cfg.Namespace, m.cfg.SecretName, err)
		}
		log.Info("updated certificate Secret", "secret", m.cfg.SecretName, "changes", reasons)
		m.force = false
		state = next
		break
	}
	if err := m.load(state); err != nil {
		return err
	}
	if m.cfg.WebhookConfigName == "" {
		return nil
	}
	return m.patchBundle(ctx, log, state.BundlePEM())
}

// currentBundle returns the CA certificates in the webhook configuration's
// first caBundle, or nil.
func (m *SelfManaged) currentBundle(ctx context.Context) []*x509.Certificate {
	if m.cfg.WebhookConfigName == "" {
		return nil
	}
	mwc, err := m.cfg.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, m.cfg.WebhookConfigName, metav1.GetOptions{})
	if err != nil || len(mwc.Webhooks) == 0 {
		return nil
	}
	certs, _ := ParseCertificates(mwc.Webhooks[0].ClientConfig.CABundle)
	return certs
}

// load puts the serving certificate into memory when it changed.
func (m *SelfManaged) load(s *State) error {
	raw := s.Serving.Cert.Raw
	if p := m.loaded.Load(); p != nil && bytes.Equal(*p, raw) {
		return nil
	}
	c, err := s.Serving.TLSCertificate()
	if err != nil {
		return err
	}
	m.cert.Store(c)
	m.loaded.Store(&raw)
	return nil
}

// patchBundle sets caBundle on every webhook of the configuration where it
// differs. A JSON patch with a test of each webhook's name guards against a
// concurrent reordering.
func (m *SelfManaged) patchBundle(ctx context.Context, log logr.Logger, bundle []byte) error {
	api := m.cfg.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc, err := api.Get(ctx, m.cfg.WebhookConfigName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		log.Info("webhook configuration not found; will patch its caBundle when it exists", "name", m.cfg.WebhookConfigName)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get MutatingWebhookConfiguration %s: %w", m.cfg.WebhookConfigName, err)
	}
	patch := bundlePatch(mwc, bundle)
	if patch == nil {
		return nil
	}
	if _, err := api.Patch(ctx, m.cfg.WebhookConfigName, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patch caBundle of MutatingWebhookConfiguration %s: %w", m.cfg.WebhookConfigName, err)
	}
	log.Info("patched caBundle", "webhookConfiguration", m.cfg.WebhookConfigName)
	return nil
}

// bundlePatch returns the JSON patch setting caBundle where it differs, or nil.
func bundlePatch(mwc *admissionregistrationv1.MutatingWebhookConfiguration, bundle []byte) []byte {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	var ops []op
	for i, wh := range mwc.Webhooks {
		if bytes.Equal(wh.ClientConfig.CABundle, bundle) {
			continue
		}
		ops = append(ops,
			op{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: wh.Name},
			op{Op: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: bundle})
	}
	if len(ops) == 0 {
		return nil
	}
	b, _ := json.Marshal(ops) // []byte values encode as base64, as caBundle is
	return b
}

// watchWebhookConfig triggers a check whenever the webhook configuration
// changes (someone reset its caBundle, or it was recreated). The watch is
// restricted to the one object by name, which RBAC with resourceNames allows.
func (m *SelfManaged) watchWebhookConfig(ctx context.Context, log logr.Logger) {
	api := m.cfg.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	sel := fields.OneTermEqualSelector("metadata.name", m.cfg.WebhookConfigName).String()
	delay := time.Second
	for ctx.Err() == nil {
		w, err := api.Watch(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			log.V(1).Info("watch webhook configuration failed; relying on periodic checks", "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, time.Minute)
			continue
		}
		delay = time.Second
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				m.Trigger()
			}
		}
		w.Stop()
	}
}

// NeedLeaderElection is false: every replica serves, so every replica keeps
// its certificate current.
func (m *SelfManaged) NeedLeaderElection() bool { return false }
