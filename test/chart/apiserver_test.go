//go:build integration

package chart_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
)

// TestAPIServer has a real kube-apiserver (1) accept every object of every
// value set (server-side dry run: full validation, CEL compilation of the
// match conditions, defaulting), then, with the default install created for
// real, (2) route exactly the opted-in, annotated pods to the webhook, (3)
// enforce the RBAC: each component can do what it needs and nothing next to
// it, and (4) run the real binaries with the chart's arguments (the webhook
// under its own RBAC) within the chart's resources.
func TestAPIServer(t *testing.T) {
	crds, err := filepath.Abs(filepath.Join("testdata", "crds"))
	if err != nil {
		t.Fatal(err)
	}
	// Aggregator routing: the API server resolves the webhook Service through
	// its EndpointSlices (there are none here) instead of dialling a ClusterIP,
	// so it never sends a packet off loopback.
	env := envtest.Start(t, envtest.WithCRDPaths(crds), envtest.WithAPIServerFlag("enable-aggregator-routing", "true"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := env.Client
	mustCreate(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNS,
		// The release namespace opts in too: the webhook must exclude it anyway.
		Labels: map[string]string{"aws-secrets-injector.io/inject": "enabled"}}})
	mustCreate(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a",
		Labels: map[string]string{"aws-secrets-injector.io/inject": "enabled"}}})
	mustCreate(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}})

	t.Run("dry-run", func(t *testing.T) {
		for _, vs := range valueSets(t) {
			t.Run(vs.name, func(t *testing.T) {
				for _, o := range renderChart(t, vs.values).Objects {
					if err := c.Create(ctx, o, client.DryRunAll); err != nil {
						t.Errorf("%s/%s refused: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
					}
				}
			})
		}
	})
	t.Run("no-warnings", func(t *testing.T) { checkNoWarnings(ctx, t, env) })

	for _, o := range renderChart(t, nil).Objects {
		mustCreate(ctx, t, c, o)
	}
	// The provider-mode objects beside them (their names differ): for its RBAC.
	for _, o := range renderChart(t, providerValues).Objects {
		mustCreate(ctx, t, c, o)
	}

	t.Run("webhook-routing", func(t *testing.T) { checkRouting(ctx, t, env) })
	t.Run("rbac-webhook", func(t *testing.T) { checkWebhookRBAC(ctx, t, env) })
	t.Run("rbac-mounter", func(t *testing.T) { checkMounterRBAC(ctx, t, env) })
	t.Run("rbac-mounter-sync-secrets", func(t *testing.T) { checkMounterSyncRBAC(ctx, t, env) })
	t.Run("rbac-provider", func(t *testing.T) { checkProviderRBAC(ctx, t, env) })
	t.Run("real-provider", func(t *testing.T) { checkRealProvider(ctx, t, env, renderChart(t, providerValues)) })
	// Last: the running webhook patches the caBundle of the configuration.
	t.Run("real-binaries", func(t *testing.T) { checkRealBinaries(ctx, t, env, renderChart(t, nil)) })
}

// warnings collects the API server's warning headers.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, text)
	w.mu.Unlock()
}

// checkNoWarnings: the API server accepts every object of every value set
// without a warning; in particular the CSIDriver, which it warns about when
// the service-account tokens would travel in the volume context
// (spec.serviceAccountTokenInSecrets unset).
func checkNoWarnings(ctx context.Context, t *testing.T, env *envtest.Env) {
	for _, vs := range valueSets(t) {
		c, w := warningClient(t, env)
		for _, o := range renderChart(t, vs.values).Objects {
			w.msgs = nil
			if err := c.Create(ctx, o, client.DryRunAll); err != nil {
				t.Errorf("%s: %s/%s refused: %v", vs.name, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
			}
			if len(w.msgs) > 0 {
				t.Errorf("%s: %s/%s drew warnings: %q", vs.name, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), w.msgs)
			}
		}
	}
	// The check sees the warning where it is due: the CSIDriver with the
	// field off.
	c, w := warningClient(t, env)
	off := renderChart(t, vals("mounter", vals("serviceAccountTokenInSecrets", false)))
	for _, o := range off.Objects {
		if o.GetObjectKind().GroupVersionKind().Kind != "CSIDriver" {
			continue
		}
		if err := c.Create(ctx, o, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(w.msgs, " "), "serviceAccountTokenInSecrets") {
			t.Errorf("no serviceAccountTokenInSecrets warning for a CSIDriver without it: %q", w.msgs)
		}
	}
}

// warningClient is an admin client whose API server warnings land in w.
func warningClient(t *testing.T, env *envtest.Env) (client.Client, *warnings) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	w := &warnings{}
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

func mustCreate(ctx context.Context, t *testing.T, c client.Client, o client.Object) {
	t.Helper()
	if err := c.Create(ctx, o); err != nil {
		t.Fatalf("create %s/%s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
	}
}

// checkRouting creates pods and tells from the outcome whether the API server
// called the webhook: it has no endpoints, so with failurePolicy Fail a pod
// that reaches it is refused with the webhook's name in the error.
func checkRouting(ctx context.Context, t *testing.T, env *envtest.Env) {
	c := env.Client
	for _, ns := range []string{"kube-system", "kube-public"} {
		n := &corev1.Namespace{}
		if err := c.Get(ctx, types.NamespacedName{Name: ns}, n); err != nil {
			t.Fatal(err)
		}
		n.Labels["aws-secrets-injector.io/inject"] = "enabled"
		if err := c.Update(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	inject := map[string]string{"aws-secrets-injector.io/inject": "true", "aws-secrets-injector.io/secret-provider-class": "db"}
	for i, tc := range []struct {
		name        string
		ns          string
		annotations map[string]string
		called      bool
	}{
		{"opted-in namespace, annotated pod", "team-a", inject, true},
		{"opted-in namespace, no annotations", "team-a", nil, false},
		{"opted-in namespace, other annotations", "team-a", map[string]string{"example.com/x": "y"}, false},
		{"opted-in namespace, inject false", "team-a", map[string]string{"aws-secrets-injector.io/inject": "false"}, false},
		{"opted-in namespace, mirror pod", "team-a", map[string]string{"aws-secrets-injector.io/inject": "true", "kubernetes.io/config.mirror": "x"}, false},
		{"namespace not opted in", "team-b", inject, false},
		{"release namespace", releaseNS, inject, false},
		{"kube-system", "kube-system", inject, false},
		{"kube-public", "kube-public", inject, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: tc.ns}}
			if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			no := false
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "app-" + string(rune('a'+i)), Namespace: tc.ns, Annotations: tc.annotations},
				Spec: corev1.PodSpec{ServiceAccountName: "app", AutomountServiceAccountToken: &no,
					Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
			}
			if _, ok := tc.annotations["kubernetes.io/config.mirror"]; ok {
				pod.Spec.NodeName = "node-1" // a mirror pod is always bound
			}
			err := c.Create(ctx, pod)
			switch {
			case tc.called && err == nil:
				t.Errorf("pod created: the API server did not call the webhook")
			case tc.called && !strings.Contains(err.Error(), "pods.aws-secrets-injector.io"):
				t.Errorf("pod refused, but not by the webhook: %v", err)
			case !tc.called && err != nil:
				t.Errorf("pod refused: %v", err)
			}
		})
	}
}

// waitAllowed waits (up to 30 s) until the API server's authorizer allows
// attrs to the user of cs: RBAC objects take effect once its informer has
// them, moments after their creation.
func waitAllowed(ctx context.Context, t *testing.T, cs kubernetes.Interface, attrs authorizationv1.ResourceAttributes) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}, metav1.CreateOptions{})
		if err == nil && r.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("RBAC did not allow %+v within 30 s (last: %v)", attrs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// impersonate returns a clientset and a client acting as the chart's
// ServiceAccount name.
func impersonate(t *testing.T, env *envtest.Env, name string) (kubernetes.Interface, client.Client) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + releaseNS + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNS, "system:authenticated"},
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cs, cl
}

type access struct {
	what    string
	allowed bool
	do      func() error
}

// watchServiceAccounts is the probe of a cluster-wide ServiceAccount watch.
func watchServiceAccounts(ctx context.Context, cs kubernetes.Interface) func() error {
	return func() error {
		w, err := cs.CoreV1().ServiceAccounts("").Watch(ctx, metav1.ListOptions{})
		if err == nil {
			w.Stop()
		}
		return err
	}
}

// mintToken is the probe of minting a token for team-a's ServiceAccount app.
func mintToken(ctx context.Context, cs kubernetes.Interface) func() error {
	return func() error {
		_, err := cs.CoreV1().ServiceAccounts("team-a").CreateToken(ctx, "app", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		return err
	}
}

func checkAccess(t *testing.T, cases []access) {
	t.Helper()
	for _, a := range cases {
		err := a.do()
		forbidden := apierrors.IsForbidden(err)
		switch {
		case a.allowed && forbidden:
			t.Errorf("%s: forbidden: %v", a.what, err)
		case a.allowed && err != nil && !apierrors.IsNotFound(err):
			t.Errorf("%s: %v", a.what, err)
		case !a.allowed && !forbidden:
			t.Errorf("%s: allowed (err %v), want forbidden", a.what, err)
		}
	}
}

func spcList() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(envtest.SecretProviderClassGVK.GroupVersion().WithKind("SecretProviderClassList"))
	return l
}

func spc() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(envtest.SecretProviderClassGVK)
	return u
}

func checkWebhookRBAC(ctx context.Context, t *testing.T, env *envtest.Env) {
	const (
		config = releaseName
		secret = releaseName + "-webhook-tls"
	)
	admin := env.Client
	mustCreate(ctx, t, admin, &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "someone-else"}})
	mustCreate(ctx, t, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: releaseNS}})
	mustCreate(ctx, t, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rbac-other"}})
	mustCreate(ctx, t, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: "rbac-other"}})

	cs, cl := impersonate(t, env, releaseName+"-webhook")
	mwcs := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	secrets := cs.CoreV1().Secrets(releaseNS)
	dry := metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}
	patch := []byte(`{"metadata":{"labels":{"rbac-test":"x"}}}`)
	byName := func(name string) metav1.ListOptions {
		return metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}
	}
	watch := func(opts metav1.ListOptions) error {
		w, err := mwcs.Watch(ctx, opts)
		if err == nil {
			w.Stop()
		}
		return err
	}
	checkAccess(t, []access{
		{"list SecretProviderClasses cluster-wide", true, func() error { return cl.List(ctx, spcList()) }},
		{"get a SecretProviderClass", true, func() error { return cl.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "db"}, spc()) }},
		{"get a ServiceAccount", true, func() error {
			_, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "app", metav1.GetOptions{})
			return err
		}},
		{"get its MutatingWebhookConfiguration", true, func() error { _, err := mwcs.Get(ctx, config, metav1.GetOptions{}); return err }},
		{"watch its MutatingWebhookConfiguration by name", true, func() error { return watch(byName(config)) }},
		{"patch its MutatingWebhookConfiguration", true, func() error {
			_, err := mwcs.Patch(ctx, config, types.MergePatchType, patch, dry)
			return err
		}},
		{"create its Secret", true, func() error {
			_, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secret}}, metav1.CreateOptions{})
			return err
		}},
		{"get its Secret", true, func() error { _, err := secrets.Get(ctx, secret, metav1.GetOptions{}); return err }},
		{"update its Secret", true, func() error {
			s, err := secrets.Get(ctx, secret, metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Data = map[string][]byte{"k": []byte("v")}
			_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
			return err
		}},

		{"get another MutatingWebhookConfiguration", false, func() error { _, err := mwcs.Get(ctx, "someone-else", metav1.GetOptions{}); return err }},
		{"patch another MutatingWebhookConfiguration", false, func() error {
			_, err := mwcs.Patch(ctx, "someone-else", types.MergePatchType, patch, dry)
			return err
		}},
		{"list MutatingWebhookConfigurations", false, func() error { _, err := mwcs.List(ctx, metav1.ListOptions{}); return err }},
		{"watch every MutatingWebhookConfiguration", false, func() error { return watch(metav1.ListOptions{}) }},
		{"delete its MutatingWebhookConfiguration", false, func() error {
			return mwcs.Delete(ctx, config, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		}},
		{"get another Secret in its namespace", false, func() error { _, err := secrets.Get(ctx, "other", metav1.GetOptions{}); return err }},
		{"list Secrets in its namespace", false, func() error { _, err := secrets.List(ctx, metav1.ListOptions{}); return err }},
		{"watch its Secret", false, func() error {
			w, err := secrets.Watch(ctx, byName(secret))
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"delete its Secret", false, func() error { return secrets.Delete(ctx, secret, metav1.DeleteOptions{}) }},
		{"get a Secret of that name elsewhere", false, func() error {
			_, err := cs.CoreV1().Secrets("rbac-other").Get(ctx, secret, metav1.GetOptions{})
			return err
		}},
		{"create a Secret elsewhere", false, func() error {
			_, err := cs.CoreV1().Secrets("rbac-other").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}},
		{"list Secrets cluster-wide", false, func() error { _, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err }},
		{"update a SecretProviderClass", false, func() error {
			u := spc()
			u.SetNamespace("team-a")
			u.SetName("db")
			return cl.Update(ctx, u)
		}},
		// The metadata-only ServiceAccount cache admissions read.
		{"list ServiceAccounts cluster-wide", true, func() error { _, err := cs.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{}); return err }},
		{"watch ServiceAccounts cluster-wide", true, watchServiceAccounts(ctx, cs)},
		{"create a ServiceAccount token", false, mintToken(ctx, cs)},
		{"list pods", false, func() error { _, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); return err }},
	})
}

func checkMounterRBAC(ctx context.Context, t *testing.T, env *envtest.Env) {
	cs, cl := impersonate(t, env, releaseName+"-mounter")
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "app-a.rbac", Namespace: "team-a"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team-a", Name: "app-a"},
		Reason:         "AccessDenied", Message: "test", Type: corev1.EventTypeWarning,
		Source: corev1.EventSource{Component: "aws-secrets-injector-mounter"},
	}
	checkAccess(t, []access{
		{"get a SecretProviderClass", true, func() error { return cl.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "db"}, spc()) }},
		{"list SecretProviderClasses", true, func() error { return cl.List(ctx, spcList()) }},
		{"get a ServiceAccount", true, func() error {
			_, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "app", metav1.GetOptions{})
			return err
		}},
		{"create an Event", true, func() error {
			_, err := cs.CoreV1().Events("team-a").Create(ctx, event, metav1.CreateOptions{})
			return err
		}},
		{"patch an Event", true, func() error {
			_, err := cs.CoreV1().Events("team-a").Patch(ctx, event.Name, types.MergePatchType, []byte(`{"count":2}`), metav1.PatchOptions{})
			return err
		}},

		{"get a Secret", false, func() error {
			_, err := cs.CoreV1().Secrets(releaseNS).Get(ctx, "other", metav1.GetOptions{})
			return err
		}},
		// mounter.syncSecrets is off by default: no Secret writes either.
		{"create a Secret", false, func() error {
			_, err := cs.CoreV1().Secrets("team-a").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "synced"}},
				metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}},
		{"list Secrets", false, func() error { _, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err }},
		// The per-object watches behind refreshes (--kube-cache-idle).
		{"list ServiceAccounts", true, func() error {
			_, err := cs.CoreV1().ServiceAccounts("team-a").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"watch ServiceAccounts", true, watchServiceAccounts(ctx, cs)},
		{"create a ServiceAccount token", false, mintToken(ctx, cs)},
		{"get a pod", false, func() error { _, err := cs.CoreV1().Pods("team-a").Get(ctx, "app-b", metav1.GetOptions{}); return err }},
		{"delete an Event", false, func() error { return cs.CoreV1().Events("team-a").Delete(ctx, event.Name, metav1.DeleteOptions{}) }},
		{"update a SecretProviderClass", false, func() error {
			u := spc()
			u.SetNamespace("team-a")
			u.SetName("db")
			return cl.Update(ctx, u)
		}},
	})
}

// syncValues install the mounter with mounter.syncSecrets under names of
// its own (ci/sync-secrets-values.yaml), beside the default install.
var syncValues = vals("fullnameOverride", "asi-sync", "mounter", vals("syncSecrets", true))

// checkMounterSyncRBAC creates the RBAC of a mounter with
// mounter.syncSecrets and checks that it may get, create and update Secrets
// in any namespace (spec.secretObjects are synced in the pods' namespaces)
// and nothing more on them: no list, watch, patch or delete.
func checkMounterSyncRBAC(ctx context.Context, t *testing.T, env *envtest.Env) {
	const name = "asi-sync-mounter"
	for _, o := range renderChart(t, syncValues).Objects {
		switch o.(type) {
		case *corev1.ServiceAccount, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
			if o.GetName() == name {
				mustCreate(ctx, t, env.Client, o)
			}
		}
	}
	cs, cl := impersonate(t, env, name)
	// The RBAC was created just now: the API server's authorizer learns of it
	// through its own watch. Wait until it answers for the new role.
	waitAllowed(ctx, t, cs, authorizationv1.ResourceAttributes{Namespace: "team-b", Verb: "create", Resource: "secrets"})
	secrets := cs.CoreV1().Secrets("team-b")
	checkAccess(t, []access{
		{"create a Secret in a pod's namespace", true, func() error {
			_, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "synced"}, Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{"k": []byte("v1")}}, metav1.CreateOptions{})
			return err
		}},
		{"get it", true, func() error { _, err := secrets.Get(ctx, "synced", metav1.GetOptions{}); return err }},
		{"update it", true, func() error {
			s, err := secrets.Get(ctx, "synced", metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Data = map[string][]byte{"k": []byte("v2")}
			_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
			return err
		}},
		{"create a Secret in another namespace", true, func() error {
			_, err := cs.CoreV1().Secrets("team-a").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "synced"}},
				metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}},
		// What the rest of its role allows still holds.
		{"get a SecretProviderClass", true, func() error { return cl.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "db"}, spc()) }},
		{"list ServiceAccounts", true, func() error {
			_, err := cs.CoreV1().ServiceAccounts("team-a").List(ctx, metav1.ListOptions{})
			return err
		}},

		{"list Secrets in a namespace", false, func() error { _, err := secrets.List(ctx, metav1.ListOptions{}); return err }},
		{"list Secrets cluster-wide", false, func() error { _, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err }},
		{"watch Secrets", false, func() error {
			w, err := secrets.Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"patch a Secret", false, func() error {
			_, err := secrets.Patch(ctx, "synced", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
			return err
		}},
		{"delete a Secret", false, func() error { return secrets.Delete(ctx, "synced", metav1.DeleteOptions{}) }},
	})
	s, err := env.Clientset.CoreV1().Secrets("team-b").Get(ctx, "synced", metav1.GetOptions{})
	if err != nil || string(s.Data["k"]) != "v2" {
		t.Errorf("the mounter's update did not land: %v", err)
	}
}
