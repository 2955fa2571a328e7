package fakeaws

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// JWT (JWS compact, RS256/RS384/RS512/ES256/ES384/ES512) verification against trusted issuers,
// the key material those issuers are trusted with (JWKS, PEM, Go keys, fetched JWKS), and a
// TokenIssuer that tests use to mint tokens.

const (
	jwksRefetchInterval = 2 * time.Second
	nbfLeeway           = 30 * time.Second
)

// tokenErrKind classifies token failures; each entry point maps them to its own error codes.
type tokenErrKind int

const (
	tokenInvalid tokenErrKind = iota
	tokenExpired
	tokenUntrustedIssuer
	tokenFetchFailed
)

type tokenError struct {
	kind tokenErrKind
	msg  string
}

func (e *tokenError) Error() string { return e.msg }

// tokenClaims are the claims the fake reads.
type tokenClaims struct {
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	Audience  audiences `json:"aud"`
	Expiry    *float64  `json:"exp"`
	NotBefore *float64  `json:"nbf"`
	IssuedAt  *float64  `json:"iat"`
	K8s       *struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"serviceaccount"`
		Pod *struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
	} `json:"kubernetes.io"`
}

// audiences reads aud as a string or a list of strings.
type audiences []string

func (a *audiences) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud must be a string or a list of strings: %w", err)
	}
	*a = many
	return nil
}

type jwk struct {
	kid string
	key crypto.PublicKey
}

// issuerState is one trusted issuer: its accepted STS audiences and its keys.
type issuerState struct {
	issuer    string
	audiences []string
	static    []jwk

	// fetching (optional)
	jwksURL    string
	discovery  bool
	client     *http.Client
	bearerFile string

	mu        sync.Mutex
	fetched   []jwk
	fetchedAt time.Time
	fetchErr  error // of the last fetch, repeated until the next one
}

func (is *issuerState) keys() []jwk {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append(append([]jwk(nil), is.static...), is.fetched...)
}

// refresh fetches the issuer's JWKS when it has a URL and was not fetched in the last few
// seconds. It reports whether new keys were loaded.
func (is *issuerState) refresh(ctx context.Context, now time.Time) (bool, error) {
	if is.jwksURL == "" && !is.discovery {
		return false, nil
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if !is.fetchedAt.IsZero() && now.Sub(is.fetchedAt) < jwksRefetchInterval {
		return false, is.fetchErr
	}
	is.fetchedAt = now
	keys, err := is.fetch(ctx)
	is.fetchErr = err
	if err != nil {
		return false, err
	}
	is.fetched = keys
	return true, nil
}

func (is *issuerState) fetch(ctx context.Context) ([]jwk, error) {
	u := is.jwksURL
	if u == "" {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		b, err := is.get(ctx, strings.TrimSuffix(is.issuer, "/")+"/.well-known/openid-configuration")
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.JWKSURI == "" {
			return nil, fmt.Errorf("openid configuration of %s has no jwks_uri", is.issuer)
		}
		u = doc.JWKSURI
	}
	b, err := is.get(ctx, u)
	if err != nil {
		return nil, err
	}
	return parseJWKS(b)
}

func (is *issuerState) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", u, err)
	}
	if is.bearerFile != "" {
		tok, err := os.ReadFile(is.bearerFile)
		if err != nil {
			return nil, fmt.Errorf("read bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := is.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: status %d", u, resp.StatusCode)
	}
	return b, nil
}

// verifyToken checks a JWT's signature against its (trusted) issuer's keys and its time claims.
// The audience is left to the caller.
func (s *Server) verifyToken(ctx context.Context, raw string) (*tokenClaims, *issuerState, *tokenError) {
	parts := strings.Split(strings.TrimSpace(raw), ".")
	if len(parts) != 3 {
		return nil, nil, &tokenError{tokenInvalid, "The ID Token provided is not a valid JWT."}
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil {
		return nil, nil, &tokenError{tokenInvalid, "The ID Token provided is not a valid JWT."}
	}
	var c tokenClaims
	if err := json.Unmarshal(cb, &c); err != nil {
		return nil, nil, &tokenError{tokenInvalid, "The ID Token provided is not a valid JWT: claims do not decode."}
	}
	s.mu.RLock()
	is := s.issuers[c.Issuer]
	s.mu.RUnlock()
	if is == nil {
		return nil, nil, &tokenError{tokenUntrustedIssuer, fmt.Sprintf("No OpenIDConnect provider found in your account for %s", c.Issuer)}
	}
	if algHash(hdr.Alg) == 0 {
		return nil, nil, &tokenError{tokenInvalid, fmt.Sprintf("The web identity token uses the unsupported algorithm %q.", hdr.Alg)}
	}
	signed := []byte(parts[0] + "." + parts[1])
	verified := verifyWithKeys(is.keys(), hdr.Alg, hdr.Kid, signed, sig)
	if !verified {
		fetched, ferr := is.refresh(ctx, time.Now())
		if ferr != nil {
			s.log.Info("jwks fetch failed", "issuer", is.issuer, "err", ferr)
			return nil, nil, &tokenError{tokenFetchFailed, fmt.Sprintf("Couldn't retrieve verification key from your identity provider: %v", ferr)}
		}
		if fetched {
			verified = verifyWithKeys(is.keys(), hdr.Alg, hdr.Kid, signed, sig)
		}
	}
	if !verified {
		return nil, nil, &tokenError{tokenInvalid, "Couldn't verify the signature of the web identity token with the keys of its issuer."}
	}
	now := s.now()
	if c.Expiry == nil {
		return nil, nil, &tokenError{tokenInvalid, "The web identity token has no exp claim."}
	}
	exp := time.Unix(0, int64(*c.Expiry*1e9))
	if !now.Before(exp) {
		return nil, nil, &tokenError{tokenExpired, fmt.Sprintf("Token expired: current date/time %s must be before the expiration date/time %s", now.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))}
	}
	if c.NotBefore != nil && time.Unix(0, int64(*c.NotBefore*1e9)).After(now.Add(nbfLeeway)) {
		return nil, nil, &tokenError{tokenInvalid, "The web identity token is not valid yet (nbf)."}
	}
	return &c, is, nil
}

// algHash is the hash of a supported JWS algorithm, 0 for unsupported ones (none, HS*, PS*).
func algHash(alg string) crypto.Hash {
	switch alg {
	case "RS256", "ES256":
		return crypto.SHA256
	case "RS384", "ES384":
		return crypto.SHA384
	case "RS512", "ES512":
		return crypto.SHA512
	}
	return 0
}

// verifyWithKeys tries the keys whose kid matches (and keys without kid).
func verifyWithKeys(keys []jwk, alg, kid string, signed, sig []byte) bool {
	h := algHash(alg)
	if h == 0 {
		return false
	}
	hh := h.New()
	hh.Write(signed)
	digest := hh.Sum(nil)
	for _, k := range keys {
		if kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		switch pub := k.key.(type) {
		case *rsa.PublicKey:
			if strings.HasPrefix(alg, "RS") && rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil {
				return true
			}
		case *ecdsa.PublicKey:
			size := (pub.Curve.Params().BitSize + 7) / 8
			if strings.HasPrefix(alg, "ES") && len(sig) == 2*size {
				r := new(big.Int).SetBytes(sig[:size])
				sv := new(big.Int).SetBytes(sig[size:])
				if ecdsa.Verify(pub, digest, r, sv) {
					return true
				}
			}
		}
	}
	return false
}

// ---- key material ----

// parseJWKS reads the RSA and EC keys of a JSON Web Key Set; other key types are skipped.
func parseJWKS(data []byte) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	var out []jwk
	for i, k := range set.Keys {
		switch k.Kty {
		case "RSA":
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("jwks key %d: bad RSA n/e", i)
			}
			out = append(out, jwk{k.Kid, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}})
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				return nil, fmt.Errorf("jwks key %d: unsupported curve %q", i, k.Crv)
			}
			x, err1 := base64.RawURLEncoding.DecodeString(k.X)
			y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("jwks key %d: bad EC x/y", i)
			}
			size := (curve.Params().BitSize + 7) / 8
			if len(x) > size || len(y) > size {
				return nil, fmt.Errorf("jwks key %d: EC x/y longer than the curve's %d bytes", i, size)
			}
			point := make([]byte, 1+2*size)
			point[0] = 4 // uncompressed
			copy(point[1+size-len(x):1+size], x)
			copy(point[1+2*size-len(y):], y)
			pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
			if err != nil {
				return nil, fmt.Errorf("jwks key %d: point not on curve", i)
			}
			out = append(out, jwk{k.Kid, pub})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("jwks has no RSA or EC key")
	}
	return out, nil
}

// parsePEMKeys reads public keys, certificates, or private keys (their public half) from PEM.
func parsePEMKeys(data []byte) ([]crypto.PublicKey, error) {
	var out []crypto.PublicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pub crypto.PublicKey
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		case "RSA PRIVATE KEY":
			var k *rsa.PrivateKey
			if k, err = x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
				pub = k.Public()
			}
		case "EC PRIVATE KEY":
			var k *ecdsa.PrivateKey
			if k, err = x509.ParseECPrivateKey(b.Bytes); err == nil {
				pub = k.Public()
			}
		case "PRIVATE KEY":
			var k any
			if k, err = x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
				if sg, ok := k.(crypto.Signer); ok {
					pub = sg.Public()
				}
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse pem %s: %w", b.Type, err)
		}
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			out = append(out, pub)
		default:
			return nil, fmt.Errorf("pem %s: only RSA and EC keys are supported", b.Type)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no key found in pem data")
	}
	return out, nil
}

// keyID is the kid Kubernetes uses: base64url(sha256(PKIX DER of the public key)).
func keyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ---- Go API: trust ----

func (s *Server) issuerFor(issuer, audience string) *issuerState {
	if audience == "" {
		audience = STSAudience
	}
	is, ok := s.issuers[issuer]
	if !ok {
		is = &issuerState{issuer: issuer, client: s.opts.httpClient}
		s.issuers[issuer] = is
	}
	if !contains(is.audiences, audience) {
		is.audiences = append(is.audiences, audience)
	}
	return is
}

// TrustIssuer trusts tokens from issuer (the exact iss claim) signed by any of keys (*rsa.PublicKey
// or *ecdsa.PublicKey), for STS with audience ("" = sts.amazonaws.com). Calling it again for the
// same issuer adds keys and audiences.
func (s *Server) TrustIssuer(issuer, audience string, keys ...crypto.PublicKey) error {
	if issuer == "" {
		return errors.New("trust issuer: empty issuer")
	}
	var add []jwk
	for _, k := range keys {
		switch k.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			add = append(add, jwk{key: k})
		default:
			return fmt.Errorf("trust issuer %s: unsupported key type %T", issuer, k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issuerFor(issuer, audience)
	is.mu.Lock()
	is.static = append(is.static, add...)
	is.mu.Unlock()
	return nil
}

// TrustIssuerJWKS trusts issuer with the keys of a JSON Web Key Set.
func (s *Server) TrustIssuerJWKS(issuer, audience string, jwks []byte) error {
	keys, err := parseJWKS(jwks)
	if err != nil {
		return fmt.Errorf("trust issuer %s: %w", issuer, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issuerFor(issuer, audience)
	is.mu.Lock()
	is.static = append(is.static, keys...)
	is.mu.Unlock()
	return nil
}

// TrustIssuerURL trusts issuer with the keys fetched from jwksURL (or, when jwksURL is empty,
// from the jwks_uri of ISSUER/.well-known/openid-configuration) with client (nil =
// http.DefaultClient). Keys are fetched when a token's key is unknown, at most every 2 s.
func (s *Server) TrustIssuerURL(issuer, audience, jwksURL string, client *http.Client) error {
	if client == nil {
		client = http.DefaultClient
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.issuerFor(issuer, audience)
	is.mu.Lock()
	defer is.mu.Unlock()
	is.jwksURL, is.discovery, is.client = jwksURL, jwksURL == "", client
	return nil
}

// addIssuerConfig applies one Issuer from the state.
func (s *Server) addIssuerConfig(c Issuer) error {
	if c.Issuer == "" {
		return errors.New("issuer without issuer url")
	}
	auds := c.Audiences
	if len(auds) == 0 {
		auds = []string{STSAudience}
	}
	var keys []jwk
	if c.JWKS != "" {
		k, err := parseJWKS([]byte(c.JWKS))
		if err != nil {
			return fmt.Errorf("issuer %s: %w", c.Issuer, err)
		}
		keys = append(keys, k...)
	}
	if c.JWKSFile != "" {
		b, err := os.ReadFile(c.JWKSFile)
		if err != nil {
			return fmt.Errorf("issuer %s: read jwks file: %w", c.Issuer, err)
		}
		k, err := parseJWKS(b)
		if err != nil {
			return fmt.Errorf("issuer %s: %s: %w", c.Issuer, c.JWKSFile, err)
		}
		keys = append(keys, k...)
	}
	for _, f := range c.PublicKeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("issuer %s: read key file: %w", c.Issuer, err)
		}
		pubs, err := parsePEMKeys(b)
		if err != nil {
			return fmt.Errorf("issuer %s: %s: %w", c.Issuer, f, err)
		}
		for _, p := range pubs {
			keys = append(keys, jwk{key: p})
		}
	}
	client := s.opts.httpClient
	if c.CAFile != "" {
		pemData, err := os.ReadFile(c.CAFile)
		if err != nil {
			return fmt.Errorf("issuer %s: read ca file: %w", c.Issuer, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return fmt.Errorf("issuer %s: no certificate in %s", c.Issuer, c.CAFile)
		}
		client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	if len(keys) == 0 && c.JWKSURL == "" && !c.Discovery {
		return fmt.Errorf("issuer %s: give jwks, jwksFile, publicKeyFiles, jwksURL or discovery", c.Issuer)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var is *issuerState
	for _, a := range auds {
		is = s.issuerFor(c.Issuer, a)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.static = append(is.static, keys...)
	if c.JWKSURL != "" || c.Discovery {
		is.jwksURL, is.discovery, is.client, is.bearerFile = c.JWKSURL, c.JWKSURL == "", client, c.BearerTokenFile
	}
	return nil
}

// ---- TokenIssuer: minting tokens in tests ----

// TokenIssuer signs JWTs like an OIDC provider (e.g. a cluster's service-account issuer). Use it
// in tests: trust it with Server.TrustIssuer(ti.Issuer, "", ti.PublicKey()) and hand out its tokens.
type TokenIssuer struct {
	// Issuer is the iss claim.
	Issuer string
	key    crypto.Signer
	alg    string
	kid    string
}

// NewTokenIssuer makes an issuer with a fresh RSA-2048 key signing RS256.
func NewTokenIssuer(issuer string) (*TokenIssuer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	return &TokenIssuer{Issuer: issuer, key: k, alg: "RS256", kid: keyID(k.Public())}, nil
}

// NewTokenIssuerES256 makes an issuer with a fresh P-256 key signing ES256.
func NewTokenIssuerES256(issuer string) (*TokenIssuer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ec key: %w", err)
	}
	return &TokenIssuer{Issuer: issuer, key: k, alg: "ES256", kid: keyID(k.Public())}, nil
}

// PublicKey is the verification key.
func (t *TokenIssuer) PublicKey() crypto.PublicKey { return t.key.Public() }

// KeyID is the kid put in token headers and the JWKS.
func (t *TokenIssuer) KeyID() string { return t.kid }

// JWKS is the issuer's JSON Web Key Set.
func (t *TokenIssuer) JWKS() []byte {
	var key map[string]string
	switch pub := t.key.Public().(type) {
	case *rsa.PublicKey:
		key = map[string]string{"kty": "RSA", "alg": t.alg, "use": "sig", "kid": t.kid,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		point, err := pub.Bytes() // 0x04 || X || Y, each size bytes
		if err != nil {
			return nil
		}
		key = map[string]string{"kty": "EC", "alg": t.alg, "use": "sig", "kid": t.kid, "crv": pub.Curve.Params().Name,
			"x": base64.RawURLEncoding.EncodeToString(point[1 : 1+size]),
			"y": base64.RawURLEncoding.EncodeToString(point[1+size:])}
	}
	b, _ := json.Marshal(map[string]any{"keys": []any{key}})
	return b
}

// Sign signs claims as given (iss is not added). The header carries alg, typ and kid.
func (t *TokenIssuer) Sign(claims map[string]any) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"alg": t.alg, "typ": "JWT", "kid": t.kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	signed := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(signed))
	var sig []byte
	switch k := t.key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var r, sv *big.Int
		r, sv, err = ecdsa.Sign(rand.Reader, k, sum[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), sv.FillBytes(make([]byte, 32))...)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ServiceAccountToken mints a token shaped like a Kubernetes projected service-account token:
// sub system:serviceaccount:NS:SA, the kubernetes.io claim, aud, iat/nbf now, exp now+ttl.
func (t *TokenIssuer) ServiceAccountToken(namespace, serviceAccount, audience string, ttl time.Duration) (string, error) {
	now := time.Now()
	return t.Sign(map[string]any{
		"iss": t.Issuer, "sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
		"aud": []string{audience}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]string{"name": serviceAccount, "uid": derivedUUID("sa", namespace, serviceAccount)},
			"pod":            map[string]string{"name": serviceAccount + "-pod", "uid": derivedUUID("pod", namespace, serviceAccount)},
		},
	})
}
