//go:build integration

package provider_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// TestAPIServer runs the provider against a real kube-apiserver: the REST
// ServiceAccount reader (core/v1 only) reads the IRSA annotation and tells a
// missing account apart, and a Mount over the driver's socket works with
// tokens the API server minted, which the fake STS verifies against the API
// server's own signing key.
func TestAPIServer(t *testing.T) {
	kube := envtest.Start(t)
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kube.CreateServiceAccount(c, namespace, saApp, map[string]string{identity.AnnotationRoleARN: roleApp}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CreateServiceAccount(c, namespace, saPlain, nil); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(kube.Config)
	cfg.QPS, cfg.Burst = 5, 10
	sas, err := provider.NewRESTServiceAccounts(cfg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reader", func(t *testing.T) {
		ann, err := sas.Annotations(c, namespace, saApp)
		if err != nil || ann[identity.AnnotationRoleARN] != roleApp {
			t.Errorf("annotations of %s: %v, %v", saApp, ann, err)
		}
		if ann, err := sas.Annotations(c, namespace, saPlain); err != nil || len(ann) != 0 {
			t.Errorf("annotations of %s: %v, %v", saPlain, ann, err)
		}
		if _, err := sas.Annotations(c, namespace, "missing"); !apierrors.IsNotFound(err) {
			t.Errorf("missing service account: %v, want NotFound", err)
		}
	})

	e := startEnv(t, envOptions{serviceAccounts: sas, trust: func(s *fakeaws.Server) error {
		return s.TrustIssuer(kube.Issuer, identity.STSAudience, kube.SigningKey)
	}})
	tokens := func(sa string) string {
		tok, err := kube.MintToken(c, namespace, sa, identity.STSAudience)
		if err != nil {
			t.Fatal(err)
		}
		b, err := identity.EncodeTokens(map[string]identity.Token{identity.STSAudience: {Token: tok, ExpirationTimestamp: time.Now().Add(time.Hour)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("mount", func(t *testing.T) {
		resp, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "db", params: seedParams, tokenJSON: tokens(saApp)}))
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		if got := string(files(resp)["db-password"].GetContents()); got != "s3cr3t-passw0rd" {
			t.Errorf("db-password %q", got)
		}
	})
	t.Run("no role annotation", func(t *testing.T) {
		_, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-2", sa: saPlain, class: "db", params: seedParams, tokenJSON: tokens(saPlain)}))
		wantErr(t, err, codes.PermissionDenied, "NoIdentity", `"team-a/plain"`, identity.AnnotationRoleARN)
	})
	t.Run("service account missing", func(t *testing.T) {
		// A token the API server cannot mint (no such account), from the test issuer.
		req := e.firstMount(t, pod{name: "web-3", sa: "gone", class: "db", params: seedParams})
		e.AWS.ResetCalls()
		_, err := e.Client.Mount(ctx(t), req)
		wantErr(t, err, codes.PermissionDenied, "NoIdentity", `ServiceAccount "team-a/gone" not found`)
		if n := e.awsCalls(); n != 0 {
			t.Errorf("%d AWS calls for a missing service account", n)
		}
	})
}
