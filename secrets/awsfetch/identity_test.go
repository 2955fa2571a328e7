package awsfetch_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

const podRole = "arn:aws:iam::111122223333:role/app"

// identityFake is the fake with a role that may read app/*, an associated
// service account ns/sa, and a trusted token issuer.
func identityFake(t *testing.T) (*fakeaws.Server, *fakeaws.TokenIssuer, aws.Config) {
	t.Helper()
	srv := startFake(t, 1)
	iss, err := fakeaws.NewTokenIssuer("https://issuer.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddRole(fakeaws.Role{ARN: podRole, Allow: []string{"app/*"}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddPodIdentityAssociation(fakeaws.PodIdentityAssociation{Namespace: "ns", ServiceAccount: "sa", RoleARN: podRole}); err != nil {
		t.Fatal(err)
	}
	for _, aud := range []string{identity.STSAudience, identity.PodIdentityAudience} {
		if err := srv.TrustIssuer("https://issuer.test", aud, iss.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	ep := srv.URL()
	base := aws.Config{Region: "us-east-1", BaseEndpoint: &ep, Credentials: credentials.NewStaticCredentialsProvider(userA, secretA, "")}
	return srv, iss, base
}

func fetchAs(t *testing.T, srv *fakeaws.Server, base aws.Config, id identity.Identity) error {
	t.Helper()
	f := awsfetch.New(base, awsfetch.Options{MaxBackoff: 5 * time.Millisecond})
	vals, err := f.Fetch(ctx(t), spec(t, map[string]string{"objects": smObjects("app/s0")}), awsfetch.Identity{Key: id.Key, Credentials: id.Credentials})
	if err == nil && string(vals[0].Value.Bytes()) != "value-0" {
		t.Fatalf("value %q", vals[0].Value.Bytes())
	}
	return err
}

// TestRefusedTokenIsAccessDenied: a forged IRSA token (or one the agent
// refuses) fails the fetch as AccessDenied, naming the identity, after one
// STS call: neither the SDK's retryer nor the identity retries a refusal.
func TestRefusedTokenIsAccessDenied(t *testing.T) {
	srv, _, base := identityFake(t)
	forger, err := fakeaws.NewTokenIssuer("https://issuer.test")
	if err != nil {
		t.Fatal(err)
	}
	r := identity.NewResolver(base, identity.Options{PodIdentityEndpoint: srv.PodIdentityURL(), MaxBackoff: 5 * time.Millisecond})
	for _, tc := range []struct {
		req   identity.Request
		api   string
		names []string
	}{
		{identity.Request{Namespace: "ns", ServiceAccount: "sa", Annotations: map[string]string{identity.AnnotationRoleARN: podRole}}, "sts:AssumeRoleWithWebIdentity",
			[]string{podRole, `"ns/sa"`, "InvalidIdentityToken"}},
		{identity.Request{Namespace: "ns", ServiceAccount: "sa", UsePodIdentity: true}, "eks-auth:AssumeRoleForPodIdentity",
			[]string{"pod-identity:ns/sa", "InvalidTokenException"}},
	} {
		aud := identity.STSAudience
		if tc.req.UsePodIdentity {
			aud = identity.PodIdentityAudience
		}
		tok, err := forger.ServiceAccountToken("ns", "sa", aud, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tc.req.Tokens = map[string]identity.Token{aud: {Token: tok}}
		id, err := r.Resolve(ctx(t), tc.req)
		if err != nil {
			t.Fatal(err)
		}
		srv.ResetCalls()
		err = fetchAs(t, srv, base, id)
		if !errors.Is(err, awsfetch.ErrAccessDenied) || reason.Of(err) != reason.AccessDenied {
			t.Fatalf("error %v (reason %q), want AccessDenied", err, reason.Of(err))
		}
		for _, want := range tc.names {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
		if c := srv.Calls(); c.Count(tc.api, "") != 1 || c.ByAPI["secretsmanager:GetSecretValue"] != 0 {
			t.Fatalf("calls %v, want one %s call and no read", c.ByAPI, tc.api)
		}
	}
}

// TestAgentNotReadyYet: on a fresh node the agent drops the first calls; the
// fetch still succeeds, and an agent down for good is CredentialsUnavailable
// after the identity's attempts only (the SDK's retryer does not multiply them).
func TestAgentNotReadyYet(t *testing.T) {
	srv, iss, base := identityFake(t)
	tok, err := iss.ServiceAccountToken("ns", "sa", identity.PodIdentityAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req := identity.Request{Namespace: "ns", ServiceAccount: "sa", UsePodIdentity: true,
		Tokens: map[string]identity.Token{identity.PodIdentityAudience: {Token: tok}}}
	opts := identity.Options{PodIdentityEndpoint: srv.PodIdentityURL(), MaxAttempts: 6, MaxBackoff: 5 * time.Millisecond}

	srv.SetFault(fakeaws.Fault{API: "eks-auth:AssumeRoleForPodIdentity", Drop: true, Count: 4})
	id, err := identity.NewResolver(base, opts).Resolve(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := fetchAs(t, srv, base, id); err != nil {
		t.Fatalf("agent down for 4 calls: %v", err)
	}

	srv.ResetCalls()
	srv.SetFault(fakeaws.Fault{API: "eks-auth:AssumeRoleForPodIdentity", Drop: true})
	id, err = identity.NewResolver(base, opts).Resolve(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	err = fetchAs(t, srv, base, id)
	if !errors.Is(err, awsfetch.ErrCredentials) || reason.Of(err) != reason.CredentialsUnavailable || !strings.Contains(err.Error(), "pod-identity:ns/sa") {
		t.Fatalf("agent down: %v (reason %q), want CredentialsUnavailable naming the identity", err, reason.Of(err))
	}
	if n := srv.Calls().Count("eks-auth:AssumeRoleForPodIdentity", ""); n != 6 {
		t.Fatalf("%d agent calls, want 6 (the identity's attempts, not multiplied by the fetch's)", n)
	}
	srv.ClearFaults()
}
