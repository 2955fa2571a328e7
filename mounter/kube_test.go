package mounter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

func fakeClass(ns, name, region string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"provider": "aws", "parameters": map[string]any{"region": region, "objects": "- objectName: x\n"}},
	}}
	u.SetGroupVersionKind(SecretProviderClassGVR.GroupVersion().WithKind(spc.Kind))
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// fakeKube is a KubeCluster over client-go's fake clients, with one class
// and one ServiceAccount in namespace ns.
func fakeKube(t *testing.T) (*KubeCluster, *dynamicfake.FakeDynamicClient, *fake.Clientset) {
	t.Helper()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{SecretProviderClassGVR: "SecretProviderClassList"}, fakeClass("ns", "db", "eu-west-1"))
	cs := fake.NewClientset(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app",
		Annotations: map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/a"}}})
	return &KubeCluster{Dynamic: dyn, Clientset: cs}, dyn, cs
}

// gets counts the GET actions of a fake client.
func gets(actions []clienttesting.Action) int {
	n := 0
	for _, a := range actions {
		if a.GetVerb() == "get" {
			n++
		}
	}
	return n
}

// TestKubeClusterCache: without StartCache every read is a GET; with it the
// reads after the watches have listed make none, a change arrives through
// the watch, a deleted class is NotFound of secretproviderclasses, and the
// annotations handed out are the caller's own.
func TestKubeClusterCache(t *testing.T) {
	k, dyn, cs := fakeKube(t)
	ctx := context.Background()
	for range 2 {
		if _, err := k.SecretProviderClass(ctx, "ns", "db"); err != nil {
			t.Fatal(err)
		}
		if _, err := k.ServiceAccountAnnotations(ctx, "ns", "app"); err != nil {
			t.Fatal(err)
		}
	}
	if g1, g2 := gets(dyn.Actions()), gets(cs.Actions()); g1 != 2 || g2 != 2 {
		t.Fatalf("without StartCache: %d class GETs, %d ServiceAccount GETs; want 2 each", g1, g2)
	}
	if k.CacheStats() != nil {
		t.Error("CacheStats without StartCache")
	}

	cctx, cancel := context.WithCancel(logr.NewContext(ctx, logr.Discard()))
	defer cancel()
	k.StartCache(cctx, objcache.Options{})
	dyn.ClearActions()
	cs.ClearActions()
	synced := func() bool {
		s := k.CacheStats()
		return s[ResourceClasses].Synced == 1 && s[ResourceServiceAccounts].Synced == 1
	}
	deadline := time.Now().Add(10 * time.Second)
	for !synced() {
		if _, err := k.SecretProviderClass(ctx, "ns", "db"); err != nil {
			t.Fatal(err)
		}
		if _, err := k.ServiceAccountAnnotations(ctx, "ns", "app"); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watches did not list: %+v", k.CacheStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	g1, g2 := gets(dyn.Actions()), gets(cs.Actions())
	for range 50 {
		c, err := k.SecretProviderClass(ctx, "ns", "db")
		if err != nil || c.Parameters["region"] != "eu-west-1" {
			t.Fatalf("class %+v, %v", c, err)
		}
		ann, err := k.ServiceAccountAnnotations(ctx, "ns", "app")
		if err != nil || ann["eks.amazonaws.com/role-arn"] == "" {
			t.Fatalf("annotations %v, %v", ann, err)
		}
		ann["eks.amazonaws.com/role-arn"] = "changed by the caller"
	}
	if d1, d2 := gets(dyn.Actions())-g1, gets(cs.Actions())-g2; d1 != 0 || d2 != 0 {
		t.Errorf("reads after the watches listed made %d class GETs and %d ServiceAccount GETs, want none", d1, d2)
	}

	if _, err := dyn.Resource(SecretProviderClassGVR).Namespace("ns").Update(ctx, fakeClass("ns", "db", "us-west-2"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the class update", func() bool {
		c, err := k.SecretProviderClass(ctx, "ns", "db")
		return err == nil && c.Parameters["region"] == "us-west-2"
	})
	if err := dyn.Resource(SecretProviderClassGVR).Namespace("ns").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var err error
	waitFor(t, "the class deletion", func() bool { _, err = k.SecretProviderClass(ctx, "ns", "db"); return err != nil })
	var st apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &st) || st.Status().Details.Group != spc.Group || st.Status().Details.Kind != "secretproviderclasses" {
		t.Errorf("deleted class: %v, want NotFound of secretproviderclasses.%s", err, spc.Group)
	}
	if ann, err := k.ServiceAccountAnnotations(ctx, "ns", "app"); err != nil || ann["eks.amazonaws.com/role-arn"] != "arn:aws:iam::111122223333:role/a" {
		t.Errorf("a caller's change reached the cache: %v, %v", ann, err)
	}

	cancel()
	waitFor(t, "the watches to stop", func() bool {
		s := k.CacheStats()
		return s[ResourceClasses].Running == 0 && s[ResourceServiceAccounts].Running == 0 && s[ResourceClasses].Watched == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
