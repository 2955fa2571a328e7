package webhook

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
