package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"
)

// Keys of the certificate Secret's data.
const (
	KeyCACert     = "ca.crt"        // the CA that signs the serving certificate
	KeyCAKey      = "ca.key"        //
	KeyNextCACert = "ca-next.crt"   // a CA staged for the next rollover (trusted, not yet signing)
	KeyNextCAKey  = "ca-next.key"   //
	KeyCABundle   = "ca-bundle.crt" // every trusted CA: what goes into caBundle
	KeyTLSCert    = "tls.crt"       // the serving certificate
	KeyTLSKey     = "tls.key"       //
)

// State is the whole certificate material shared by all webhook replicas.
type State struct {
	// CA signs Serving.
	CA *KeyPair
	// NextCA is staged during a rollover: trusted (in Bundle), not yet signing.
	NextCA *KeyPair
	// Serving is the webhook's serving certificate.
	Serving *KeyPair
	// Bundle is every CA certificate clients must trust: CA, NextCA and the
	// previous CA until it expires.
	Bundle []*x509.Certificate
}

// Policy says what certificates to keep and when to renew them.
type Policy struct {
	// Hosts are the serving certificate's DNS names and IP addresses.
	Hosts []string
	// CommonName is the CA's subject common name.
	CommonName string
	// CAValidity is a new CA's lifetime.
	CAValidity time.Duration
	// ServingValidity is a new serving certificate's lifetime (capped by the CA's).
	ServingValidity time.Duration
}

// Timing of renewals, as fractions of a certificate's lifetime:
//   - the serving certificate is renewed at 2/3;
//   - the next CA is staged (added to the bundle) at 1/2 of the CA's lifetime;
//   - it starts signing at 2/3, once it has been trusted for at least 1/12
//     of its lifetime, so that every replica and the API server trust it
//     before any certificate it signed is served;
//   - the previous CA stays in the bundle until it expires.
func fraction(c *x509.Certificate, num, den int64) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(time.Duration(int64(life) / den * num))
}

// Decode reads a State from Secret data; missing or unparsable parts are left nil.
func Decode(data map[string][]byte) *State {
	s := &State{}
	if kp, err := ParseKeyPair(data[KeyCACert], data[KeyCAKey]); err == nil && kp.Cert.IsCA {
		s.CA = kp
	}
	if kp, err := ParseKeyPair(data[KeyNextCACert], data[KeyNextCAKey]); err == nil && kp.Cert.IsCA {
		s.NextCA = kp
	}
	if kp, err := ParseKeyPair(data[KeyTLSCert], data[KeyTLSKey]); err == nil {
		s.Serving = kp
	}
	s.Bundle, _ = ParseCertificates(data[KeyCABundle])
	return s
}

// Encode returns the Secret data for s.
func (s *State) Encode() map[string][]byte {
	data := map[string][]byte{KeyCABundle: EncodeCertificates(s.Bundle)}
	put := func(certKey, keyKey string, kp *KeyPair) {
		if kp != nil {
			data[certKey], data[keyKey] = kp.CertPEM, kp.KeyPEM
		}
	}
	put(KeyCACert, KeyCAKey, s.CA)
	put(KeyNextCACert, KeyNextCAKey, s.NextCA)
	put(KeyTLSCert, KeyTLSKey, s.Serving)
	return data
}

// BundlePEM is the PEM caBundle for the webhook configuration.
func (s *State) BundlePEM() []byte { return EncodeCertificates(s.Bundle) }

// Rotate returns the state to store at time now: s itself (changed false)
// when nothing is due, else a new State with what was due renewed. The
// returned reasons say what changed (for logs). forceServing reissues the
// serving certificate even when it is not due.
func Rotate(s *State, now time.Time, p Policy, forceServing bool) (*State, []string, error) {
	n := &State{CA: s.CA, NextCA: s.NextCA, Serving: s.Serving}
	var reasons []string
	var err error

	// 1. A usable signing CA.
	if n.CA != nil && !now.Before(n.CA.Cert.NotAfter) {
		reasons = append(reasons, "CA expired")
		n.CA = nil
	}
	if n.CA == nil && n.NextCA != nil {
		n.CA, n.NextCA = n.NextCA, nil
		reasons = append(reasons, "promoted staged CA")
	}
	if n.CA == nil {
		if n.CA, err = NewCA(p.CommonName, now, p.CAValidity); err != nil {
			return nil, nil, err
		}
		reasons = append(reasons, "created CA")
	}

	// 2. Stage the next CA at half of the CA's lifetime.
	if n.NextCA == nil && !now.Before(fraction(n.CA.Cert, 1, 2)) {
		if n.NextCA, err = NewCA(p.CommonName, now, p.CAValidity); err != nil {
			return nil, nil, err
		}
		reasons = append(reasons, "staged next CA")
	}

	// 3. Promote it at two thirds, once trusted long enough.
	if n.NextCA != nil && !now.Before(fraction(n.CA.Cert, 2, 3)) {
		trustedSince := n.NextCA.Cert.NotBefore.Add(clockSkew)
		grace := n.NextCA.Cert.NotAfter.Sub(n.NextCA.Cert.NotBefore) / 12
		if !now.Before(trustedSince.Add(grace)) {
			n.CA, n.NextCA = n.NextCA, nil
			reasons = append(reasons, "promoted staged CA")
		}
	}

	// 4. The serving certificate: signed by the CA, for the hosts, not due.
	switch {
	case n.Serving == nil:
		reasons = append(reasons, "created serving certificate")
	case forceServing:
		reasons = append(reasons, "forced serving certificate renewal")
		n.Serving = nil
	case n.Serving.Cert.CheckSignatureFrom(n.CA.Cert) != nil:
		reasons = append(reasons, "serving certificate not signed by the current CA")
		n.Serving = nil
	case !coversHosts(n.Serving.Cert, p.Hosts):
		reasons = append(reasons, "serving certificate hosts changed")
		n.Serving = nil
	case !now.Before(fraction(n.Serving.Cert, 2, 3)):
		reasons = append(reasons, "serving certificate due for renewal")
		n.Serving = nil
	}
	if n.Serving == nil {
		if n.Serving, err = NewServing(n.CA, p.Hosts, now, p.ServingValidity); err != nil {
			return nil, nil, fmt.Errorf("issue serving certificate: %w", err)
		}
	}

	// 5. The bundle: CA, next CA, then earlier CAs still valid.
	n.Bundle = []*x509.Certificate{n.CA.Cert}
	if n.NextCA != nil {
		n.Bundle = append(n.Bundle, n.NextCA.Cert)
	}
	old := s.Bundle
	if s.CA != nil {
		old = append([]*x509.Certificate{s.CA.Cert}, old...)
	}
	for _, c := range old {
		if now.Before(c.NotAfter) && c.IsCA && !containsCert(n.Bundle, c) {
			n.Bundle = append(n.Bundle, c)
		}
	}
	if len(reasons) == 0 && !sameCerts(n.Bundle, s.Bundle) {
		reasons = append(reasons, "bundle updated")
	}
	if len(reasons) == 0 {
		return s, nil, nil
	}
	return n, reasons, nil
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			return false
		}
	}
	return true
}
