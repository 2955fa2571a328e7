package webhook

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// SecretProviderClassGVK is the API the webhook reads classes from (as
// unstructured objects: the type is not served by the module proxy).
var SecretProviderClassGVK = schema.GroupVersionKind{Group: spc.Group, Version: "v1", Kind: spc.Kind}

// ClientLookups implements Lookups with controller-runtime readers.
type ClientLookups struct {
	// Classes reads SecretProviderClasses (typically the manager's cached
	// client, with unstructured caching on).
	Classes client.Reader
	// ServiceAccounts reads ServiceAccounts (typically the manager's
	// uncached API reader: one get per init-mode pod, no cluster-wide cache).
	ServiceAccounts client.Reader
}

// SecretProviderClass reads namespace/name and converts spec.parameters to
// strings; a parameter that is not a string makes the class invalid.
func (l ClientLookups) SecretProviderClass(ctx context.Context, namespace, name string) (*spc.Class, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(SecretProviderClassGVK)
	if err := l.Classes.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("SecretProviderClass %s/%s: %w", namespace, name, ErrNotFound)
		}
		return nil, err
	}
	return classFromUnstructured(u)
}

// classFromUnstructured converts a SecretProviderClass object.
func classFromUnstructured(u *unstructured.Unstructured) (*spc.Class, error) {
	c := &spc.Class{
		APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName(), Namespace: u.GetNamespace(),
		Parameters: map[string]string{},
	}
	c.Provider, _, _ = unstructured.NestedString(u.Object, "spec", "provider")
	params, _, _ := unstructured.NestedMap(u.Object, "spec", "parameters")
	for k, v := range params {
		switch s := v.(type) {
		case string:
			c.Parameters[k] = s
		case nil:
		default:
			return nil, deny(annErr(AnnotationSecretProviderClass, fmt.Sprintf("quote the value, e.g. %s: %q", k, fmt.Sprint(v)),
				"SecretProviderClass %q: spec.parameters.%s is not a string", c.Name, k))
		}
	}
	return c, nil
}

// ServiceAccount reads namespace/name.
func (l ClientLookups) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa := &corev1.ServiceAccount{}
	if err := l.ServiceAccounts.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sa); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("ServiceAccount %s/%s: %w", namespace, name, ErrNotFound)
		}
		return nil, err
	}
	return sa, nil
}
