package provider

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ServiceAccounts is the provider's only read from the API server: the
// annotations of a pod's ServiceAccount (eks.amazonaws.com/role-arn for
// IRSA, as ASCP reads it). RBAC: get serviceaccounts, nothing else. A small
// interface so that a shared, thin Kubernetes reader can replace the REST
// one below without touching the server.
type ServiceAccounts interface {
	// Annotations returns the annotations of ServiceAccount namespace/name;
	// a missing one is an error for which apierrors.IsNotFound holds.
	Annotations(ctx context.Context, namespace, name string) (map[string]string, error)
}

// RESTServiceAccounts reads ServiceAccounts with client-go's REST client over
// a scheme holding core/v1 alone: no generated clientset (which links every
// API group's client and costs ~15 MB of RSS), no informer, no cache.
type RESTServiceAccounts struct {
	client rest.Interface
}

// NewRESTServiceAccounts returns a reader for cfg (its QPS, burst and user
// agent apply).
func NewRESTServiceAccounts(cfg *rest.Config) (*RESTServiceAccounts, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("core/v1 scheme: %w", err)
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes REST client: %w", err)
	}
	return &RESTServiceAccounts{client: client}, nil
}

// Annotations implements ServiceAccounts.
func (r *RESTServiceAccounts) Annotations(ctx context.Context, namespace, name string) (map[string]string, error) {
	var sa corev1.ServiceAccount
	if err := r.client.Get().Namespace(namespace).Resource("serviceaccounts").Name(name).Do(ctx).Into(&sa); err != nil {
		return nil, err
	}
	return sa.Annotations, nil
}

// KubeConfig is the in-cluster configuration, or the kubeconfig file at path.
func KubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster kubernetes config (or set --kubeconfig): %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return c, nil
}
