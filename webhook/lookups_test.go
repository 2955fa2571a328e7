package webhook

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// The webhook reads classes with the shared decoder and keeps its denial for
// a parameter that is not a string (as the API server stores it: int64, bool).
func TestClassFromUnstructured(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
		"metadata": map[string]any{"name": "c", "namespace": "apps"},
		"spec": map[string]any{"provider": "aws", "parameters": map[string]any{
			"objects": "- {objectName: a, objectType: secretsmanager}", "usePodIdentity": true, "region": nil,
		}},
	}}
	_, err := classFromUnstructured(u)
	var ae *AnnotationError
	if !errors.As(err, new(*DeniedError)) || !errors.As(err, &ae) {
		t.Fatalf("err = %v, want a denial", err)
	}
	if ae.Annotation != AnnotationSecretProviderClass || ae.Problem != `SecretProviderClass "c": spec.parameters.usePodIdentity is not a string` ||
		ae.Fix != `quote the value, e.g. usePodIdentity: "true"` {
		t.Errorf("denial = %+v", ae)
	}

	// A valid class, and one of another provider (Mutate denies that one with
	// its own message), come back as classes.
	params := u.Object["spec"].(map[string]any)["parameters"].(map[string]any)
	params["usePodIdentity"] = "true"
	c, err := classFromUnstructured(u)
	if err != nil || c.Name != "c" || c.Namespace != "apps" || c.Provider != "aws" || c.Parameters["usePodIdentity"] != "true" || len(c.Parameters) != 2 {
		t.Fatalf("class = %+v, %v", c, err)
	}
	u.Object["spec"].(map[string]any)["provider"] = "vault"
	if c, err := classFromUnstructured(u); err != nil || c.Provider != "vault" {
		t.Errorf("other provider: %+v, %v", c, err)
	}
}

// sharedReader hands out its stored object itself, as controller-runtime's
// cache does for a Get with UnsafeDisableDeepCopy; without the option it
// copies, so a lookup that forgets the option is seen too.
type sharedReader struct {
	client.Reader
	stored *unstructured.Unstructured
	shared int
}

func (r *sharedReader) Get(_ context.Context, _ client.ObjectKey, out client.Object, opts ...client.GetOption) error {
	var o client.GetOptions
	o.ApplyOptions(opts)
	if o.UnsafeDisableDeepCopy != nil && *o.UnsafeDisableDeepCopy {
		r.shared++
		*out.(*unstructured.Unstructured) = *r.stored
		return nil
	}
	*out.(*unstructured.Unstructured) = *r.stored.DeepCopy()
	return nil
}

// A class lookup reads the cached object without a copy and never writes to
// it, even when the stored object lacks the apiVersion and kind a copying
// Get would have set.
func TestClassLookupLeavesTheCacheAlone(t *testing.T) {
	for _, typed := range []bool{true, false} {
		stored := &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": "db", "namespace": "apps"},
			"spec": map[string]any{"provider": "aws", "parameters": map[string]any{
				"objects": "- {objectName: a, objectType: secretsmanager}", "region": "eu-west-1",
			}},
		}}
		if typed {
			stored.SetGroupVersionKind(SecretProviderClassGVK)
		}
		before := stored.DeepCopy()
		r := &sharedReader{stored: stored}
		c, err := ClientLookups{Classes: r}.SecretProviderClass(context.Background(), "apps", "db")
		if err != nil || c.Name != "db" || c.Parameters["region"] != "eu-west-1" || c.Kind != spc.Kind {
			t.Fatalf("typed %v: class = %+v, %v", typed, c, err)
		}
		if r.shared != 1 {
			t.Errorf("typed %v: %d reads without a copy, want 1", typed, r.shared)
		}
		if !reflect.DeepEqual(stored, before) {
			t.Errorf("typed %v: the lookup wrote to the cached object:\n%v\nwas\n%v", typed, stored.Object, before.Object)
		}
	}
}
