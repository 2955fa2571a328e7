package webhook

import (
	"crypto/tls"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
)

// TestCertExpiryFollowsTheServedCertificate: the gauge is the NotAfter of the
// certificate served at scrape time (a renewal shows at the next scrape),
// and absent, not zero, while there is none.
func TestCertExpiryFollowsTheServedCertificate(t *testing.T) {
	serving := func(validity time.Duration) (*tls.Certificate, time.Time) {
		ca, err := certs.NewCA("ca", time.Now(), 2*validity)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := certs.NewServing(ca, []string{"svc.ns.svc"}, time.Now(), validity)
		if err != nil {
			t.Fatal(err)
		}
		c, err := kp.TLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		return c, kp.Cert.NotAfter
	}
	var cur atomic.Pointer[tls.Certificate]
	reg := prometheus.NewRegistry()
	if err := RegisterCertExpiry(reg, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := cur.Load(); c != nil {
			return c, nil
		}
		return nil, errors.New("no certificate yet")
	}); err != nil {
		t.Fatal(err)
	}
	read := func() (float64, bool) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "aws_secrets_injector_webhook_certificate_expiry_timestamp_seconds" && len(mf.Metric) == 1 {
				return mf.Metric[0].GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	if v, ok := read(); ok {
		t.Errorf("with no certificate the gauge is %v, want no sample", v)
	}
	first, firstEnd := serving(time.Hour)
	cur.Store(first)
	if v, ok := read(); !ok || int64(v) != firstEnd.Unix() {
		t.Errorf("gauge %v (%v), want the NotAfter %d", v, ok, firstEnd.Unix())
	}
	renewed, renewedEnd := serving(48 * time.Hour)
	cur.Store(renewed)
	if v, ok := read(); !ok || int64(v) != renewedEnd.Unix() {
		t.Errorf("after a renewal the gauge is %v, want %d", v, renewedEnd.Unix())
	}
}
