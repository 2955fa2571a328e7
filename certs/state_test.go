package certs

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"
)

var testPolicy = Policy{
	Hosts:           []string{"svc.ns.svc", "svc.ns.svc.cluster.local", "127.0.0.1"},
	CommonName:      "test-ca",
	CAValidity:      120 * 24 * time.Hour,
	ServingValidity: 30 * 24 * time.Hour,
}

// verifies reports whether serving verifies for every host against bundle at now.
func verifies(t *testing.T, serving *x509.Certificate, bundle []*x509.Certificate, now time.Time) bool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range bundle {
		pool.AddCert(c)
	}
	for _, h := range []string{"svc.ns.svc", "127.0.0.1"} {
		if _, err := serving.Verify(x509.VerifyOptions{Roots: pool, DNSName: h, CurrentTime: now}); err != nil {
			return false
		}
	}
	return true
}

func TestRotateBootstrapAndSteadyState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, reasons, err := Rotate(&State{}, now, testPolicy, false)
	if err != nil || len(reasons) == 0 {
		t.Fatalf("bootstrap: %v %v", reasons, err)
	}
	if !verifies(t, s.Serving.Cert, s.Bundle, now) || len(s.Bundle) != 1 || s.NextCA != nil {
		t.Fatalf("bootstrap state: bundle %d, next %v", len(s.Bundle), s.NextCA != nil)
	}
	// Round trip through Secret data, then nothing is due.
	d := Decode(s.Encode())
	same, reasons, err := Rotate(d, now.Add(time.Hour), testPolicy, false)
	if err != nil || len(reasons) != 0 || same != d {
		t.Fatalf("steady state changed: %v %v", reasons, err)
	}
	// Forced renewal: a new serving certificate from the same CA.
	forced, reasons, err := Rotate(d, now.Add(time.Hour), testPolicy, true)
	if err != nil || len(reasons) != 1 || forced.Serving.Cert.SerialNumber.Cmp(d.Serving.Cert.SerialNumber) == 0 ||
		forced.CA != d.CA {
		t.Fatalf("forced renewal: %v %v", reasons, err)
	}
	// Hosts changed: reissued.
	p := testPolicy
	p.Hosts = []string{"other.ns.svc"}
	if _, reasons, _ := Rotate(d, now.Add(time.Hour), p, false); !slices.Contains(reasons, "serving certificate hosts changed") {
		t.Fatalf("hosts change not noticed: %v", reasons)
	}
}

// TestRotateTrustNeverLapses steps through three CA lifetimes, a check every
// 12 hours, and asserts at every step that the certificate served before the
// step verifies against the bundle after it, and the certificate served after
// the step against the bundle before it (the API server may hold either
// bundle while a replica serves either certificate).
func TestRotateTrustNeverLapses(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _, err := Rotate(&State{}, now, testPolicy, false)
	if err != nil {
		t.Fatal(err)
	}
	var servingRenewals, caPromotions, staged int
	cas := map[string]bool{string(s.CA.Cert.Raw): true}
	end := now.Add(3 * testPolicy.CAValidity)
	for now.Before(end) {
		now = now.Add(12 * time.Hour)
		n, reasons, err := Rotate(Decode(s.Encode()), now, testPolicy, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reasons {
			switch r {
			case "serving certificate due for renewal", "serving certificate not signed by the current CA":
				servingRenewals++
			case "promoted staged CA":
				caPromotions++
			case "staged next CA":
				staged++
			case "CA expired", "created CA":
				t.Fatalf("%s: %s (a rollover should have happened before)", now, r)
			}
		}
		if !verifies(t, s.Serving.Cert, n.Bundle, now) {
			t.Fatalf("%s: old serving certificate not trusted by the new bundle (%v)", now, reasons)
		}
		if !verifies(t, n.Serving.Cert, s.Bundle, now) {
			t.Fatalf("%s: new serving certificate not trusted by the old bundle (%v)", now, reasons)
		}
		for _, c := range n.Bundle {
			if !now.Before(c.NotAfter) {
				t.Fatalf("%s: expired CA left in the bundle", now)
			}
		}
		if len(n.Bundle) > 3 {
			t.Fatalf("bundle grew to %d", len(n.Bundle))
		}
		cas[string(n.CA.Cert.Raw)] = true
		s = n
	}
	if caPromotions < 3 || staged < 3 || servingRenewals < 10 || len(cas) < 4 {
		t.Fatalf("over three CA lifetimes: %d promotions, %d staged, %d serving renewals, %d CAs",
			caPromotions, staged, servingRenewals, len(cas))
	}
}

func TestRotateRecoversFromExpiredOrGarbage(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _, _ := Rotate(&State{}, now, testPolicy, false)
	later := now.Add(2 * testPolicy.CAValidity)
	n, reasons, err := Rotate(Decode(s.Encode()), later, testPolicy, false)
	if err != nil || !slices.Contains(reasons, "CA expired") || !verifies(t, n.Serving.Cert, n.Bundle, later) || len(n.Bundle) != 1 {
		t.Fatalf("expired CA: %v %v, bundle %d", reasons, err, len(n.Bundle))
	}
	g := Decode(map[string][]byte{KeyCACert: []byte("junk"), KeyTLSCert: []byte("junk")})
	n, _, err = Rotate(g, now, testPolicy, false)
	if err != nil || !verifies(t, n.Serving.Cert, n.Bundle, now) {
		t.Fatalf("garbage: %v", err)
	}
}
