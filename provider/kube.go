package provider

import (
	"context"
	"maps"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/seed-ddac166a/aws-secrets-injector/kube"
	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
)

// ServiceAccounts is the provider's only read from the API server: the
// annotations of a pod's ServiceAccount (eks.amazonaws.com/role-arn for
// IRSA, as ASCP reads it). RBAC: get serviceaccounts, and list and watch for
// KubeServiceAccounts' cache.
type ServiceAccounts interface {
	// Annotations returns the annotations of ServiceAccount namespace/name
	// (the caller's own copy); a missing one is an error for which
	// apierrors.IsNotFound holds.
	Annotations(ctx context.Context, namespace, name string) (map[string]string, error)
}

// KubeServiceAccounts reads ServiceAccounts with the core/v1-only client of
// package kube (no generated clientset, which links every API group's
// client): GETs until StartCache, then from one watch per ServiceAccount
// read, as the mounter reads them.
type KubeServiceAccounts struct {
	core  *kube.Core
	cache atomic.Pointer[objcache.Cache[*corev1.ServiceAccount]]
}

// NewKubeServiceAccounts returns a reader for cfg (its QPS, burst and user
// agent apply).
func NewKubeServiceAccounts(cfg *rest.Config) (*KubeServiceAccounts, error) {
	core, err := kube.NewCore(cfg)
	if err != nil {
		return nil, err
	}
	return &KubeServiceAccounts{core: core}, nil
}

// StartCache makes the reads watch-based until ctx is done: the driver calls
// Mount for every pod on each rotation poll, and each of those reads would
// otherwise be a GET. The first read of a ServiceAccount is still a GET, so
// a first mount fails as without the cache; see objcache for the idle and
// size bounds. A second call does nothing.
func (k *KubeServiceAccounts) StartCache(ctx context.Context, o objcache.Options) {
	c := objcache.New(k.core.ServiceAccounts(), o)
	if k.cache.CompareAndSwap(nil, c) {
		c.Start(ctx)
	}
}

// CacheStats returns the cache's figures by resource ("serviceaccounts");
// nil without StartCache.
func (k *KubeServiceAccounts) CacheStats() map[string]objcache.Stats {
	c := k.cache.Load()
	if c == nil {
		return nil
	}
	return map[string]objcache.Stats{"serviceaccounts": c.Stats()}
}

// Annotations implements ServiceAccounts.
func (k *KubeServiceAccounts) Annotations(ctx context.Context, namespace, name string) (map[string]string, error) {
	get := k.core.ServiceAccount
	if c := k.cache.Load(); c != nil {
		get = c.Get
	}
	sa, err := get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return maps.Clone(sa.Annotations), nil // the cached object stays as it is
}
