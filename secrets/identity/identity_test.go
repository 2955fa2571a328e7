package identity_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

const role = "arn:aws:iam::111122223333:role/app"

func fake(t *testing.T) (*fakeaws.Server, *fakeaws.TokenIssuer, aws.Config) {
	t.Helper()
	iss, err := fakeaws.NewTokenIssuer("https://issuer.test")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fakeaws.New(fakeaws.State{Region: "us-east-1", AccountID: "111122223333",
		Roles:                   []fakeaws.Role{{ARN: role, Allow: []string{"*"}}},
		PodIdentityAssociations: []fakeaws.PodIdentityAssociation{{Namespace: "ns", ServiceAccount: "sa", RoleARN: role}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, aud := range []string{identity.STSAudience, identity.PodIdentityAudience, "custom-aud"} {
		if err := srv.TrustIssuer("https://issuer.test", aud, iss.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ep := srv.URL()
	base := aws.Config{Region: "us-east-1", BaseEndpoint: &ep,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDNODE", "x", "")}
	return srv, iss, base
}

func tokens(t *testing.T, iss *fakeaws.TokenIssuer, auds ...string) map[string]identity.Token {
	t.Helper()
	m := map[string]identity.Token{}
	for _, a := range auds {
		tok, err := iss.ServiceAccountToken("ns", "sa", a, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		m[a] = identity.Token{Token: tok}
	}
	return m
}

func TestIRSACachedPerServiceAccount(t *testing.T) {
	srv, iss, base := fake(t)
	r := identity.NewResolver(base, identity.Options{})
	req := identity.Request{Namespace: "ns", ServiceAccount: "sa",
		Annotations: map[string]string{identity.AnnotationRoleARN: role}, Tokens: tokens(t, iss, identity.STSAudience)}
	ctx := context.Background()
	var wg sync.WaitGroup
	keys := make([]string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := r.Resolve(ctx, req)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := id.Credentials.Retrieve(ctx); err != nil {
				t.Error(err)
			}
			keys[i] = id.Key
		}()
	}
	wg.Wait()
	if n := srv.Calls().Count("sts:AssumeRoleWithWebIdentity", ""); n != 1 {
		t.Errorf("STS calls = %d, want 1", n)
	}
	if keys[0] != role+" ns/sa" || keys[0] != keys[19] {
		t.Errorf("keys %q %q", keys[0], keys[19])
	}
	other := req
	other.ServiceAccount = "sa2"
	id2, err := r.Resolve(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if id2.Key == keys[0] {
		t.Error("two service accounts share an identity key")
	}
}

func TestAudienceOverrideAndMissingTokens(t *testing.T) {
	srv, iss, base := fake(t)
	r := identity.NewResolver(base, identity.Options{})
	ctx := context.Background()
	req := identity.Request{Namespace: "ns", ServiceAccount: "sa",
		Annotations: map[string]string{identity.AnnotationRoleARN: role, identity.AnnotationAudience: "custom-aud"},
		Tokens:      tokens(t, iss, identity.STSAudience)}
	_, err := r.Resolve(ctx, req)
	if !errors.Is(err, identity.ErrNoIdentity) || !strings.Contains(err.Error(), `"custom-aud"`) || !strings.Contains(err.Error(), "tokenRequests") {
		t.Fatalf("missing token for the overridden audience: %v", err)
	}
	req.Tokens = tokens(t, iss, "custom-aud")
	id, err := r.Resolve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := id.Credentials.Retrieve(ctx); err != nil {
		t.Fatalf("custom audience token refused: %v", err)
	}
	if srv.Calls().Count("sts:AssumeRoleWithWebIdentity", "") != 1 {
		t.Error("no STS call")
	}

	req.Annotations[identity.AnnotationRoleARN] = "not-an-arn"
	if _, err := r.Resolve(ctx, req); !errors.Is(err, identity.ErrNoIdentity) || !strings.Contains(err.Error(), "not an IAM role ARN") {
		t.Errorf("bad role annotation: %v", err)
	}
}

func TestPodIdentityAndNodePolicies(t *testing.T) {
	srv, iss, base := fake(t)
	ctx := context.Background()
	r := identity.NewResolver(base, identity.Options{PodIdentityEndpoint: srv.PodIdentityURL()})
	id, err := r.Resolve(ctx, identity.Request{Namespace: "ns", ServiceAccount: "sa", UsePodIdentity: true,
		Tokens: tokens(t, iss, identity.PodIdentityAudience)})
	if err != nil {
		t.Fatal(err)
	}
	if id.Kind != identity.KindPodIdentity || id.Key != "pod-identity:ns/sa" {
		t.Errorf("identity %+v", id)
	}
	c, err := id.Credentials.Retrieve(ctx)
	if err != nil || c.SessionToken == "" {
		t.Fatalf("pod identity credentials %v, %v", c.AccessKeyID, err)
	}

	plain := identity.Request{Namespace: "ns", ServiceAccount: "plain"}
	if _, err := r.Resolve(ctx, plain); !errors.Is(err, identity.ErrNoIdentity) {
		t.Errorf("never policy: %v", err)
	}
	fb := identity.NewResolver(base, identity.Options{NodeIdentity: identity.NodeFallback})
	if id, err := fb.Resolve(ctx, plain); err != nil || id.Kind != identity.KindNode || id.Key != "node" {
		t.Errorf("fallback: %+v %v", id, err)
	}
	withRole := identity.Request{Namespace: "ns", ServiceAccount: "sa", Annotations: map[string]string{identity.AnnotationRoleARN: role},
		Tokens: tokens(t, iss, identity.STSAudience)}
	if id, err := fb.Resolve(ctx, withRole); err != nil || id.Kind != identity.KindIRSA {
		t.Errorf("fallback with a role must use IRSA: %+v %v", id, err)
	}
	al := identity.NewResolver(base, identity.Options{NodeIdentity: identity.NodeAlways})
	if id, err := al.Resolve(ctx, withRole); err != nil || id.Kind != identity.KindNode {
		t.Errorf("always: %+v %v", id, err)
	}
	if _, err := identity.ParsePolicy("sometimes"); err == nil {
		t.Error("ParsePolicy accepted sometimes")
	}
}

func TestParseTokensNeverQuotesInput(t *testing.T) {
	_, err := identity.ParseTokens(`{"sts.amazonaws.com": "eyJsecret-token"`)
	if err == nil || strings.Contains(err.Error(), "eyJ") {
		t.Errorf("ParseTokens error %v", err)
	}
	m, err := identity.ParseTokens(`{"sts.amazonaws.com":{"token":"abc","expirationTimestamp":"2030-01-01T00:00:00Z"}}`)
	if err != nil || m[identity.STSAudience].Token != "abc" {
		t.Fatalf("%v %v", m, err)
	}
	if s := m[identity.STSAudience].String(); s != "<redacted>" {
		t.Errorf("Token.String = %q", s)
	}
}
