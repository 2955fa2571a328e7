// Package kube is what the node-side roles (the mounter and provider mode)
// need of the API server, with nothing more linked than they use: a client of
// the core/v1 API over a scheme of core/v1 alone (client-go's generated
// clientset links the client and scheme of every API group, ~15 MB of binary
// and RSS), an Event sink over it, and in objcache the per-object watch caches
// that make their reads independent of how often they read.
package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
)

// Config is the in-cluster configuration, or the kubeconfig file at path.
func Config(path string) (*rest.Config, error) {
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

// Core reads and writes core/v1 objects through client-go's REST client.
// Its methods are safe for concurrent use.
type Core struct {
	rest   rest.Interface
	scheme *runtime.Scheme
	params runtime.ParameterCodec
}

// NewCore returns a Core for cfg (its QPS, burst, user agent and transport
// wrappers apply).
func NewCore(cfg *rest.Config) (*Core, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil { // with meta/v1's options and watch events
		return nil, fmt.Errorf("core/v1 scheme: %w", err)
	}
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes REST client: %w", err)
	}
	return &Core{rest: client, scheme: scheme, params: runtime.NewParameterCodec(scheme)}, nil
}

// Scheme is the core/v1 scheme of c (an Event recorder's).
func (c *Core) Scheme() *runtime.Scheme { return c.scheme }

// ServiceAccount reads namespace/name; a missing one is an error for which
// apierrors.IsNotFound holds.
func (c *Core) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa := &corev1.ServiceAccount{}
	if err := c.rest.Get().Namespace(namespace).Resource("serviceaccounts").Name(name).Do(ctx).Into(sa); err != nil {
		return nil, err
	}
	return sa, nil
}

// ServiceAccounts is the ServiceAccounts as a watch cache's source.
func (c *Core) ServiceAccounts() objcache.Source[*corev1.ServiceAccount] {
	return objcache.Source[*corev1.ServiceAccount]{
		Resource: corev1.Resource("serviceaccounts"),
		Get:      c.ServiceAccount,
		List: func(ctx context.Context, ns string, o metav1.ListOptions) (runtime.Object, error) {
			l := &corev1.ServiceAccountList{}
			err := c.rest.Get().Namespace(ns).Resource("serviceaccounts").VersionedParams(&o, c.params).Do(ctx).Into(l)
			return l, err
		},
		Watch: func(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
			o.Watch = true
			return c.rest.Get().Namespace(ns).Resource("serviceaccounts").VersionedParams(&o, c.params).Watch(ctx)
		},
		Client:  c.rest,
		Example: &corev1.ServiceAccount{},
	}
}

// Node reads the Node name.
func (c *Core) Node(ctx context.Context, name string) (*corev1.Node, error) {
	n := &corev1.Node{}
	if err := c.rest.Get().Resource("nodes").Name(name).Do(ctx).Into(n); err != nil {
		return nil, err
	}
	return n, nil
}

// Secret reads the Secret namespace/name.
func (c *Core) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := c.rest.Get().Namespace(namespace).Resource("secrets").Name(name).Do(ctx).Into(s); err != nil {
		return nil, err
	}
	return s, nil
}

// CreateSecret creates s in its namespace.
func (c *Core) CreateSecret(ctx context.Context, s *corev1.Secret) error {
	return c.rest.Post().Namespace(s.Namespace).Resource("secrets").Body(s).Do(ctx).Error()
}

// UpdateSecret replaces s (its resourceVersion guards the update).
func (c *Core) UpdateSecret(ctx context.Context, s *corev1.Secret) error {
	return c.rest.Put().Namespace(s.Namespace).Resource("secrets").Name(s.Name).Body(s).Do(ctx).Error()
}
