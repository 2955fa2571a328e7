package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// certExpiry is aws_secrets_injector_webhook_certificate_expiry_timestamp_seconds:
// the NotAfter of the certificate the webhook serves now, read at each scrape
// (so a renewal, self-managed or by cert-manager, shows at the next one). No
// sample while there is no certificate yet: a zero would read as expired.
type certExpiry struct {
	desc *prometheus.Desc
	get  func(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

func newCertExpiry(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *certExpiry {
	return &certExpiry{get: get, desc: prometheus.NewDesc("aws_secrets_injector_webhook_certificate_expiry_timestamp_seconds",
		"NotAfter of the serving certificate the webhook presents, as a Unix time; alert well before it (PrometheusRule AWSSecretsInjectorWebhookCertificateExpiring).",
		nil, nil)}
}

func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	cert, err := c.get(&tls.ClientHelloInfo{})
	if err != nil || cert == nil || len(cert.Certificate) == 0 {
		return
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return
		}
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()))
}

// RegisterCertExpiry registers the certificate expiry gauge of get with reg
// (a second registration in one process, in tests, keeps the first).
func RegisterCertExpiry(reg prometheus.Registerer, get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) error {
	err := reg.Register(newCertExpiry(get))
	var are prometheus.AlreadyRegisteredError
	if err != nil && !errors.As(err, &are) {
		return err
	}
	return nil
}
