package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// Roles of the cross-account layout: the pods' own roles (IRSA) and the
// central role that may read the secrets.
const (
	appRole     = "arn:aws:iam::111122223333:role/app"
	app2Role    = "arn:aws:iam::111122223333:role/app2"
	otherRole   = "arn:aws:iam::111122223333:role/other"
	centralRole = "arn:aws:iam::111122223333:role/central"
	issuer      = "https://issuer.test"
)

type crossAccount struct {
	srv  *fakeaws.Server
	iss  *fakeaws.TokenIssuer
	pipe *pipeline.Pipeline
}

// newCrossAccount: app and app2 may assume central (with external id
// "ext-1"); other may not; only central may read central/*.
func newCrossAccount(t *testing.T) *crossAccount {
	t.Helper()
	iss, err := fakeaws.NewTokenIssuer(issuer)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fakeaws.New(fakeaws.State{Region: "us-east-1", AccountID: "111122223333",
		Roles: []fakeaws.Role{
			{ARN: appRole}, {ARN: app2Role}, {ARN: otherRole},
			{ARN: centralRole, Allow: []string{"central/*"}, Trust: &fakeaws.RoleTrust{
				Principals: []string{"arn:aws:sts::111122223333:assumed-role/app/*", "arn:aws:sts::111122223333:assumed-role/app2/*"},
				ExternalID: "ext-1"}},
		},
		Secrets: []fakeaws.Secret{{Name: "central/db", Value: `{"password":"p1"}`}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.TrustIssuer(issuer, identity.STSAudience, iss.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ep := srv.URL()
	base := aws.Config{Region: "us-east-1", BaseEndpoint: &ep, Credentials: credentials.NewStaticCredentialsProvider("AKIDNODE", "x", "")}
	p := pipeline.New(identity.NewResolver(base, identity.Options{MaxAttempts: 1}),
		awsfetch.New(base, awsfetch.Options{CacheTTL: time.Minute, MaxAttempts: 1}))
	return &crossAccount{srv: srv, iss: iss, pipe: p}
}

// load runs the pipeline as a pod of service account sa with role.
func (c *crossAccount) load(t *testing.T, sa, role, externalID string) (*pipeline.Result, error) {
	t.Helper()
	tok, err := c.iss.ServiceAccountToken("ns", sa, identity.STSAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{"region": "us-east-1", "assumeRoleArn": centralRole,
		"objects": "- {objectName: central/db, objectType: secretsmanager, jmesPath: [{path: password, objectAlias: pw}]}"}
	if externalID != "" {
		params["assumeRoleExternalId"] = externalID
	}
	return c.pipe.Load(context.Background(), pipeline.Request{Class: "ns/c", Params: params, Pod: &identity.Request{
		Namespace: "ns", ServiceAccount: sa, Annotations: map[string]string{identity.AnnotationRoleARN: role},
		Tokens: map[string]identity.Token{identity.STSAudience: {Token: tok}}}})
}

func TestAssumeRoleCrossAccount(t *testing.T) {
	c := newCrossAccount(t)
	// The pod's role cannot read central/db itself: only through central.
	res, err := c.load(t, "app", appRole, "ext-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Files[1].Content.Bytes()); res.Files[1].Path != "pw" || got != "p1" {
		t.Fatalf("files %v", res.Files)
	}
	if res.Identity.Key != "assume:"+centralRole || res.Identity.Kind != identity.KindAssumed {
		t.Errorf("identity %q %s, want the final role as the cache key", res.Identity.Key, res.Identity.Kind)
	}
	st := c.srv.Calls()
	if n := st.Count("sts:AssumeRoleWithWebIdentity", ""); n != 1 {
		t.Errorf("AssumeRoleWithWebIdentity calls = %d, want 1", n)
	}
	if n := st.Count("sts:AssumeRole", ""); n != 1 {
		t.Errorf("AssumeRole calls = %d, want 1", n)
	}
	fetches := st.ByAPI["secretsmanager:BatchGetSecretValue"] + st.ByAPI["secretsmanager:GetSecretValue"]

	// Another pod whose own role may also assume central: its own STS calls,
	// the values from the node cache keyed by the final role.
	if _, err := c.load(t, "app2", app2Role, "ext-1"); err != nil {
		t.Fatal(err)
	}
	st = c.srv.Calls()
	if n := st.Count("sts:AssumeRole", ""); n != 2 {
		t.Errorf("AssumeRole calls = %d, want 2 (one per pod identity)", n)
	}
	if n := st.ByAPI["secretsmanager:BatchGetSecretValue"] + st.ByAPI["secretsmanager:GetSecretValue"]; n != fetches {
		t.Errorf("Secrets Manager calls %d → %d: the second pod of the same final role should read the node cache", fetches, n)
	}
}

func TestAssumeRoleRefusedNamesBothRolesAndCachesNothing(t *testing.T) {
	c := newCrossAccount(t)
	if _, err := c.load(t, "app", appRole, "ext-1"); err != nil {
		t.Fatal(err)
	}
	before := c.srv.Calls()
	for _, tc := range []struct{ name, sa, role, ext string }{
		{"trust policy refuses the pod's role", "other", otherRole, "ext-1"},
		{"wrong external id", "app", appRole, "ext-2"},
		{"no external id", "app2", app2Role, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.load(t, tc.sa, tc.role, tc.ext)
			if reason.Of(err) != reason.AccessDenied {
				t.Fatalf("reason %s (%v), want AccessDenied", reason.Of(err), err)
			}
			msg := err.Error()
			if !strings.Contains(msg, centralRole) || !strings.Contains(msg, tc.role) {
				t.Errorf("message should name both roles: %s", msg)
			}
			if strings.Contains(msg, "ext-1") || (tc.ext != "" && strings.Contains(msg, tc.ext)) {
				t.Errorf("message leaks the external id: %s", msg)
			}
			if !strings.Contains(msg, "trust policy") {
				t.Errorf("message has no fix: %s", msg)
			}
		})
	}
	// No fetch at all for the refused identities: the cache central's pod
	// filled was never read by them.
	after := c.srv.Calls()
	for _, api := range []string{"secretsmanager:BatchGetSecretValue", "secretsmanager:GetSecretValue"} {
		if after.ByAPI[api] != before.ByAPI[api] {
			t.Errorf("%s: %d → %d calls for identities that may not assume the role", api, before.ByAPI[api], after.ByAPI[api])
		}
	}
}
