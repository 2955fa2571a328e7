//go:build integration

package mounter_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// syncClass is the seed class with spec.secretObjects: one Secret of type
// kubernetes.io/basic-auth (which the API server validates: it needs a
// username or password key) from the two jmesPath files.
const syncClass = "db-sync"

const syncClassYAML = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: db-sync
spec:
  provider: aws
  secretObjects:
    - secretName: db-creds
      type: kubernetes.io/basic-auth
      labels: {app: shop}
      data:
        - {objectName: db-user, key: username}
        - {objectName: db-password, key: password}
  parameters:
    objects: |
      - objectName: "my-app/db-credentials"
        objectType: "secretsmanager"
        jmesPath:
          - path: "username"
            objectAlias: "db-user"
          - path: "password"
            objectAlias: "db-password"
`

// badSyncClassYAML names a file the class does not produce.
const badSyncClassYAML = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: db-sync-bad
spec:
  provider: aws
  secretObjects:
    - secretName: db-bad
      type: Opaque
      data:
        - {objectName: db-pass, key: password}
  parameters:
    objects: |
      - objectName: "my-app/db-credentials"
        objectType: "secretsmanager"
        jmesPath:
          - path: "password"
            objectAlias: "db-password"
`

// TestSecretObjectsRealAPIServer: with --sync-secrets a pod's first publish
// creates the class's Secret on a real API server (declared type, keys,
// labels, an owner reference to the pod), a rotation updates it, and a class
// whose secretObjects name no file fails before any AWS call; without the
// flag no Secret is created and the pod gets an Event naming the chart value.
func TestSecretObjectsRealAPIServer(t *testing.T) {
	requireRoot(t)
	kube := envtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := mountertest.Namespace
	if _, err := kube.CreateServiceAccount(ctx, ns, mountertest.SAApp, map[string]string{identity.AnnotationRoleARN: mountertest.RoleApp}); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{syncClassYAML, badSyncClassYAML} {
		if _, err := kube.CreateSecretProviderClass(ctx, ns, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	cluster, err := mounter.NewKubeCluster(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	getSecret := func(name string) (*corev1.Secret, error) {
		return kube.Clientset.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	}

	t.Run("sync-on", func(t *testing.T) {
		clk := newClock()
		e := mountertest.Start(t, mountertest.Options{SyncSecrets: true, Cluster: cluster, Now: clk.Now, RefreshInterval: time.Minute})
		if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
			t.Fatalf("publish: %v", err)
		}
		s, err := getSecret("db-creds")
		if err != nil {
			t.Fatalf("the synced Secret: %v", err)
		}
		if s.Type != corev1.SecretTypeBasicAuth || len(s.Data) != 2 || string(s.Data["username"]) != "admin" ||
			string(s.Data["password"]) != "supersecretpassword" {
			t.Errorf("Secret type %s, keys %q: want kubernetes.io/basic-auth with username and password from the files", s.Type, keysOf(s.Data))
		}
		if s.Labels["app"] != "shop" || s.Labels[mounter.LabelManaged] == "" {
			t.Errorf("Secret labels %v: want the class's and %s", s.Labels, mounter.LabelManaged)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Pod" || s.OwnerReferences[0].Name != "pod-a" ||
			string(s.OwnerReferences[0].UID) != mountertest.PodUID("pod-a") {
			t.Errorf("owner references %+v: want pod-a (UID %s)", s.OwnerReferences, mountertest.PodUID("pod-a"))
		}
		if got := readFile(t, filepath.Join(e.Target("pod-a"), "db-password")); got != "supersecretpassword" {
			t.Errorf("db-password file = %q", got)
		}

		// Rotation: after the interval the files and the Secret hold the new value.
		rv := s.ResourceVersion
		if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"rotated"}`); err != nil {
			t.Fatal(err)
		}
		clk.Add(61 * time.Second)
		if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
			t.Fatalf("republish: %v", err)
		}
		if got := readFile(t, filepath.Join(e.Target("pod-a"), "db-password")); got != "rotated" {
			t.Errorf("db-password file after rotation = %q", got)
		}
		if s, err = getSecret("db-creds"); err != nil || string(s.Data["password"]) != "rotated" || s.ResourceVersion == rv {
			t.Errorf("after rotation the Secret's password is not the new value (err %v, resourceVersion %s → %s)", err, rv, s.ResourceVersion)
		}
		// Unchanged files: no write to the Secret.
		rv = s.ResourceVersion
		clk.Add(61 * time.Second)
		if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
			t.Fatalf("republish: %v", err)
		}
		if s, _ = getSecret("db-creds"); s.ResourceVersion != rv {
			t.Errorf("an unchanged refresh wrote the Secret (%s → %s)", rv, s.ResourceVersion)
		}

		// secretObjects naming no file: refused, no AWS call, nothing created.
		before := e.AWS.Calls().Total
		err = e.Publish(ctx, "pod-bad", mountertest.SAApp, "db-sync-bad")
		if code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "spec.secretObjects[0].data[0].objectName") ||
			!strings.Contains(err.Error(), `"db-pass" matches no file`) {
			t.Errorf("class with a bad objectName: %v, want FailedPrecondition naming the field", err)
		}
		if n := e.AWS.Calls().Total - before; n != 0 {
			t.Errorf("the refused class made %d AWS calls", n)
		}
		if _, err := getSecret("db-bad"); !apierrors.IsNotFound(err) {
			t.Errorf("Secret of the refused class: %v, want NotFound", err)
		}
		if ok, evs := e.HasEvent(mounter.EventInvalidClass); !ok {
			t.Errorf("no %s event: %v", mounter.EventInvalidClass, evs)
		}
	})

	t.Run("sync-off", func(t *testing.T) {
		if err := kube.Clientset.CoreV1().Secrets(ns).Delete(ctx, "db-creds", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		e := mountertest.Start(t, mountertest.Options{Cluster: cluster})
		if err := e.Publish(ctx, "pod-off", mountertest.SAApp, syncClass); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if got := readFile(t, filepath.Join(e.Target("pod-off"), "db-password")); got != "supersecretpassword" {
			t.Errorf("db-password file = %q", got)
		}
		if _, err := getSecret("db-creds"); !apierrors.IsNotFound(err) {
			t.Errorf("sync off, yet the Secret: %v", err)
		}
		evs := e.DrainEvents()
		var found string
		for _, ev := range evs {
			if strings.Contains(ev, " "+mounter.EventSecretObjectsNotSynced+" ") {
				found = ev
			}
		}
		switch {
		case found == "":
			t.Errorf("no %s event: %v", mounter.EventSecretObjectsNotSynced, evs)
		case !strings.Contains(found, "mounter.syncSecrets") || !strings.Contains(found, `Secret "db-creds"`):
			t.Errorf("event %q does not name the chart value and the Secret", found)
		case strings.Contains(found, "supersecret"):
			t.Errorf("event leaks the value: %q", found)
		}
		// A refresh does not repeat it.
		if err := e.Publish(ctx, "pod-off", mountertest.SAApp, syncClass); err != nil {
			t.Fatal(err)
		}
		if ok, _ := e.HasEvent(mounter.EventSecretObjectsNotSynced); ok {
			t.Error("a republish repeated the event")
		}
	})
}

// TestSecretObjectsRefreshSyncFailure: a sync that fails on a refresh is a
// refresh failure (Event naming the reason, the refresh-failure metric); the
// new files stay served, and the next republish retries the sync although the
// files no longer change.
func TestSecretObjectsRefreshSyncFailure(t *testing.T) {
	requireRoot(t)
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{SyncSecrets: true, Now: clk.Now, RefreshInterval: time.Minute})
	ctx := context.Background()
	if err := e.Cluster.AddClassYAML(mountertest.Namespace, syncClassYAML); err != nil {
		t.Fatal(err)
	}
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
		t.Fatalf("publish: %v", err)
	}
	s, err := e.Cluster.GetSecret(ctx, mountertest.Namespace, "db-creds")
	if err != nil || string(s.Data["password"]) != "supersecretpassword" {
		t.Fatalf("synced Secret: %v", err)
	}
	// Someone takes the label off: the Secret is no longer ours to write.
	delete(s.Labels, mounter.LabelManaged)
	if err := e.Cluster.UpdateSecret(ctx, s); err != nil {
		t.Fatal(err)
	}
	e.DrainEvents()
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"rotated"}`); err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Second)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
		t.Fatalf("a republish whose sync fails must keep serving: %v", err)
	}
	pw := filepath.Join(e.Target("pod-a"), "db-password")
	if got := readFile(t, pw); got != "rotated" {
		t.Errorf("db-password file = %q: the rotated files must be served", got)
	}
	ok, evs := e.HasEvent(mounter.EventSecretRefreshFailed)
	all := strings.Join(evs, "\n")
	if !ok || !strings.Contains(all, "refresh failed (InvalidSecretProviderClass)") || !strings.Contains(all, "not created by aws-secrets-injector") {
		t.Errorf("no SecretRefreshFailed event naming the reason and the cause: %v", evs)
	}
	if strings.Contains(all, "rotated") || strings.Contains(all, "supersecret") {
		t.Errorf("event leaks a value: %v", evs)
	}
	if n := counter(t, e.Driver.Metrics(), "aws_secrets_injector_mounter_refresh_failures_total", "InvalidSecretProviderClass"); n != 1 {
		t.Errorf("refresh failures {reason=InvalidSecretProviderClass} = %v, want 1", n)
	}
	if s, _ = e.Cluster.GetSecret(ctx, mountertest.Namespace, "db-creds"); string(s.Data["password"]) != "supersecretpassword" {
		t.Error("a Secret without our label was written")
	}

	// The owner gives it back; after a quarter of the interval the retry syncs
	// the unchanged files.
	s.Labels[mounter.LabelManaged] = "mounter"
	if err := e.Cluster.UpdateSecret(ctx, s); err != nil {
		t.Fatal(err)
	}
	clk.Add(16 * time.Second)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
		t.Fatal(err)
	}
	if s, _ = e.Cluster.GetSecret(ctx, mountertest.Namespace, "db-creds"); string(s.Data["password"]) != "rotated" {
		t.Error("the pending sync was not retried")
	}
	if ok, evs := e.HasEvent(mounter.EventSecretRefreshFailed); ok {
		t.Errorf("the retry failed: %v", evs)
	}
}

// TestSecretObjectsSyncTurnedOn: a volume served while sync was off gets its
// Secret on the first refresh after the mounter restarts with sync on, though
// its files do not change.
func TestSecretObjectsSyncTurnedOn(t *testing.T) {
	requireRoot(t)
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{Now: clk.Now, RefreshInterval: time.Minute})
	ctx := context.Background()
	if err := e.Cluster.AddClassYAML(mountertest.Namespace, syncClassYAML); err != nil {
		t.Fatal(err)
	}
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if _, err := e.Cluster.GetSecret(ctx, mountertest.Namespace, "db-creds"); !apierrors.IsNotFound(err) {
		t.Fatalf("sync off, yet the Secret: %v", err)
	}
	if err := e.RestartWith(func(c *mounter.Config) { c.SyncSecrets = true }); err != nil {
		t.Fatal(err)
	}
	clk.Add(61 * time.Second)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
		t.Fatalf("republish: %v", err)
	}
	s, err := e.Cluster.GetSecret(ctx, mountertest.Namespace, "db-creds")
	if err != nil || string(s.Data["password"]) != "supersecretpassword" || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != "pod-a" {
		t.Fatalf("after turning sync on, the running pod's Secret: %v", err)
	}
	// Synced now: the next unchanged refresh does not write it again.
	rv := s.ResourceVersion
	clk.Add(61 * time.Second)
	if err := e.Publish(ctx, "pod-a", mountertest.SAApp, syncClass); err != nil {
		t.Fatal(err)
	}
	if s, _ = e.Cluster.GetSecret(ctx, mountertest.Namespace, "db-creds"); s.ResourceVersion != rv {
		t.Errorf("an unchanged refresh of a synced volume wrote the Secret (%s → %s)", rv, s.ResourceVersion)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// counter is the value of the counter name{reason} in m's registry.
func counter(t *testing.T, m *mounter.Metrics, name, reason string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			if labelIs(mt, "reason", reason) {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
