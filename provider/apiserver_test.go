//go:build integration

package provider_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
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
	sas, err := provider.NewKubeServiceAccounts(cfg)
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
	t.Run("watch cache", func(t *testing.T) {
		// With StartCache, the rotation polls' Mounts read the ServiceAccount
		// from its watch: after the first read, no request per Mount, and an
		// annotation change arrives through the watch.
		var gets, others atomic.Int64
		ccfg := rest.CopyConfig(kube.Config)
		ccfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/serviceaccounts/"+saApp) {
					gets.Add(1)
				} else {
					others.Add(1)
				}
				return rt.RoundTrip(r)
			})
		})
		cached, err := provider.NewKubeServiceAccounts(ccfg)
		if err != nil {
			t.Fatal(err)
		}
		cctx, stop := context.WithCancel(logr.NewContext(c, logr.Discard()))
		defer stop()
		cached.StartCache(cctx, objcache.Options{})
		ce := startEnv(t, envOptions{serviceAccounts: cached, trust: func(s *fakeaws.Server) error {
			return s.TrustIssuer(kube.Issuer, identity.STSAudience, kube.SigningKey)
		}})
		req := ce.firstMount(t, pod{name: "web-c", sa: saApp, class: "db", params: seedParams, tokenJSON: tokens(saApp)})
		if _, err := ce.Client.Mount(ctx(t), req); err != nil {
			t.Fatalf("first mount: %v", err)
		}
		for deadline := time.Now().Add(20 * time.Second); cached.CacheStats()["serviceaccounts"].Synced != 1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the watch did not list: %+v", cached.CacheStats())
			}
		}
		g0, o0 := gets.Load(), others.Load()
		const mounts = 20
		for i := range mounts {
			if _, err := ce.Client.Mount(ctx(t), req); err != nil {
				t.Fatalf("mount %d: %v", i, err)
			}
		}
		if g, o := gets.Load()-g0, others.Load()-o0; g != 0 || o != 0 {
			t.Errorf("%d Mounts after the watch listed sent %d GETs and %d other requests, want none", mounts, g, o)
		}
		if g0 != 1 {
			t.Errorf("%d GETs of the ServiceAccount before the watch listed, want 1", g0)
		}
		sa, err := kube.Clientset.CoreV1().ServiceAccounts(namespace).Get(c, saApp, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sa.Annotations[identity.AnnotationRoleARN] = roleOther
		if sa, err = kube.Clientset.CoreV1().ServiceAccounts(namespace).Update(c, sa, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			ann, err := cached.Annotations(c, namespace, saApp)
			if err == nil && ann[identity.AnnotationRoleARN] == roleOther {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the annotation change did not arrive: %v, %v", ann, err)
			}
		}
		sa.Annotations[identity.AnnotationRoleARN] = roleApp // as the other subtests expect
		if _, err := kube.Clientset.CoreV1().ServiceAccounts(namespace).Update(c, sa, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("1 GET, then %d Mounts with no API request; the annotation change read from the watch", mounts)
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

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
