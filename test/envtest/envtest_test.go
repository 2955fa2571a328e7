//go:build integration

package envtest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/test/examples"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
)

// seedSPC is the user's SecretProviderClass.
var seedSPC = string(examples.SeedClass)

func TestFindAssets(t *testing.T) {
	dir := t.TempDir()
	if _, err := findAssets(dir, ""); err == nil || !strings.Contains(err.Error(), "kube-apiserver not found") {
		t.Fatalf("empty dir: got %v, want kube-apiserver not found", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kube-apiserver"), []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := findAssets(dir, ""); err == nil || !strings.Contains(err.Error(), "etcd not found") {
		t.Fatalf("no etcd: got %v, want etcd not found", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := findAssets(dir, ""); err == nil || !strings.Contains(err.Error(), "not an executable") {
		t.Fatalf("etcd not executable: got %v, want not an executable", err)
	}
	if err := os.Chmod(filepath.Join(dir, "etcd"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := findAssets(dir, "")
	if err != nil || got != dir {
		t.Fatalf("findAssets(%q) = %q, %v; want the dir", dir, got, err)
	}
	// Without KUBEBUILDER_ASSETS: <root>/bin.
	root := t.TempDir()
	if err := os.Symlink(dir, filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if got, err := findAssets("", root); err != nil || got != filepath.Join(root, "bin") {
		t.Fatalf("findAssets(root) = %q, %v; want %s/bin", got, err, root)
	}
	if _, err := findAssets("", ""); err == nil {
		t.Fatal("findAssets with neither dir nor root: want an error")
	}
}

func TestRepoRootFindsModule(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, crdFile)); err != nil {
		t.Fatalf("repo root %s has no %s: %v", root, crdFile, err)
	}
}

func TestAPIServer(t *testing.T) {
	env := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("version", func(t *testing.T) {
		v, err := env.Clientset.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != "v1.37.2" || v.Major != "1" || v.Minor != "37" {
			t.Fatalf("server version %s (%s.%s), want v1.37.2 (1.37): was bin/kube-apiserver built by hack/build-tools.sh?", v.GitVersion, v.Major, v.Minor)
		}
	})

	t.Run("secretproviderclass", func(t *testing.T) {
		created, err := env.CreateSecretProviderClass(ctx, "", []byte(seedSPC))
		if err != nil {
			t.Fatal(err)
		}
		if created.GetNamespace() != "default" || created.GetUID() == "" {
			t.Fatalf("created %s/%s uid %q", created.GetNamespace(), created.GetName(), created.GetUID())
		}
		for _, version := range []string{"v1", "v1alpha1"} {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(schema.GroupVersionKind{Group: SecretProviderClassGVK.Group, Version: version, Kind: "SecretProviderClass"})
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "aws-secretsmanager-reader"}, got); err != nil {
				t.Fatalf("get %s: %v", version, err)
			}
			provider, _, _ := unstructured.NestedString(got.Object, "spec", "provider")
			objects, _, _ := unstructured.NestedString(got.Object, "spec", "parameters", "objects")
			if provider != "aws" || !strings.Contains(objects, `objectName: "my-app/db-credentials"`) {
				t.Fatalf("%s: provider %q objects %q", version, provider, objects)
			}
		}
		// The schema is enforced: parameters are strings.
		bad := strings.Replace(seedSPC, "name: aws-secretsmanager-reader", "name: bad", 1) + "    region: 5\n"
		if _, err := env.CreateSecretProviderClass(ctx, "default", []byte(bad)); err == nil ||
			!strings.Contains(err.Error(), "spec.parameters.region") {
			t.Fatalf("non-string parameter: got %v, want a schema error on spec.parameters.region", err)
		}
		if _, err := env.CreateSecretProviderClass(ctx, "default", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")); err == nil {
			t.Fatal("a ConfigMap manifest: want an error")
		}
	})

	t.Run("token", func(t *testing.T) {
		if _, err := env.CreateServiceAccount(ctx, "team-a", "my-app", map[string]string{
			"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/my-app",
		}); err != nil {
			t.Fatal(err)
		}
		token, err := env.MintToken(ctx, "team-a", "my-app", "sts.amazonaws.com")
		if err != nil {
			t.Fatal(err)
		}
		claims := verifyRS256(t, token, env.SigningKey)
		if claims.Iss != env.Issuer || !strings.HasPrefix(env.Issuer, "https://127.0.0.1:") {
			t.Errorf("iss %q, want %q (the API server's URL)", claims.Iss, env.Issuer)
		}
		if !slices.Equal(claims.Aud, []string{"sts.amazonaws.com"}) {
			t.Errorf("aud %v, want [sts.amazonaws.com]", claims.Aud)
		}
		if claims.Sub != "system:serviceaccount:team-a:my-app" {
			t.Errorf("sub %q", claims.Sub)
		}
		if exp := time.Unix(claims.Exp, 0); time.Until(exp) < 50*time.Minute || time.Until(exp) > 70*time.Minute {
			t.Errorf("exp %s, want about an hour from now", exp)
		}

		// A token signed by some other key must not verify.
		parts := strings.Split(token, ".")
		forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"x"}`)) + "." + parts[2]
		if err := checkRS256(forged, env.SigningKey); err == nil {
			t.Error("a token with a changed payload verified")
		}

		// The served JWKS holds the same key.
		var jwks struct {
			Keys []struct {
				Kty, Alg, Use, Kid, N, E string
			} `json:"keys"`
		}
		if err := json.Unmarshal(env.JWKS, &jwks); err != nil {
			t.Fatalf("jwks %q: %v", env.JWKS, err)
		}
		pub := env.SigningKey.(*rsa.PublicKey)
		if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "RSA" || jwks.Keys[0].Alg != "RS256" ||
			jwks.Keys[0].N != base64.RawURLEncoding.EncodeToString(pub.N.Bytes()) ||
			jwks.Keys[0].Kid != claims.kid {
			t.Errorf("jwks %s does not match the signing key (token kid %q)", env.JWKS, claims.kid)
		}
	})

	t.Run("token bound to pod", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team-a"},
			Spec: corev1.PodSpec{
				ServiceAccountName: "my-app",
				Containers:         []corev1.Container{{Name: "c", Image: "example.invalid/c"}},
			},
		}
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		token, err := env.MintToken(ctx, "team-a", "my-app", "pods.eks.amazonaws.com", BoundToPod(pod.Name, pod.UID), ExpiresIn(20*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		claims := verifyRS256(t, token, env.SigningKey)
		if claims.K8s.Pod.Name != "p" || claims.K8s.Pod.UID != string(pod.UID) || claims.K8s.Namespace != "team-a" {
			t.Errorf("kubernetes.io claim %+v, want pod p uid %s in team-a", claims.K8s, pod.UID)
		}
		if d := time.Until(time.Unix(claims.Exp, 0)); d > 21*time.Minute || d < 19*time.Minute {
			t.Errorf("expires in %s, want 20m", d)
		}
		if _, err := env.MintToken(ctx, "team-a", "my-app", "x", BoundToPod("p", "wrong-uid")); err == nil {
			t.Error("a token bound to a pod with the wrong uid was issued")
		}
	})
}

type tokenClaims struct {
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Aud []string `json:"aud"`
	Exp int64    `json:"exp"`
	K8s struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
	} `json:"kubernetes.io"`
	kid string
}

// verifyRS256 checks a JWT's RS256 signature with key and returns its claims.
func verifyRS256(t *testing.T, token string, key crypto.PublicKey) tokenClaims {
	t.Helper()
	if err := checkRS256(token, key); err != nil {
		t.Fatalf("token signature: %v", err)
	}
	parts := strings.Split(token, ".")
	var header struct{ Kid string }
	var c tokenClaims
	for i, v := range []any{&header, &c} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
	c.kid = header.Kid
	return c
}

func checkRS256(token string, key crypto.PublicKey) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%d parts, want 3", len(parts))
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return err
	}
	var h struct{ Alg string }
	if err := json.Unmarshal(hdr, &h); err != nil {
		return err
	}
	if h.Alg != "RS256" {
		return fmt.Errorf("alg %q, want RS256", h.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok || pub.N.Cmp(big.NewInt(0)) == 0 {
		return fmt.Errorf("key %T is not an RSA public key", key)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// TestWebhookOption shows how a webhook test uses WithWebhookInstallOptions:
// the API server calls an in-process TLS server on the host, port and
// certificate envtest chose.
func TestWebhookOption(t *testing.T) {
	path := "/mutate-configmaps"
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	env := Start(t, WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{{
			ObjectMeta: metav1.ObjectMeta{Name: "envtest-label"},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name:                    "label.envtest.aws-secrets-injector.io",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Name: "x", Namespace: "x", Path: &path}},
				Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
				NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"webhook": "on"}},
				FailurePolicy:           &fail,
				SideEffects:             &none,
				AdmissionReviewVersions: []string{"v1"},
			}},
		}},
	}))
	wh := env.Webhook
	if wh.LocalServingHost == "" || wh.LocalServingPort == 0 || wh.LocalServingCertDir == "" {
		t.Fatalf("webhook serving options not filled in: %+v", wh)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(wh.LocalServingCertDir, "tls.crt"), filepath.Join(wh.LocalServingCertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	var gotPath atomic.Value
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			gotPath.Store(r.URL.Path)
			var review admissionv1.AdmissionReview
			if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			pt := admissionv1.PatchTypeJSONPatch
			review.Response = &admissionv1.AdmissionResponse{
				UID: review.Request.UID, Allowed: true, PatchType: &pt,
				Patch: []byte(`[{"op":"add","path":"/metadata/labels","value":{"mutated":"yes"}}]`),
			}
			review.Request = nil
			_ = json.NewEncoder(w).Encode(&review)
		}),
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort)))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook server: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ns, want := range map[string]string{"hooked": "yes", "plain": ""} {
		labels := map[string]string{}
		if ns == "hooked" {
			labels["webhook"] = "on"
		}
		if _, err := env.CreateNamespace(ctx, ns, labels); err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: ns}}
		if err := env.Client.Create(ctx, cm); err != nil {
			t.Fatalf("create configmap in %s: %v", ns, err)
		}
		if got := cm.Labels["mutated"]; got != want {
			t.Errorf("namespace %s: label mutated=%q, want %q", ns, got, want)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("webhook called %d times, want 1", n)
	}
	t.Logf("the API server called path %q", gotPath.Load())
}
