// Package identity turns what the kubelet tells the mounter about a pod (its
// service account, the annotations on it, and the service-account tokens the
// CSIDriver's tokenRequests asked for) into AWS credentials for that pod:
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
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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

// DefaultPodIdentityEndpointIPv6 is the agent's IPv6 endpoint, used for classes with
// preferredAddressType: ipv6 while the endpoint is the default.
const DefaultPodIdentityEndpointIPv6 = "http://[fd00:ec2::23]/v1/credentials"

// DefaultExpiryWindow is how long before expiry cached credentials are renewed.
const DefaultExpiryWindow = 5 * time.Minute

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
	return "", fmt.Errorf("node identity policy %q: must be never, fallback or always", s)
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

// String keeps the token out of logs.
func (Token) String() string { return "<redacted>" }

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

// ErrNoIdentity is wrapped when a pod has no usable AWS identity.
var ErrNoIdentity = errors.New("no AWS identity for the pod")

// Options configure a Resolver.
type Options struct {
	// NodeIdentity is the node-identity policy (default NodeNever).
	NodeIdentity Policy
	// PodIdentityEndpoint is the Pod Identity agent's credentials URL.
	PodIdentityEndpoint string
	// ExpiryWindow renews cached credentials this long before expiry (default DefaultExpiryWindow).
	ExpiryWindow time.Duration
	// HTTPClient is used for the Pod Identity endpoint (default: the base config's).
	HTTPClient endpointcreds.HTTPClient
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
	creds *aws.CredentialsCache
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
	if opts.ExpiryWindow <= 0 {
		opts.ExpiryWindow = DefaultExpiryWindow
	}
	return &Resolver{base: base, opts: opts, cache: map[string]*entry{}, sts: map[string]*sts.Client{}}
}

// Resolve picks the pod's identity: node role when the policy is "always";
// Pod Identity when the class asks for it; IRSA when the service account has a
// role annotation; the node role when the policy is "fallback"; otherwise an
// error wrapping ErrNoIdentity that says how to fix it.
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
	return Identity{}, fmt.Errorf("%w: service account %s has no %s annotation and the SecretProviderClass does not set usePodIdentity: "+
		"annotate the service account with the IAM role to use (%s: arn:aws:iam::ACCOUNT:role/NAME), or set usePodIdentity: \"true\" "+
		"with an EKS Pod Identity association, or ask the operator to allow the node's role (--node-identity=fallback)",
		ErrNoIdentity, sa, AnnotationRoleARN, AnnotationRoleARN)
}

func (r *Resolver) node() (Identity, error) {
	if r.base.Credentials == nil {
		return Identity{}, fmt.Errorf("%w: node identity allowed but the node has no AWS credentials", ErrNoIdentity)
	}
	return Identity{Key: "node", Kind: KindNode, Credentials: r.base.Credentials}, nil
}

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)

func (r *Resolver) irsa(sa, role string, req Request) (Identity, error) {
	if !roleARNRE.MatchString(role) {
		return Identity{}, fmt.Errorf("%w: service account %s: annotation %s %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
			ErrNoIdentity, sa, AnnotationRoleARN, role)
	}
	aud := STSAudience
	if a := strings.TrimSpace(req.Annotations[AnnotationAudience]); a != "" {
		aud = a
	}
	tok, ok := req.Tokens[aud]
	if !ok || tok.Token == "" {
		return Identity{}, fmt.Errorf("%w: the kubelet sent no service account token for audience %q: "+
			"the CSIDriver object must list it in tokenRequests", ErrNoIdentity, aud)
	}
	key := role + " " + sa
	region := r.base.Region
	if region == "" {
		region = req.Region
	}
	e := r.entry(key, tok.Token, func(h *tokenHolder) aws.CredentialsProvider {
		return stscreds.NewWebIdentityRoleProvider(r.stsClient(region), role, h, func(o *stscreds.WebIdentityRoleOptions) {
			o.RoleSessionName = sessionName(req.Namespace, req.ServiceAccount)
		})
	})
	return Identity{Key: key, Kind: KindIRSA, Credentials: e.creds}, nil
}

func (r *Resolver) podIdentity(sa string, req Request) (Identity, error) {
	tok, ok := req.Tokens[PodIdentityAudience]
	if !ok || tok.Token == "" {
		return Identity{}, fmt.Errorf("%w: usePodIdentity is set but the kubelet sent no service account token for audience %q: "+
			"the CSIDriver object must list it in tokenRequests", ErrNoIdentity, PodIdentityAudience)
	}
	key := "pod-identity:" + sa
	endpoint := r.opts.PodIdentityEndpoint
	if req.PreferredAddressType == "ipv6" && endpoint == DefaultPodIdentityEndpoint {
		endpoint = DefaultPodIdentityEndpointIPv6
	}
	e := r.entry(key, tok.Token, func(h *tokenHolder) aws.CredentialsProvider {
		return endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
			o.AuthorizationTokenProvider = h
			if r.opts.HTTPClient != nil {
				o.HTTPClient = r.opts.HTTPClient
			} else if r.base.HTTPClient != nil {
				o.HTTPClient = r.base.HTTPClient
			}
			o.APIOptions = append(o.APIOptions, r.base.APIOptions...)
		})
	})
	return Identity{Key: key, Kind: KindPodIdentity, Credentials: e.creds}, nil
}

// entry returns the cached provider for key (creating it with mk), after
// handing it the newest token.
func (r *Resolver) entry(key, token string, mk func(*tokenHolder) aws.CredentialsProvider) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[key]
	if !ok {
		h := &tokenHolder{}
		e = &entry{token: h, creds: aws.NewCredentialsCache(mk(h), func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = r.opts.ExpiryWindow
		})}
		r.cache[key] = e
	}
	e.token.set(token)
	return e
}

// Forget drops the cached credentials of key (e.g. after AWS rejected them).
func (r *Resolver) Forget(key string) {
	r.mu.Lock()
	delete(r.cache, key)
	r.mu.Unlock()
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
		c = sts.NewFromConfig(r.base, func(o *sts.Options) { o.Region = region })
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
