package mounter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// Secret sync: spec.secretObjects of a class, as the upstream driver does it,
// opt-in (--sync-secrets, chart mounter.syncSecrets) because the values then
// sit in etcd, the very thing this project exists to avoid. Off, a class
// that names secretObjects gets an Event on the pod saying so (never silence).
//
// A synced Secret:
//  1. lives in the pod's namespace, with the declared name, type, labels and
//     annotations, plus LabelManaged so that a Secret of someone else's is
//     never overwritten;
//  2. has one owner reference per pod that mounts the class (not a
//     controller, not blocking deletion), so the garbage collector removes it
//     when the last of them goes;
//  3. is updated when a refresh changes the files (rotation).

// LabelManaged marks the Secrets the mounter creates from secretObjects.
const LabelManaged = "aws-secrets-injector.io/managed-by"

// managedValue is LabelManaged's value.
const managedValue = "mounter"

// EventSecretObjectsNotSynced is the Event of a class with secretObjects
// while sync is off.
const EventSecretObjectsNotSynced = "SecretObjectsNotSynced"

// SecretStore is what secret sync needs of the API server (RBAC, only with
// sync on: get, create and update secrets).
type SecretStore interface {
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	CreateSecret(ctx context.Context, s *corev1.Secret) error
	UpdateSecret(ctx context.Context, s *corev1.Secret) error
}

// podRef names the pod a Secret is synced for.
type podRef struct{ Namespace, Name, UID string }

// syncSecrets creates or updates the Secrets of objs from files for pod.
// Every Secret is attempted; the error lists the failed ones (reason
// KubernetesAPI, or InvalidClass for what the class must fix).
func syncSecrets(ctx context.Context, store SecretStore, objs []spc.SecretObject, files []secrets.File, pod podRef) error {
	byName := make(map[string][]byte, len(files))
	for _, f := range files {
		byName[f.Path] = f.Content.Bytes()
	}
	var errs []error
	for i, so := range objs {
		if err := syncSecret(ctx, store, so, byName, pod); err != nil {
			errs = append(errs, fmt.Errorf("spec.secretObjects[%d] (Secret %s/%s): %w", i, pod.Namespace, so.SecretName, err))
		}
	}
	return errors.Join(errs...)
}

func syncSecret(ctx context.Context, store SecretStore, so spc.SecretObject, files map[string][]byte, pod podRef) error {
	data := make(map[string][]byte, len(so.Data))
	for _, d := range so.Data {
		b, ok := files[d.ObjectName]
		if !ok {
			return reason.Wrap(reason.InvalidClass, fmt.Errorf("objectName %s of key %s is not a file of the class", secrets.Quote(d.ObjectName), secrets.Quote(d.Key)))
		}
		data[d.Key] = b
	}
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: types.UID(pod.UID)}
	for attempt := 0; ; attempt++ {
		cur, err := store.GetSecret(ctx, pod.Namespace, so.SecretName)
		switch {
		case apierrors.IsNotFound(err):
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: so.SecretName,
				Labels: managedLabels(so.Labels), Annotations: maps.Clone(so.Annotations), OwnerReferences: []metav1.OwnerReference{owner}},
				Type: corev1.SecretType(so.Type), Data: data}
			err = store.CreateSecret(ctx, s)
		case err != nil:
		case cur.Labels[LabelManaged] != managedValue:
			return reason.Wrap(reason.InvalidClass, errors.New("a Secret of that name exists and was not created by aws-secrets-injector: "+
				"rename secretName, or delete that Secret"))
		case string(cur.Type) != so.Type:
			return reason.Wrap(reason.InvalidClass, fmt.Errorf("the Secret's type is %s, the class says %s (a Secret's type cannot change): "+
				"delete the Secret, or set its type in the class", secrets.Quote(string(cur.Type)), secrets.Quote(so.Type)))
		default:
			next := cur.DeepCopy()
			next.Data = data
			next.Labels = managedLabels(so.Labels)
			next.Annotations = maps.Clone(so.Annotations)
			if !slices.ContainsFunc(next.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == owner.UID }) {
				next.OwnerReferences = append(next.OwnerReferences, owner)
			}
			if same(cur, next) {
				return nil
			}
			err = store.UpdateSecret(ctx, next)
		}
		if err == nil {
			return nil
		}
		if apierrors.IsForbidden(err) {
			return reason.Wrap(reason.KubernetesAPI, fmt.Errorf("%w: the mounter needs get, create and update on secrets, "+
				"which the chart grants with mounter.syncSecrets=true (the same value that turns --sync-secrets on)", err))
		}
		if (!apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err)) || attempt >= 4 {
			return reason.Wrap(reason.KubernetesAPI, err)
		}
	}
}

// managedLabels is the class's labels plus LabelManaged.
func managedLabels(l map[string]string) map[string]string {
	out := maps.Clone(l)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelManaged] = managedValue
	return out
}

// same reports whether an update would change nothing.
func same(a, b *corev1.Secret) bool {
	if !maps.Equal(a.Labels, b.Labels) || !maps.Equal(a.Annotations, b.Annotations) || len(a.OwnerReferences) != len(b.OwnerReferences) {
		return false
	}
	return maps.EqualFunc(a.Data, b.Data, func(x, y []byte) bool { return string(x) == string(y) })
}
