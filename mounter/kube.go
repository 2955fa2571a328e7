package mounter

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/region"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Cluster is what the mounter needs of the API server: two reads (RBAC: get
// secretproviderclasses and serviceaccounts) and, only with Config.SyncSecrets
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

// KubeCluster implements Cluster with client-go.
type KubeCluster struct {
	Dynamic   dynamic.Interface
	Clientset kubernetes.Interface
}

// NewKubeCluster returns a KubeCluster for cfg.
func NewKubeCluster(cfg *rest.Config) (*KubeCluster, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	return &KubeCluster{Dynamic: dyn, Clientset: cs}, nil
}

// SecretProviderClass implements Cluster: it reads the object with the shared
// core's decoder, spc.ClassFromObject (kind, provider and string-typed
// parameters checked).
func (k *KubeCluster) SecretProviderClass(ctx context.Context, namespace, name string) (*spc.Class, error) {
	u, err := k.Dynamic.Resource(SecretProviderClassGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return spc.ClassFromObject(u.Object)
}

// ServiceAccountAnnotations implements Cluster.
func (k *KubeCluster) ServiceAccountAnnotations(ctx context.Context, namespace, name string) (map[string]string, error) {
	sa, err := k.Clientset.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return sa.Annotations, nil
}

// NodeRegion is the node's topology.kubernetes.io/region label as a region
// source (RBAC: get nodes).
func (k *KubeCluster) NodeRegion(node string) region.Source {
	return region.Source{Name: "the node's " + region.NodeLabel + " label", Get: func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n, err := k.Clientset.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("get node %s: %w", node, err)
		}
		return n.Labels[region.NodeLabel], nil
	}}
}

// NewEventRecorder returns a recorder that posts Events (RBAC: create and
// patch events) as component "aws-secrets-injector-mounter" on node; stop
// shuts the broadcaster down.
func NewEventRecorder(cs kubernetes.Interface, node string) (rec record.EventRecorder, stop func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	rec = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "aws-secrets-injector-mounter", Host: node})
	return rec, b.Shutdown
}

// GetSecret implements SecretStore.
func (k *KubeCluster) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return k.Clientset.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// CreateSecret implements SecretStore.
func (k *KubeCluster) CreateSecret(ctx context.Context, s *corev1.Secret) error {
	_, err := k.Clientset.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
	return err
}

// UpdateSecret implements SecretStore.
func (k *KubeCluster) UpdateSecret(ctx context.Context, s *corev1.Secret) error {
	_, err := k.Clientset.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
	return err
}
