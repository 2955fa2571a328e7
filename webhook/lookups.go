package webhook

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
	// ServiceAccounts reads ServiceAccounts' metadata (typically the
	// manager's cached client: a metadata-only informer whose objects keep
	// only the eks.amazonaws.com/ annotations, see ServiceAccountCache), so
	// an admission makes no API call of its own.
	ServiceAccounts client.Reader
	// ServiceAccountsLive, when set, is asked when ServiceAccounts has no
	// such account (typically the manager's uncached API reader): an account
	// created just before its pod, as one `kubectl apply` does, may not have
	// reached the watch yet. Only misses cost an API call.
	ServiceAccountsLive client.Reader
}

// SecretProviderClass reads namespace/name and converts spec.parameters to
// strings; a parameter that is not a string makes the class invalid.
//
// A cached class is read in place, not deep-copied (the copy of the whole
// unstructured object was most of the lookup's cost): the cache hands out
// the object it stores, so nothing here writes to u.Object, and the
// conversion only reads it (see TestClassLookupLeavesTheCacheAlone). A
// reader without a cache ignores the option and decodes a fresh object.
func (l ClientLookups) SecretProviderClass(ctx context.Context, namespace, name string) (*spc.Class, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(SecretProviderClassGVK)
	if err := l.Classes.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("SecretProviderClass %s/%s: %w", namespace, name, ErrNotFound)
		}
		return nil, err
	}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		// The copy's Get set these; a watched object has them from the API
		// server, but if it did not, a shallow copy takes them, not the cache.
		obj := maps.Clone(u.Object)
		obj["apiVersion"], obj["kind"] = SecretProviderClassGVK.GroupVersion().String(), SecretProviderClassGVK.Kind
		u = &unstructured.Unstructured{Object: obj}
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

// ServiceAccountMeta is the object ServiceAccounts are read as: metadata only.
func ServiceAccountMeta() *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}}
}

// ServiceAccountCache is the cache configuration of ServiceAccountMeta
// objects: the transform drops everything the webhook does not read (labels,
// owner references, managed fields, every annotation outside
// eks.amazonaws.com/), so a cluster's accounts cost a few hundred bytes each.
func ServiceAccountCache() cache.ByObject {
	return cache.ByObject{Transform: func(obj any) (any, error) {
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return obj, nil // a tombstone: the informer handles it
		}
		ann := map[string]string{}
		for k, v := range m.Annotations {
			if strings.HasPrefix(k, IRSAAnnotationPrefix) {
				ann[k] = v
			}
		}
		out := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		}}
		if len(ann) > 0 {
			out.Annotations = ann
		}
		return out, nil
	}}
}

// ServiceAccount reads namespace/name (its name, namespace and
// eks.amazonaws.com/ annotations).
func (l ClientLookups) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	m := ServiceAccountMeta()
	key := client.ObjectKey{Namespace: namespace, Name: name}
	err := l.ServiceAccounts.Get(ctx, key, m)
	if apierrors.IsNotFound(err) && l.ServiceAccountsLive != nil {
		m = ServiceAccountMeta()
		err = l.ServiceAccountsLive.Get(ctx, key, m)
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("ServiceAccount %s/%s: %w", namespace, name, ErrNotFound)
		}
		return nil, err
	}
	return &corev1.ServiceAccount{ObjectMeta: m.ObjectMeta}, nil
}
