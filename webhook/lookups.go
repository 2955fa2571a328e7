package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// classFromUnstructured converts a SecretProviderClass object with the
// shared decoder (spc.ClassFromObject). A parameter that is not a string
// denies the pod; the decoder's other problems are left to Mutate (the
// provider) or cannot come from the API server (kind and shapes: the object
// was read by its GVK and validated by the CRD's schema).
func classFromUnstructured(u *unstructured.Unstructured) (*spc.Class, error) {
	c, err := spc.ClassFromObject(u.Object)
	var inv *spc.InvalidError
	if errors.As(err, &inv) {
		for _, p := range inv.Issues {
			if strings.HasPrefix(p.Field, "spec.parameters.") {
				return nil, deny(annErr(AnnotationSecretProviderClass, p.Fix, "SecretProviderClass %q: %s is not a string", c.Name, p.Field))
			}
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
