package mounter

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/seed-ddac166a/aws-secrets-injector/kube"
	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/region"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Cluster is what the mounter needs of the API server: two reads (RBAC: get,
// and for KubeCluster's caches list and watch, secretproviderclasses and
// serviceaccounts) and, only with Config.SyncSecrets
// (--sync-secrets), the SecretStore calls (RBAC: get, create and update
// secrets, granted by the chart only with mounter.syncSecrets). Without
// SyncSecrets the driver never calls the SecretStore methods.
type Cluster interface {
	SecretStore
	// SecretProviderClass returns the class namespace/name; a missing class is an
	// error for which apierrors.IsNotFound holds.
	SecretProviderClass(ctx context.Context, namespace, name string) (*spc.Class, error)
	// ServiceAccountAnnotations returns the annotations of a ServiceAccount.
	ServiceAccountAnnotations(ctx context.Context, namespace, name string) (map[string]string, error)
}

// SecretProviderClassGVR is the resource the mounter reads classes from.
var SecretProviderClassGVR = schema.GroupVersionResource{Group: spc.Group, Version: "v1", Resource: "secretproviderclasses"}

// KubeCluster implements Cluster with client-go's dynamic client (classes)
// and a core/v1-only client (everything else): no generated clientset. Its
// reads are GETs until StartCache.
type KubeCluster struct {
	Dynamic dynamic.Interface
	Core    *kube.Core

	caches atomic.Pointer[kubeCaches]
}

// kubeCaches are the watch caches of the two objects every refresh reads.
type kubeCaches struct {
	classes  *objcache.Cache[*unstructured.Unstructured]
	accounts *objcache.Cache[*corev1.ServiceAccount]
}

// Resources of KubeCluster.CacheStats.
const (
	ResourceClasses         = "secretproviderclasses"
	ResourceServiceAccounts = "serviceaccounts"
)

// NewKubeCluster returns a KubeCluster for cfg.
func NewKubeCluster(cfg *rest.Config) (*KubeCluster, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	core, err := kube.NewCore(cfg)
	if err != nil {
		return nil, err
	}
	return &KubeCluster{Dynamic: dyn, Core: core}, nil
}

// StartCache makes the class and ServiceAccount reads watch-based until ctx
// is done, the kubelet's "watch" strategy for the Secrets and ConfigMaps of
// its pods: each object read gets one watch of its own (a list and watch by
// metadata.name), which answers the reads once it has listed, so a refresh
// costs the API server nothing. A read before that is a GET, as without
// StartCache, so a first publish fails the same way. Objects not read for
// o.Idle are no longer watched (the refreshes of a live volume read its
// objects every interval) and at most o.MaxObjects of each resource are
// watched; reads of more are GETs. Call it before the first read; a second
// call does nothing.
func (k *KubeCluster) StartCache(ctx context.Context, o objcache.Options) {
	c := &kubeCaches{classes: objcache.New(k.classSource(), o), accounts: objcache.New(k.Core.ServiceAccounts(), o)}
	if !k.caches.CompareAndSwap(nil, c) {
		return
	}
	c.classes.Start(ctx)
	c.accounts.Start(ctx)
}

// CacheStats returns the caches' figures by resource (ResourceClasses,
// ResourceServiceAccounts); nil without StartCache.
func (k *KubeCluster) CacheStats() map[string]objcache.Stats {
	c := k.caches.Load()
	if c == nil {
		return nil
	}
	return map[string]objcache.Stats{ResourceClasses: c.classes.Stats(), ResourceServiceAccounts: c.accounts.Stats()}
}

// SecretProviderClass implements Cluster: it reads the object with the shared
// core's decoder, spc.ClassFromObject (kind, provider and string-typed
// parameters checked).
func (k *KubeCluster) SecretProviderClass(ctx context.Context, namespace, name string) (*spc.Class, error) {
	get := k.getClass
	if c := k.caches.Load(); c != nil {
		get = c.classes.Get
	}
	u, err := get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return spc.ClassFromObject(u.Object) // copies what it keeps: the cached object stays as it is
}

// ServiceAccountAnnotations implements Cluster.
func (k *KubeCluster) ServiceAccountAnnotations(ctx context.Context, namespace, name string) (map[string]string, error) {
	get := k.Core.ServiceAccount
	if c := k.caches.Load(); c != nil {
		get = c.accounts.Get
	}
	sa, err := get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return maps.Clone(sa.Annotations), nil
}

func (k *KubeCluster) getClass(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	return k.Dynamic.Resource(SecretProviderClassGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (k *KubeCluster) classSource() objcache.Source[*unstructured.Unstructured] {
	res := func(ns string) dynamic.ResourceInterface {
		return k.Dynamic.Resource(SecretProviderClassGVR).Namespace(ns)
	}
	example := &unstructured.Unstructured{}
	example.SetGroupVersionKind(SecretProviderClassGVR.GroupVersion().WithKind(spc.Kind))
	return objcache.Source[*unstructured.Unstructured]{
		Resource: SecretProviderClassGVR.GroupResource(),
		Get:      k.getClass,
		List: func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return res(ns).List(ctx, o)
		},
		Watch: func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
			return res(ns).Watch(ctx, o)
		},
		Client:  k.Dynamic,
		Example: example,
	}
}

// NodeRegion is the node's topology.kubernetes.io/region label as a region
// source (RBAC: get nodes).
func (k *KubeCluster) NodeRegion(node string) region.Source {
	return region.Source{Name: "the node's " + region.NodeLabel + " label", Get: func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n, err := k.Core.Node(ctx, node)
		if err != nil {
			return "", fmt.Errorf("get node %s: %w", node, err)
		}
		return n.Labels[region.NodeLabel], nil
	}}
}

// NewEventRecorder returns a recorder that posts Events (RBAC: create and
// patch events) as component "aws-secrets-injector-mounter" on node; stop
// ends its poster.
func (k *KubeCluster) NewEventRecorder(node string) (rec *kube.EventRecorder, stop func()) {
	return k.Core.NewEventRecorder("aws-secrets-injector-mounter", node)
}

// GetSecret implements SecretStore.
func (k *KubeCluster) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return k.Core.Secret(ctx, namespace, name)
}

// CreateSecret implements SecretStore.
func (k *KubeCluster) CreateSecret(ctx context.Context, s *corev1.Secret) error {
	return k.Core.CreateSecret(ctx, s)
}

// UpdateSecret implements SecretStore.
func (k *KubeCluster) UpdateSecret(ctx context.Context, s *corev1.Secret) error {
	return k.Core.UpdateSecret(ctx, s)
}
