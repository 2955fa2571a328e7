//go:build integration

package mounter

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
)

// TestSyncSecretsRealAPIServer: the Secret appears with the declared type,
// keys and labels, one owner reference per pod, is updated on rotation, and
// a Secret that is not ours is never touched.
func TestSyncSecretsRealAPIServer(t *testing.T) {
	env := envtest.Start(t)
	ctx := context.Background()
	k, err := NewKubeCluster(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := "sync"
	if _, err := env.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	objs := []spc.SecretObject{{SecretName: "db", Type: "Opaque", Labels: map[string]string{"app": "shop"},
		Data: []spc.SecretObjectData{{ObjectName: "db-user", Key: "username"}, {ObjectName: "db-password", Key: "password"}}}}
	files := func(pw string) []secrets.File {
		return []secrets.File{{Path: "db-user", Mode: 0o644, Content: secrets.NewStringValue("admin")},
			{Path: "db-password", Mode: 0o644, Content: secrets.NewStringValue(pw)}}
	}
	podA := podRef{Namespace: ns, Name: "a", UID: "11111111-1111-1111-1111-111111111111"}
	podB := podRef{Namespace: ns, Name: "b", UID: "22222222-2222-2222-2222-222222222222"}
	if err := syncSecrets(ctx, k, objs, files("p1"), podA); err != nil {
		t.Fatal(err)
	}
	if err := syncSecrets(ctx, k, objs, files("p1"), podB); err != nil {
		t.Fatal(err)
	}
	s, err := env.Clientset.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["username"]) != "admin" || string(s.Data["password"]) != "p1" ||
		s.Labels["app"] != "shop" || s.Labels[LabelManaged] != managedValue {
		t.Errorf("secret %+v", s)
	}
	if len(s.OwnerReferences) != 2 || s.OwnerReferences[0].Name != "a" || s.OwnerReferences[1].Name != "b" ||
		s.OwnerReferences[0].Kind != "Pod" || s.OwnerReferences[0].Controller != nil {
		t.Errorf("owner references %+v, want the two pods (not controllers)", s.OwnerReferences)
	}
	rv := s.ResourceVersion
	// Unchanged: no write.
	if err := syncSecrets(ctx, k, objs, files("p1"), podA); err != nil {
		t.Fatal(err)
	}
	if s, _ = env.Clientset.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{}); s.ResourceVersion != rv {
		t.Errorf("an unchanged sync wrote the Secret (%s → %s)", rv, s.ResourceVersion)
	}
	// Rotation.
	if err := syncSecrets(ctx, k, objs, files("p2"), podA); err != nil {
		t.Fatal(err)
	}
	if s, _ = env.Clientset.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{}); string(s.Data["password"]) != "p2" {
		t.Errorf("after rotation password = %q", s.Data["password"])
	}

	// Someone else's Secret: refused, untouched.
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "theirs"}, Data: map[string][]byte{"k": []byte("v")}}
	if _, err := env.Clientset.CoreV1().Secrets(ns).Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	objs[0].SecretName = "theirs"
	err = syncSecrets(ctx, k, objs, files("p2"), podA)
	if reason.Of(err) != reason.InvalidClass || !strings.Contains(err.Error(), "not created by aws-secrets-injector") {
		t.Fatalf("sync over someone else's Secret: %v", err)
	}
	if s, _ = env.Clientset.CoreV1().Secrets(ns).Get(ctx, "theirs", metav1.GetOptions{}); string(s.Data["k"]) != "v" || len(s.Data) != 1 {
		t.Errorf("someone else's Secret was changed: %v", s.Data)
	}
	// A key naming no file: the class's fault, nothing written.
	objs[0].SecretName, objs[0].Data = "other", []spc.SecretObjectData{{ObjectName: "nope", Key: "k"}}
	if err := syncSecrets(ctx, k, objs, files("p2"), podA); reason.Of(err) != reason.InvalidClass || strings.Contains(err.Error(), "p2") {
		t.Fatalf("missing file: %v", err)
	}
}
