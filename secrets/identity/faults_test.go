package identity_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

const (
	stsAPI   = "sts:AssumeRoleWithWebIdentity"
	agentAPI = "eks-auth:AssumeRoleForPodIdentity"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// fastOpts retries quickly: tests measure attempts, not delays.
func fastOpts(o identity.Options) identity.Options {
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Millisecond
	}
	return o
}

func irsaRequest(tok string) identity.Request {
	return identity.Request{Namespace: "ns", ServiceAccount: "sa",
		Annotations: map[string]string{identity.AnnotationRoleARN: role},
		Tokens:      map[string]identity.Token{identity.STSAudience: {Token: tok}}}
}

func podIdentityRequest(tok string) identity.Request {
	return identity.Request{Namespace: "ns", ServiceAccount: "sa", UsePodIdentity: true,
		Tokens: map[string]identity.Token{identity.PodIdentityAudience: {Token: tok}}}
}

func mint(t *testing.T, iss *fakeaws.TokenIssuer, aud string, ttl time.Duration) string {
	t.Helper()
	tok, err := iss.ServiceAccountToken("ns", "sa", aud, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// retrieve resolves req and gets its credentials once.
func retrieve(ctx context.Context, t *testing.T, r *identity.Resolver, req identity.Request) error {
	t.Helper()
	id, err := r.Resolve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	c, err := id.Credentials.Retrieve(ctx)
	if err == nil && c.SessionToken == "" {
		t.Fatal("credentials without a session token")
	}
	return err
}

// TestRefusedTokensAreAccessDenied: STS and the agent refusing the pod's token
// (forged, expired, a rejected claim, the role's trust policy; the agent's
// 400/401/403) is AccessDenied naming the identity, and is not retried.
func TestRefusedTokensAreAccessDenied(t *testing.T) {
	srv, iss, base := fake(t)
	forger, err := fakeaws.NewTokenIssuer("https://issuer.test") // same iss, a key nobody trusts
	if err != nil {
		t.Fatal(err)
	}
	const trusting = "arn:aws:iam::111122223333:role/only-other-ns"
	if err := srv.AddRole(fakeaws.Role{ARN: trusting, Allow: []string{"*"},
		Trust: &fakeaws.RoleTrust{Subjects: []string{"system:serviceaccount:other:*"}}}); err != nil {
		t.Fatal(err)
	}
	trustReq := irsaRequest(mint(t, iss, identity.STSAudience, time.Hour))
	trustReq.Annotations = map[string]string{identity.AnnotationRoleARN: trusting}

	cases := []struct {
		name  string
		req   identity.Request
		fault *fakeaws.Fault
		api   string
		names []string
	}{
		{"forged IRSA token", irsaRequest(mint(t, forger, identity.STSAudience, time.Hour)), nil, stsAPI,
			[]string{role, `"ns/sa"`, "InvalidIdentityToken", "OIDC issuer"}},
		{"expired IRSA token", irsaRequest(mint(t, iss, identity.STSAudience, -time.Minute)), nil, stsAPI,
			[]string{role, `"ns/sa"`, "ExpiredTokenException", "expired"}},
		{"rejected claim", irsaRequest(mint(t, iss, identity.STSAudience, time.Hour)),
			&fakeaws.Fault{API: stsAPI, ErrorCode: "IDPRejectedClaim", Status: 403, Count: 1}, stsAPI,
			[]string{role, `"ns/sa"`, "IDPRejectedClaim", "trust policy"}},
		{"trust policy", trustReq, nil, stsAPI, []string{trusting, `"ns/sa"`, "AccessDenied", "trust policy"}},
		{"forged Pod Identity token", podIdentityRequest(mint(t, forger, identity.PodIdentityAudience, time.Hour)), nil, agentAPI,
			[]string{"pod-identity:ns/sa", "InvalidTokenException"}},
		{"agent 401", podIdentityRequest(mint(t, iss, identity.PodIdentityAudience, time.Hour)),
			&fakeaws.Fault{API: agentAPI, ErrorCode: "UnauthorizedException", Status: 401, Count: 1}, agentAPI,
			[]string{"pod-identity:ns/sa", "association"}},
		{"agent 403", podIdentityRequest(mint(t, iss, identity.PodIdentityAudience, time.Hour)),
			&fakeaws.Fault{API: agentAPI, ErrorCode: "AccessDeniedException", Status: 403, Count: 1}, agentAPI,
			[]string{"pod-identity:ns/sa", "AccessDeniedException"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetCalls()
			if tc.fault != nil {
				srv.SetFault(*tc.fault)
			}
			r := identity.NewResolver(base, fastOpts(identity.Options{PodIdentityEndpoint: srv.PodIdentityURL()}))
			err := retrieve(ctxT(t), t, r, tc.req)
			var ie *identity.Error
			if !errors.As(err, &ie) || ie.Kind != reason.AccessDenied || reason.Of(err) != reason.AccessDenied {
				t.Fatalf("error %v (reason %q), want AccessDenied", err, reason.Of(err))
			}
			for _, want := range tc.names {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			for _, tok := range tc.req.Tokens {
				if strings.Contains(err.Error(), tok.Token) {
					t.Fatal("error holds the token")
				}
			}
			if n := srv.Calls().Count(tc.api, ""); n != 1 {
				t.Fatalf("%d calls to %s, want 1 (a refusal is not retried)", n, tc.api)
			}
		})
	}
}

// TestTransientCredentialFailuresAreRetried: an agent not serving yet, STS
// 5xx, throttling, a hung call, a malformed answer are retried inside the
// caller's deadline; an agent down for good ends as CredentialsUnavailable
// after MaxAttempts; an endless answer is LimitExceeded, at once.
func TestTransientCredentialFailuresAreRetried(t *testing.T) {
	srv, iss, base := fake(t)
	irsa := irsaRequest(mint(t, iss, identity.STSAudience, time.Hour))
	pod := podIdentityRequest(mint(t, iss, identity.PodIdentityAudience, time.Hour))
	ok := []struct {
		name  string
		req   identity.Request
		fault fakeaws.Fault
		api   string
		calls int
	}{
		{"agent down for 3 calls", pod, fakeaws.Fault{API: agentAPI, Drop: true, Count: 3}, agentAPI, 4},
		{"agent 503 twice", pod, fakeaws.Fault{API: agentAPI, ErrorCode: "ServiceUnavailableException", Status: 503, Count: 2}, agentAPI, 3},
		{"agent malformed answer", pod, fakeaws.Fault{API: agentAPI, Response: fakeaws.ResponseBadJSON, Count: 1}, agentAPI, 2},
		{"agent empty answer", pod, fakeaws.Fault{API: agentAPI, Response: fakeaws.ResponseEmpty, Count: 1}, agentAPI, 2},
		{"agent hangs once", pod, fakeaws.Fault{API: agentAPI, Hang: true, HangMS: 60_000, Count: 1}, agentAPI, 2},
		{"STS 500 twice", irsa, fakeaws.Fault{API: stsAPI, ErrorCode: "InternalFailure", Status: 500, Count: 2}, stsAPI, 3},
		{"STS throttling", irsa, fakeaws.Fault{API: stsAPI, Throttle: true, Count: 2}, stsAPI, 3},
		{"STS IDP unreachable", irsa, fakeaws.Fault{API: stsAPI, ErrorCode: "IDPCommunicationError", Count: 1}, stsAPI, 2},
		{"STS truncated answer", irsa, fakeaws.Fault{API: stsAPI, Response: fakeaws.ResponseTruncated, Count: 1}, stsAPI, 2},
		{"STS hangs once", irsa, fakeaws.Fault{API: stsAPI, Hang: true, HangMS: 60_000, Count: 1}, stsAPI, 2},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			srv.ClearFaults()
			srv.ResetCalls()
			srv.SetFault(tc.fault)
			r := identity.NewResolver(base, fastOpts(identity.Options{PodIdentityEndpoint: srv.PodIdentityURL(),
				AttemptTimeout: 300 * time.Millisecond}))
			if err := retrieve(ctxT(t), t, r, tc.req); err != nil {
				t.Fatalf("after %+v: %v", tc.fault, err)
			}
			if n := srv.Calls().Count(tc.api, ""); n != tc.calls {
				t.Fatalf("%d calls to %s, want %d", n, tc.api, tc.calls)
			}
		})
	}

	t.Run("agent down for good", func(t *testing.T) {
		srv.ClearFaults()
		srv.ResetCalls()
		srv.SetFault(fakeaws.Fault{API: agentAPI, Drop: true})
		r := identity.NewResolver(base, fastOpts(identity.Options{PodIdentityEndpoint: srv.PodIdentityURL(), MaxAttempts: 4}))
		err := retrieve(ctxT(t), t, r, pod)
		var ie *identity.Error
		if !errors.As(err, &ie) || reason.Of(err) != reason.CredentialsUnavailable || ie.Attempts != 4 ||
			!strings.Contains(err.Error(), "pod-identity:ns/sa") || !strings.Contains(err.Error(), "4 attempt") {
			t.Fatalf("error %v (reason %q), want CredentialsUnavailable after 4 attempts naming the identity", err, reason.Of(err))
		}
		if n := srv.Calls().Count(agentAPI, ""); n != 4 {
			t.Fatalf("%d calls, want 4", n)
		}
	})

	t.Run("the caller's deadline bounds the retries", func(t *testing.T) {
		srv.ClearFaults()
		srv.ResetCalls()
		srv.SetFault(fakeaws.Fault{API: agentAPI, Drop: true})
		r := identity.NewResolver(base, identity.Options{PodIdentityEndpoint: srv.PodIdentityURL(), MaxAttempts: 1000,
			MaxBackoff: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		err := retrieve(ctx, t, r, pod)
		var ie *identity.Error
		if !errors.As(err, &ie) || reason.Of(err) != reason.CredentialsUnavailable || ie.Attempts >= 1000 {
			t.Fatalf("error %v, want CredentialsUnavailable ended by the deadline", err)
		}
		if !strings.Contains(err.Error(), fakeaws.CodeDropped) && !strings.Contains(err.Error(), "EOF") {
			t.Fatalf("error %q lost the cause", err)
		}
	})

	t.Run("endless answer", func(t *testing.T) {
		srv.ClearFaults()
		srv.ResetCalls()
		srv.SetFault(fakeaws.Fault{API: stsAPI, Response: fakeaws.ResponseEndless})
		r := identity.NewResolver(base, fastOpts(identity.Options{}))
		err := retrieve(ctxT(t), t, r, irsa)
		if reason.Of(err) != reason.LimitExceeded || srv.Calls().Count(stsAPI, "") != 1 {
			t.Fatalf("error %v after %d calls, want LimitExceeded after 1", err, srv.Calls().Count(stsAPI, ""))
		}
	})
	srv.ClearFaults()
}

// closedURL is an agent URL on host where nothing listens.
func closedURL(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no loopback address %s: %v", host, err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + fakeaws.DefaultPodIdentityPath
}

// TestPodIdentityIPv6Fallback: the agent's IPv4 address cannot be reached, its
// IPv6 one answers (within one attempt); a class preferring ipv6 asks the
// IPv6 address first and falls back to IPv4.
func TestPodIdentityIPv6Fallback(t *testing.T) {
	srv, iss, base := fake(t)
	v6, err := srv.Listen("[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	v6 += fakeaws.DefaultPodIdentityPath
	v4 := srv.PodIdentityURL()
	pod := podIdentityRequest(mint(t, iss, identity.PodIdentityAudience, time.Hour))
	ipv6Pod := pod
	ipv6Pod.PreferredAddressType = "ipv6"
	for _, tc := range []struct {
		name       string
		ep4, ep6   string
		req        identity.Request
		wantFailed bool
	}{
		{"IPv4 refused, IPv6 answers", closedURL(t, "127.0.0.1"), v6, pod, false},
		{"ipv6 preferred, refused, IPv4 answers", v4, closedURL(t, "::1"), ipv6Pod, false},
		{"IPv4 refused, no IPv6 address", closedURL(t, "127.0.0.1"), "", pod, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetCalls()
			r := identity.NewResolver(base, identity.Options{PodIdentityEndpoint: tc.ep4, PodIdentityEndpointIPv6: tc.ep6, MaxAttempts: 1})
			err := retrieve(ctxT(t), t, r, tc.req)
			if tc.wantFailed {
				if reason.Of(err) != reason.CredentialsUnavailable || !strings.Contains(err.Error(), "refused") {
					t.Fatalf("error %v, want CredentialsUnavailable (connection refused)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := srv.Calls().Count(agentAPI, ""); n != 1 {
				t.Fatalf("%d agent calls, want 1", n)
			}
		})
	}

	// Both addresses answer: the preference decides which is asked. A second fake
	// on ::1 tells them apart.
	srv6 := twin(t, srv, iss, "[::1]:0")
	for _, tc := range []struct {
		req      identity.Request
		want4    int
		wantFrom string
	}{{pod, 1, "IPv4"}, {ipv6Pod, 0, "IPv6"}} {
		srv.ResetCalls()
		srv6.ResetCalls()
		r := identity.NewResolver(base, identity.Options{PodIdentityEndpoint: v4, PodIdentityEndpointIPv6: srv6.PodIdentityURL()})
		if err := retrieve(ctxT(t), t, r, tc.req); err != nil {
			t.Fatal(err)
		}
		if n4, n6 := srv.Calls().Count(agentAPI, ""), srv6.Calls().Count(agentAPI, ""); n4 != tc.want4 || n4+n6 != 1 {
			t.Fatalf("preference %q: IPv4 agent %d calls, IPv6 agent %d, want the %s one only", tc.req.PreferredAddressType, n4, n6, tc.wantFrom)
		}
	}
}

// twin starts a second fake that trusts iss and knows the same association.
func twin(t *testing.T, _ *fakeaws.Server, iss *fakeaws.TokenIssuer, addr string) *fakeaws.Server {
	t.Helper()
	s, err := fakeaws.New(fakeaws.State{Region: "us-east-1", AccountID: "111122223333",
		Roles:                   []fakeaws.Role{{ARN: role, Allow: []string{"*"}}},
		PodIdentityAssociations: []fakeaws.PodIdentityAssociation{{Namespace: "ns", ServiceAccount: "sa", RoleARN: role}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TrustIssuer("https://issuer.test", identity.PodIdentityAudience, iss.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(addr); err != nil {
		t.Skipf("no %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var _ = aws.Credentials{}

// TestResolveErrorsAreNoIdentity: what Resolve refuses has reason NoIdentity,
// and a huge annotation makes a short error.
func TestResolveErrorsAreNoIdentity(t *testing.T) {
	_, iss, base := fake(t)
	r := identity.NewResolver(base, identity.Options{})
	huge := "arn:aws:iam::111122223333:role/" + strings.Repeat("x", 10<<20)
	for _, req := range []identity.Request{
		{Namespace: "ns", ServiceAccount: "plain"},
		{Namespace: "ns", ServiceAccount: "sa", Annotations: map[string]string{identity.AnnotationRoleARN: huge}},
		{Namespace: "ns", ServiceAccount: "sa", Annotations: map[string]string{identity.AnnotationRoleARN: role}},
		{Namespace: "ns", ServiceAccount: "sa", UsePodIdentity: true, Tokens: tokens(t, iss, identity.STSAudience)},
	} {
		_, err := r.Resolve(context.Background(), req)
		if !errors.Is(err, identity.ErrNoIdentity) || reason.Of(err) != reason.NoIdentity {
			t.Fatalf("error %.300v (reason %q), want NoIdentity", err, reason.Of(err))
		}
		if len(err.Error()) > 1024 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	}
}
