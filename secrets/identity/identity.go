// Package identity is the identity stage of the core's pipeline: it turns what
// a delivery path knows about a pod (its service account, the annotations on
// it, and the service-account tokens the CSIDriver's tokenRequests asked the
// kubelet for: the mounter and the provider) into AWS credentials for that
// pod, or hands out the process's own credentials (Own: the injector and
// fetch), and chains a class's assumeRoleArn after either (Assume):
//
//   - IRSA: the ServiceAccount annotation eks.amazonaws.com/role-arn and the
//     pod's sts.amazonaws.com token, exchanged with STS AssumeRoleWithWebIdentity;
//   - EKS Pod Identity (usePodIdentity): the node agent's credentials endpoint,
//     with the pod's pods.eks.amazonaws.com token as Authorization;
//   - the node's own role, only when the operator allows it (Policy).
//
// Credentials are cached per identity (role + namespace/serviceaccount) until
// shortly before they expire, so many pods of one service account cost one
// STS call. The identity's Key is also the key of the fetcher's node cache:
// two pods share cached secret values only when they share an identity.
//
// Getting credentials is bounded and classified: each call to STS or the agent
// has a timeout of its own and a capped response body; a failure that may pass
// (the agent not listening yet on a fresh node, a 5xx, throttling, a timeout, a
// malformed answer) is retried with jittered backoff inside the caller's
// context, and the Pod Identity agent's IPv6 address is tried when its IPv4 one
// cannot be reached. Every error is an *Error naming the identity, with its
// reason of the one vocabulary (package reason): NoIdentity, AccessDenied (STS
// or the agent refused the token or the trust policy), CredentialsUnavailable.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/internal/awsguard"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Annotations on a ServiceAccount that this package reads (the EKS pod-identity
// webhook's). AnnotationSTSRegionalEndpoint is accepted and needs no handling:
// the AWS SDK for Go v2 always calls the regional STS endpoint of the region.
const (
	AnnotationRoleARN             = "eks.amazonaws.com/role-arn"
	AnnotationAudience            = "eks.amazonaws.com/audience"
	AnnotationSTSRegionalEndpoint = "eks.amazonaws.com/sts-regional-endpoints"
)

// Token audiences the CSIDriver's tokenRequests must list.
const (
	STSAudience         = "sts.amazonaws.com"
	PodIdentityAudience = "pods.eks.amazonaws.com"
)

// DefaultPodIdentityEndpoint is the EKS Pod Identity agent's link-local endpoint.
const DefaultPodIdentityEndpoint = "http://169.254.170.23/v1/credentials"

// DefaultPodIdentityEndpointIPv6 is the agent's IPv6 endpoint: tried when the IPv4
// one cannot be reached, and first for classes with preferredAddressType: ipv6.
const DefaultPodIdentityEndpointIPv6 = "http://[fd00:ec2::23]/v1/credentials"

// Defaults of Options.
const (
	// DefaultExpiryWindow is how long before expiry cached credentials are renewed.
	DefaultExpiryWindow = 5 * time.Minute
	// DefaultAttemptTimeout bounds one call to STS or the Pod Identity agent.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultMaxAttempts bounds the calls of one credentials retrieval.
	DefaultMaxAttempts = 10
	// DefaultMaxBackoff caps one retry delay (the delays grow from 200ms, jittered).
	DefaultMaxBackoff = 3 * time.Second
	// maxResponseBytes caps an answer of STS or the agent (a few KiB in truth).
	maxResponseBytes = 1 << 20
)

// Policy says when the node's own AWS identity may be used for a pod.
type Policy string

// The node-identity policies.
const (
	// NodeNever refuses pods without IRSA or Pod Identity (the default).
	NodeNever Policy = "never"
	// NodeFallback uses the node role for pods that have neither IRSA nor Pod Identity.
	NodeFallback Policy = "fallback"
	// NodeAlways uses the node role for every pod.
	NodeAlways Policy = "always"
)

// ParsePolicy parses a --node-identity value.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case NodeNever, NodeFallback, NodeAlways:
		return p, nil
	}
	return "", fmt.Errorf("node identity policy %s: must be never, fallback or always", secrets.Quote(s))
}

// Kind names where an identity's credentials come from.
type Kind string

// The identity kinds.
const (
	KindIRSA        Kind = "irsa"
	KindPodIdentity Kind = "pod-identity"
	KindNode        Kind = "node"
)

// Identity is the AWS identity a pod's secrets are fetched with.
type Identity struct {
	// Key identifies the identity for caching: role ARN + namespace/serviceaccount,
	// "pod-identity:namespace/serviceaccount" or "node". Safe to log.
	Key string
	// Kind is where the credentials come from.
	Kind Kind
	// Credentials sign the AWS calls.
	Credentials aws.CredentialsProvider
}

// Token is one service-account token the kubelet minted for the pod.
type Token struct {
	Token               string    `json:"token"`
	ExpirationTimestamp time.Time `json:"expirationTimestamp"`
}

// String keeps the token out of logs; GoString, Format and LogValue keep it
// out of every other way of printing it (%v, %+v, %#v, slog). Only its JSON,
// the attribute's wire format, holds it.
func (Token) String() string { return secrets.Redacted }

// GoString implements fmt.GoStringer.
func (Token) GoString() string { return secrets.Redacted }

// Format implements fmt.Formatter: every verb prints "<redacted>".
func (Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(secrets.Redacted)) }

// LogValue implements slog.LogValuer.
func (Token) LogValue() slog.Value { return slog.StringValue(secrets.Redacted) }

// MarshalJSON implements json.Marshaler: a Token in a logged structure (a
// map of tokens through slog's JSON handler) prints "<redacted>" too. The
// kubelet's wire format is EncodeTokens.
func (Token) MarshalJSON() ([]byte, error) { return []byte(`"` + secrets.Redacted + `"`), nil }

// wireToken is a Token as the kubelet encodes it.
type wireToken struct {
	Token               string    `json:"token"`
	ExpirationTimestamp time.Time `json:"expirationTimestamp"`
}

// EncodeTokens renders tokens as the kubelet does in the
// csi.storage.k8s.io/serviceAccount.tokens attribute (what ParseTokens reads):
// for tests and tools that play the kubelet.
func EncodeTokens(tokens map[string]Token) (string, error) {
	w := make(map[string]wireToken, len(tokens))
	for aud, t := range tokens {
		w[aud] = wireToken(t)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("encode service account tokens: %w", err)
	}
	return string(b), nil
}

// ParseTokens decodes the csi.storage.k8s.io/serviceAccount.tokens volume
// attribute: a JSON object audience → {token, expirationTimestamp}. The error
// never quotes the input.
func ParseTokens(s string) (map[string]Token, error) {
	if s == "" {
		return map[string]Token{}, nil
	}
	var m map[string]Token
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, errors.New("decode service account tokens: not a JSON object of audience to {token, expirationTimestamp}")
	}
	return m, nil
}

// Request describes the pod asking for an identity.
type Request struct {
	// Namespace and ServiceAccount name the pod's service account.
	Namespace      string
	ServiceAccount string
	// Annotations are the ServiceAccount's annotations.
	Annotations map[string]string
	// Tokens are the pod's tokens by audience.
	Tokens map[string]Token
	// UsePodIdentity is the SecretProviderClass's usePodIdentity.
	UsePodIdentity bool
	// Region is the region of the SecretProviderClass, used for STS when the base config has none.
	Region string
	// PreferredAddressType is the class's preferredAddressType ("ipv4", "ipv6", "auto").
	PreferredAddressType string
}

// ErrNoIdentity is wrapped when a pod has no usable AWS identity (reason.NoIdentity).
var ErrNoIdentity = errors.New("no AWS identity for the pod")

// noIdentity is a Resolve failure: reason NoIdentity, wrapping ErrNoIdentity.
func noIdentity(format string, args ...any) error {
	return reason.Wrap(reason.NoIdentity, fmt.Errorf("%w: "+format, append([]any{ErrNoIdentity}, args...)...))
}

// Error is a failure to get an identity's credentials. It names the identity,
// never holds a token, and carries a reason of the one vocabulary.
type Error struct {
	// Identity names who asked: the role and service account (IRSA),
	// pod-identity:namespace/serviceaccount, or the node.
	Identity string
	// Kind is AccessDenied (STS or the agent refused the token, or the role's
	// trust policy refused the service account), CredentialsUnavailable (what
	// may pass: unreachable, 5xx, throttled, timed out, malformed) or
	// LimitExceeded (an answer over its size limit).
	Kind reason.Reason
	// Attempts is the number of calls made.
	Attempts int
	// Fix says what to do, when there is something to say.
	Fix string
	// Err is the last call's error.
	Err error
}

// maxCauseBytes bounds the text of the cause an Error prints.
const maxCauseBytes = 1024

func (e *Error) Error() string {
	what := "refused"
	switch e.Kind {
	case reason.CredentialsUnavailable:
		what = "unavailable"
	case reason.LimitExceeded:
		what = "answer over its size limit"
	}
	msg := fmt.Sprintf("AWS credentials for %s: %s after %d attempt(s): %s", e.Identity, what, e.Attempts, secrets.Bound(fmt.Sprint(e.Err), maxCauseBytes))
	if e.Fix != "" {
		msg += "; fix: " + e.Fix
	}
	return msg
}

// Unwrap returns the last call's error.
func (e *Error) Unwrap() error { return e.Err }

// Reason implements reason.Reasoner.
func (e *Error) Reason() reason.Reason { return e.Kind }

// Options configure a Resolver.
type Options struct {
	// NodeIdentity is the node-identity policy (default NodeNever).
	NodeIdentity Policy
	// PodIdentityEndpoint is the Pod Identity agent's credentials URL (default
	// DefaultPodIdentityEndpoint).
	PodIdentityEndpoint string
	// PodIdentityEndpointIPv6 is the agent's IPv6 URL, tried when the first one
	// cannot be reached (and first for classes preferring ipv6). Default:
	// DefaultPodIdentityEndpointIPv6 when PodIdentityEndpoint is the default,
	// otherwise none (a custom endpoint gets no second address unless set).
	PodIdentityEndpointIPv6 string
	// ExpiryWindow renews cached credentials this long before expiry (default DefaultExpiryWindow).
	ExpiryWindow time.Duration
	// HTTPClient is used for the Pod Identity endpoint (default: the base config's).
	HTTPClient endpointcreds.HTTPClient
	// AttemptTimeout bounds one call to STS or the agent (default DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// MaxAttempts bounds the calls of one credentials retrieval (default
	// DefaultMaxAttempts); the caller's context bounds their time.
	MaxAttempts int
	// MaxBackoff caps one retry delay (default DefaultMaxBackoff).
	MaxBackoff time.Duration
}

// Resolver hands out (cached) credentials per identity. Safe for concurrent use.
type Resolver struct {
	base aws.Config
	opts Options

	mu    sync.Mutex
	cache map[string]*entry
	sts   map[string]*sts.Client // by region
}

// entry is a cached credentials provider and the latest token it presents.
type entry struct {
	token *tokenHolder
	creds aws.CredentialsProvider
}

// tokenHolder hands the newest token of an identity to the SDK providers.
type tokenHolder struct {
	mu  sync.Mutex
	tok string
}

func (h *tokenHolder) set(t string) {
	h.mu.Lock()
	h.tok = t
	h.mu.Unlock()
}

func (h *tokenHolder) get() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tok
}

// GetIdentityToken implements stscreds.IdentityTokenRetriever.
func (h *tokenHolder) GetIdentityToken() ([]byte, error) { return []byte(h.get()), nil }

// GetToken implements endpointcreds.AuthTokenProvider.
func (h *tokenHolder) GetToken() (string, error) { return h.get(), nil }

// NewResolver returns a Resolver whose STS clients and node credentials come from base.
func NewResolver(base aws.Config, opts Options) *Resolver {
	if opts.NodeIdentity == "" {
		opts.NodeIdentity = NodeNever
	}
	if opts.PodIdentityEndpoint == "" {
		opts.PodIdentityEndpoint = DefaultPodIdentityEndpoint
	}
	if opts.PodIdentityEndpointIPv6 == "" && opts.PodIdentityEndpoint == DefaultPodIdentityEndpoint {
		opts.PodIdentityEndpointIPv6 = DefaultPodIdentityEndpointIPv6
	}
	if opts.ExpiryWindow <= 0 {
		opts.ExpiryWindow = DefaultExpiryWindow
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	base.HTTPClient = awsguard.StableBodies(base.HTTPClient)
	return &Resolver{base: base, opts: opts, cache: map[string]*entry{}, sts: map[string]*sts.Client{}}
}

// Resolve picks the pod's identity: node role when the policy is "always";
// Pod Identity when the class asks for it; IRSA when the service account has a
// role annotation; the node role when the policy is "fallback"; otherwise an
// error wrapping ErrNoIdentity (reason NoIdentity) that says how to fix it. It
// makes no AWS call: the credentials are got when first used.
func (r *Resolver) Resolve(_ context.Context, req Request) (Identity, error) {
	sa := req.Namespace + "/" + req.ServiceAccount
	if r.opts.NodeIdentity == NodeAlways {
		return r.node()
	}
	if req.UsePodIdentity {
		return r.podIdentity(sa, req)
	}
	if role := strings.TrimSpace(req.Annotations[AnnotationRoleARN]); role != "" {
		return r.irsa(sa, role, req)
	}
	if r.opts.NodeIdentity == NodeFallback {
		return r.node()
	}
	return Identity{}, noIdentity("service account %s has no %s annotation and the SecretProviderClass does not set usePodIdentity: "+
		"annotate the service account with the IAM role to use (%s: arn:aws:iam::ACCOUNT:role/NAME), or set usePodIdentity: \"true\" "+
		"with an EKS Pod Identity association, or ask the operator to allow the node's role (--node-identity=fallback)",
		secrets.Quote(sa), AnnotationRoleARN, AnnotationRoleARN)
}

func (r *Resolver) node() (Identity, error) {
	if r.base.Credentials == nil {
		return Identity{}, noIdentity("node identity allowed but the node has no AWS credentials")
	}
	return Identity{Key: "node", Kind: KindNode, Credentials: r.retrying("the node's role", KindNode, r.base.Credentials)}, nil
}

// roleARNRE is compiled on first use: its {1,512} compiles to a large program
// (about 3 ms and 350 KB at start-up) that only IRSA lookups need, and every
// process that links this package (the injector in each init-mode pod) would
// pay it.
var roleARNRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
})

func (r *Resolver) irsa(sa, role string, req Request) (Identity, error) {
	if !roleARNRE().MatchString(role) {
		return Identity{}, noIdentity("service account %s: annotation %s %s is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
			secrets.Quote(sa), AnnotationRoleARN, secrets.Quote(role))
	}
	aud := STSAudience
	if a := strings.TrimSpace(req.Annotations[AnnotationAudience]); a != "" {
		aud = a
	}
	tok, ok := req.Tokens[aud]
	if !ok || tok.Token == "" {
		return Identity{}, noIdentity("the kubelet sent no service account token for audience %s: "+
			"the CSIDriver object must list it in tokenRequests", secrets.Quote(aud))
	}
	key := role + " " + sa
	region := r.base.Region
	if region == "" {
		region = req.Region
	}
	who := fmt.Sprintf("role %s for service account %s (IRSA)", role, secrets.Quote(sa))
	e := r.entry(key, who, KindIRSA, tok.Token, func(h *tokenHolder) aws.CredentialsProvider {
		return stscreds.NewWebIdentityRoleProvider(r.stsClient(region), role, h, func(o *stscreds.WebIdentityRoleOptions) {
			o.RoleSessionName = sessionName(req.Namespace, req.ServiceAccount)
		})
	})
	return Identity{Key: key, Kind: KindIRSA, Credentials: e.creds}, nil
}

func (r *Resolver) podIdentity(sa string, req Request) (Identity, error) {
	tok, ok := req.Tokens[PodIdentityAudience]
	if !ok || tok.Token == "" {
		return Identity{}, noIdentity("usePodIdentity is set but the kubelet sent no service account token for audience %s: "+
			"the CSIDriver object must list it in tokenRequests", secrets.Quote(PodIdentityAudience))
	}
	key := "pod-identity:" + sa
	endpoints := []string{r.opts.PodIdentityEndpoint}
	if v6 := r.opts.PodIdentityEndpointIPv6; v6 != "" && v6 != r.opts.PodIdentityEndpoint {
		endpoints = append(endpoints, v6)
		if req.PreferredAddressType == "ipv6" {
			endpoints[0], endpoints[1] = endpoints[1], endpoints[0]
		}
	}
	// The order is part of the cached provider: one identity, one class preference at a time.
	ckey := key + " " + strings.Join(endpoints, " ")
	who := secrets.Quote(key) + " (EKS Pod Identity)"
	e := r.entry(ckey, who, KindPodIdentity, tok.Token, func(h *tokenHolder) aws.CredentialsProvider {
		p := &agentProvider{}
		for _, ep := range endpoints {
			p.urls = append(p.urls, ep)
			p.providers = append(p.providers, endpointcreds.New(ep, func(o *endpointcreds.Options) {
				o.AuthorizationTokenProvider = h
				if r.opts.HTTPClient != nil {
					o.HTTPClient = r.opts.HTTPClient
				} else if r.base.HTTPClient != nil {
					o.HTTPClient = r.base.HTTPClient
				}
				o.Retryer = aws.NopRetryer{} // retried by retryingProvider, inside the caller's context
				o.APIOptions = r.guard(o.APIOptions, nil)
				o.APIOptions = append(o.APIOptions[:len(o.APIOptions):len(o.APIOptions)], r.base.APIOptions...)
			}))
		}
		return p
	})
	return Identity{Key: key, Kind: KindPodIdentity, Credentials: e.creds}, nil
}

// guard adds the call guards (body cap, a timeout per attempt, a body required)
// to a client's API options.
func (r *Resolver) guard(apiOptions []func(*middleware.Stack) error, contentTypes []string) []func(*middleware.Stack) error {
	return awsguard.Options{MaxBody: maxResponseBytes, AttemptTimeout: r.opts.AttemptTimeout,
		ContentTypes: contentTypes, RequireBody: true}.Append(apiOptions)
}

// entry returns the cached provider for key (creating it with mk), after
// handing it the newest token.
func (r *Resolver) entry(key, who string, kind Kind, token string, mk func(*tokenHolder) aws.CredentialsProvider) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[key]
	if !ok {
		h := &tokenHolder{}
		cache := aws.NewCredentialsCache(mk(h), func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = r.opts.ExpiryWindow
		})
		e = &entry{token: h, creds: r.retrying(who, kind, cache)}
		r.cache[key] = e
	}
	e.token.set(token)
	return e
}

// Forget drops the cached credentials of key (e.g. after AWS rejected them).
func (r *Resolver) Forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.cache {
		if k == key || (strings.HasPrefix(key, "pod-identity:") && strings.HasPrefix(k, key+" ")) {
			delete(r.cache, k)
		}
	}
}

// Len is the number of cached identities.
func (r *Resolver) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cache)
}

func (r *Resolver) stsClient(region string) *sts.Client {
	// Caller holds r.mu.
	if region == "" {
		region = "us-east-1"
	}
	c, ok := r.sts[region]
	if !ok {
		c = sts.NewFromConfig(r.base, func(o *sts.Options) {
			o.Region = region
			o.Retryer = aws.NopRetryer{} // retried by retryingProvider, inside the caller's context
			o.APIOptions = r.guard(o.APIOptions, []string{"text/xml", "application/xml"})
		})
		r.sts[region] = c
	}
	return c
}

var sessionRE = regexp.MustCompile(`[^\w+=,.@-]`)

// sessionName is the STS role session name for a service account: visible in
// CloudTrail, at most 64 characters.
func sessionName(ns, sa string) string {
	s := sessionRE.ReplaceAllString("asi-"+ns+"-"+sa, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
