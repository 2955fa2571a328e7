package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// fakeLookups serves classes and service accounts from maps keyed "ns/name".
type fakeLookups struct {
	classes  map[string]*spc.Class
	accounts map[string]*corev1.ServiceAccount
	err      error // returned by every lookup when set
	calls    atomic.Int64
}

func (f *fakeLookups) SecretProviderClass(_ context.Context, ns, name string) (*spc.Class, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	c, ok := f.classes[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("SecretProviderClass %s/%s: %w", ns, name, ErrNotFound)
	}
	return c, nil
}

func (f *fakeLookups) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if f.err != nil {
		return nil, f.err
	}
	sa, ok := f.accounts[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("ServiceAccount %s/%s: %w", ns, name, ErrNotFound)
	}
	return sa, nil
}

const seedObjects = `- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  jmesPath:
    - path: "username"
      objectAlias: "db-user"
    - path: "password"
      objectAlias: "db-password"
`

func awsClass(ns, name, objects string) *spc.Class {
	return &spc.Class{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: spc.Kind, Name: name, Namespace: ns,
		Provider: spc.Provider, Parameters: map[string]string{"objects": objects, "region": "us-east-1"}}
}

// testLookups: namespace "apps" has a valid class "db", an invalid class
// "broken", a class "vault" of another provider, and for the exec wrapper
// "clash", "digit" and "all-keys".
func testLookups() *fakeLookups {
	vault := awsClass("apps", "vault", seedObjects)
	vault.Provider = "vault"
	return &fakeLookups{
		classes: map[string]*spc.Class{
			"apps/db":     awsClass("apps", "db", seedObjects),
			"apps/broken": awsClass("apps", "broken", "- objectName: \"\"\n  objectType: \"dynamodb\"\n"),
			"apps/vault":  vault,
			// clash's files db-user and db_user both map to DB_USER (exec).
			"apps/clash": awsClass("apps", "clash", `- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  jmesPath:
    - path: "username"
      objectAlias: "db-user"
    - path: "password"
      objectAlias: "db_user"
`),
			// digit's file 2fa-seed derives no variable name (exec).
			"apps/digit": awsClass("apps", "digit", "- objectName: \"my-app/db-credentials\"\n  objectType: \"secretsmanager\"\n  objectAlias: \"2fa-seed\"\n"),
			// all-keys's file names are known only after the fetch (exec).
			"apps/all-keys": awsClass("apps", "all-keys", "- objectName: \"my-app/db-credentials\"\n  objectType: \"secretsmanager\"\n  allKeys: true\n"),
		},
		accounts: map[string]*corev1.ServiceAccount{
			"apps/default": {ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "apps"}},
			"apps/irsa": {ObjectMeta: metav1.ObjectMeta{Name: "irsa", Namespace: "apps",
				Annotations: map[string]string{IRSARoleARNAnnotation: testRoleARN}}},
			"apps/irsa-custom": {ObjectMeta: metav1.ObjectMeta{Name: "irsa-custom", Namespace: "apps",
				Annotations: map[string]string{IRSARoleARNAnnotation: testRoleARN, IRSAAudienceAnnotation: "custom.example.com",
					IRSATokenExpirationAnnotation: "3600", IRSARegionalSTSAnnotation: "true"}}},
		},
	}
}

const testRoleARN = "arn:aws:iam::111122223333:role/my-app"

// testConfig is the webhook's defaults, with init mode enabled.
func testConfig() Config {
	return Config{
		DriverName:       DefaultDriverName,
		DefaultMode:      ModeCSI,
		DefaultMountPath: DefaultMountPath,
		InjectorImage:    "example.com/aws-secrets-injector:test",
		Init:             DefaultInitConfig(),
		Namespace:        "aws-secrets-injector",
	}
}

// testPod is an annotated pod with two app containers and an init container.
func testPod(ann map[string]string) *corev1.Pod {
	a := map[string]string{AnnotationInject: "true", AnnotationSecretProviderClass: "db"}
	for k, v := range ann {
		if v == "-" {
			delete(a, k)
			continue
		}
		a[k] = v
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Annotations: a, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "example.com/app:1", VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}},
				{Name: "sidecar", Image: "example.com/sidecar:1"},
			},
			Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// waitTLS waits until addr accepts TLS connections and returns the served leaf.
func waitTLS(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			leaf := conn.ConnectionState().PeerCertificates[0]
			_ = conn.Close()
			return leaf
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook at %s not serving: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
