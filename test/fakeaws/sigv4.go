package fakeaws

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV4 verification of a received request, written from the AWS Signature Version 4 description:
//
//  1. parse "Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
//     SignedHeaders=h1;h2, Signature=HEX";
//  2. check the scope (service, terminator, date equal to X-Amz-Date's, skew to the wall clock
//     within 15 min);
//  3. find the secret for the key id: a static user, or a session this fake issued (whose
//     X-Amz-Security-Token must match and which must not have expired);
//  4. rebuild the canonical request from what was received: method, URI-encoded path, sorted and
//     encoded query, each signed header as "name:trimmed,values" (host from r.Host, content-length
//     from the request when Go moved it out of the header map), the signed header list, and the
//     payload hash (the X-Amz-Content-Sha256 value, which must match the body unless it is
//     UNSIGNED-PAYLOAD, else the SHA-256 of the body);
//  5. derive the signing key (HMAC chain over date, region, service, "aws4_request"), sign the
//     string to sign and compare in constant time.

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
	maxClockSkew = 15 * time.Minute
)

// authErrors names the error codes per protocol family: JSON services and the STS query protocol
// use different codes for the same failure.
type authErrors struct {
	missing, incomplete, invalidSig, unknownKey, expired string
	status                                               int // status for invalid signature/key
}

var (
	jsonAuthErrors  = authErrors{"MissingAuthenticationTokenException", "IncompleteSignatureException", "InvalidSignatureException", "UnrecognizedClientException", "ExpiredTokenException", http.StatusBadRequest}
	queryAuthErrors = authErrors{"MissingAuthenticationToken", "IncompleteSignature", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken", http.StatusForbidden}
)

// authenticate verifies the SigV4 signature of r (whose body was already read into body) for
// service. It returns the caller and the region of the credential scope; the region is returned
// even on failure when the header was readable.
func (s *Server) authenticate(r *http.Request, body []byte, service string, ae authErrors) (*principal, string, *apiError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return nil, "", newErr(ae.status, ae.missing, "Missing Authentication Token")
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != sigAlgorithm {
		return nil, "", newErr(http.StatusBadRequest, ae.incomplete, "Unsupported AWS 'algorithm': '%s'. Expected AWS4-HMAC-SHA256.", alg)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			fields[k] = v
		}
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, "", newErr(http.StatusBadRequest, ae.incomplete, "Authorization header requires '%s' parameter. Authorization=%s", k, alg)
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return nil, "", newErr(http.StatusBadRequest, ae.incomplete, "Credential should be scoped to a valid region and service, and terminated with 'aws4_request'.")
	}
	akid, date, region, svc := scope[0], scope[1], scope[2], scope[3]
	if svc != service {
		return nil, region, newErr(ae.status, ae.invalidSig, "Credential should be scoped to correct service: '%s'. ", service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, region, newErr(http.StatusBadRequest, ae.incomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	t, err := time.Parse(amzDateFmt, amzDate)
	if err != nil {
		return nil, region, newErr(http.StatusBadRequest, ae.incomplete, "X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z').")
	}
	if date != amzDate[:8] {
		return nil, region, newErr(ae.status, ae.invalidSig, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", date, amzDate[:8], amzDate)
	}
	// Clock skew against the real clock (the signer uses it); expiry below uses the fake's clock.
	wall := time.Now()
	if d := wall.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return nil, region, newErr(ae.status, ae.invalidSig, "Signature expired: %s is now earlier than %s (%s - 15 min.)", amzDate, wall.Add(-maxClockSkew).UTC().Format(amzDateFmt), wall.UTC().Format(amzDateFmt))
	}
	now := s.now()

	// 3. the key.
	s.mu.RLock()
	user := s.users[akid]
	sess := s.sessions[akid]
	var secret string
	p := &principal{}
	switch {
	case user != nil:
		secret = user.SecretAccessKey
		p.user = user
		p.arn = s.userARN(user)
		p.key = p.arn
	case sess != nil:
		cp := *sess
		secret = cp.secret
		p.session = &cp
		p.arn = cp.arn()
		p.key = cp.roleARN
	}
	s.mu.RUnlock()
	token := r.Header.Get("X-Amz-Security-Token")
	switch {
	case p.user == nil && p.session == nil:
		return nil, region, newErr(ae.status, ae.unknownKey, "The security token included in the request is invalid.")
	case p.user != nil && token != "":
		return nil, region, newErr(ae.status, ae.unknownKey, "The security token included in the request is invalid.")
	case p.session != nil && !hmac.Equal([]byte(token), []byte(p.session.token)):
		return nil, region, newErr(ae.status, ae.unknownKey, "The security token included in the request is invalid.")
	case p.session != nil && !now.Before(p.session.expires):
		return nil, region, newErr(http.StatusBadRequest, ae.expired, "The security token included in the request is expired")
	}

	// 4. canonical request.
	signedNames := strings.Split(fields["SignedHeaders"], ";")
	if !contains(signedNames, "host") {
		return nil, region, newErr(http.StatusBadRequest, ae.incomplete, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	bodySum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(bodySum[:])
	payloadHash := bodyHash
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != "UNSIGNED-PAYLOAD" && h != bodyHash {
			return nil, region, newErr(ae.status, ae.invalidSig, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		payloadHash = h
	}
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	canon.WriteString(canonicalURI(r.URL) + "\n")
	canon.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, name := range signedNames {
		canon.WriteString(name + ":" + canonicalHeaderValue(r, name) + "\n")
	}
	canon.WriteString("\n" + fields["SignedHeaders"] + "\n" + payloadHash)
	canonSum := sha256.Sum256([]byte(canon.String()))
	credScope := strings.Join(scope[1:], "/")
	stringToSign := sigAlgorithm + "\n" + amzDate + "\n" + credScope + "\n" + hex.EncodeToString(canonSum[:])

	// 5. signature.
	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, svc)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(fields["Signature"]))) {
		return nil, region, newErr(ae.status, ae.invalidSig, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return p, region, nil
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// canonicalHeaderValue returns the trimmed, space-collapsed, comma-joined values of a signed header.
func canonicalHeaderValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		values = []string{r.Host}
	case "content-length":
		values = r.Header.Values("Content-Length")
		if len(values) == 0 {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		values = r.Header.Values(name)
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// canonicalURI URI-encodes each path segment (the SDK encodes the already escaped path once more
// for every service but S3).
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return awsURIEncode(p, false)
}

func canonicalQuery(q url.Values) string {
	type kv struct{ k, v string }
	var pairs []kv
	for k, vs := range q {
		if k == "X-Amz-Signature" {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, kv{awsURIEncode(k, true), awsURIEncode(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// awsURIEncode percent-encodes everything but unreserved characters (and '/' unless encodeSlash).
func awsURIEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
