//go:build integration

package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	dto "github.com/prometheus/client_model/go"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
)

const ownNamespace = "aws-secrets-injector"

// webhookConfig is the MutatingWebhookConfiguration the chart renders (see
// the package doc), with the path relative so that envtest's rewrite to a
// URL yields https://host:port/mutate-pods.
func webhookConfig(name string) *admissionregistrationv1.MutatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	scope := admissionregistrationv1.NamespacedScope
	timeout := int32(10)
	path := strings.TrimPrefix(MutatePath, "/")
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.aws-secrets-injector.io",
			AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: ownNamespace, Name: DefaultServiceName, Path: &path}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"pods"}, Scope: &scope},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: NamespaceLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{NamespaceLabelValue}},
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn,
					Values: []string{ownNamespace, "kube-system", "kube-public"}},
			}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name: "inject-annotation",
				Expression: "has(object.metadata.annotations) && '" + AnnotationInject + "' in object.metadata.annotations && " +
					"object.metadata.annotations['" + AnnotationInject + "'] == 'true'",
			}, {
				Name:       "not-mirror-pod",
				Expression: "!has(object.metadata.annotations) || !('" + MirrorPodAnnotation + "' in object.metadata.annotations)",
			}},
			SideEffects:        &none,
			ReinvocationPolicy: &ifNeeded,
			FailurePolicy:      &fail,
			TimeoutSeconds:     &timeout,
		}},
	}
}

func createClass(t testing.TB, env *envtest.Env, ns, name string) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"provider": "aws", "parameters": map[string]any{"objects": seedObjects, "region": "us-east-1"}},
	}}
	u.SetGroupVersionKind(SecretProviderClassGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	if err := env.Client.Create(context.Background(), u); err != nil {
		t.Fatalf("create SecretProviderClass %s/%s: %v", ns, name, err)
	}
}

func plainPod(name string, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, GenerateName: "pod-", Annotations: ann},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
	}
}

func injectAnn(class string) map[string]string {
	return map[string]string{AnnotationInject: "true", AnnotationSecretProviderClass: class}
}

// admissionCalls sums aws_secrets_injector_webhook_admissions_total.
func admissionCalls(t *testing.T) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "aws_secrets_injector_webhook_admissions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += counterValue(m)
		}
	}
	return sum
}

func counterValue(m *dto.Metric) float64 { return m.GetCounter().GetValue() }

// TestAPIServerCallsWebhook runs the webhook as the binary does (Run) with the
// certificate envtest generated (files mode) and the real API server calling
// it through the MutatingWebhookConfiguration the chart renders.
func TestAPIServerCallsWebhook(t *testing.T) {
	env := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfig(DefaultWebhookConfigName)},
	}))
	o := NewOptions()
	o.Kubeconfig = env.KubeConfigFile
	o.Host, o.Port = env.Webhook.LocalServingHost, env.Webhook.LocalServingPort
	o.MetricsAddr, o.HealthAddr = freeAddr(t), freeAddr(t)
	o.Namespace = ownNamespace
	o.Certs.Mode, o.Certs.Dir = certs.ModeFiles, env.Webhook.LocalServingCertDir
	ctx := startRun(t, o)

	cs := env.Clientset
	for _, ns := range []struct {
		name   string
		labels map[string]string
	}{{"opted", map[string]string{NamespaceLabel: NamespaceLabelValue}}, {"plain", nil}, {ownNamespace, map[string]string{NamespaceLabel: NamespaceLabelValue}}} {
		if _, err := env.CreateNamespace(ctx, ns.name, ns.labels); err != nil {
			t.Fatal(err)
		}
		createClass(t, env, ns.name, "db")
	}

	t.Run("labelled namespace, annotated pod: mutated", func(t *testing.T) {
		before := admissionCalls(t)
		p, err := cs.CoreV1().Pods("opted").Create(ctx, plainPod("a", injectAnn("db")), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Annotations[AnnotationStatus] != StatusInjected {
			t.Fatalf("pod not marked injected: %v", p.Annotations)
		}
		var vol *corev1.Volume
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].Name == DefaultVolumeName {
				vol = &p.Spec.Volumes[i]
			}
		}
		if vol == nil || vol.CSI == nil || vol.CSI.Driver != DefaultDriverName || vol.CSI.VolumeAttributes["secretProviderClass"] != "db" ||
			vol.CSI.ReadOnly == nil || !*vol.CSI.ReadOnly {
			t.Fatalf("no inline CSI volume: %+v", p.Spec.Volumes)
		}
		found := false
		for _, vm := range p.Spec.Containers[0].VolumeMounts {
			found = found || (vm.Name == DefaultVolumeName && vm.MountPath == DefaultMountPath && vm.ReadOnly)
		}
		if !found {
			t.Fatalf("no read-only mount at %s: %+v", DefaultMountPath, p.Spec.Containers[0].VolumeMounts)
		}
		if got := admissionCalls(t) - before; got < 1 {
			t.Fatalf("webhook called %v times", got)
		}
	})

	untouched := func(ns, name string, ann map[string]string) func(t *testing.T) {
		return func(t *testing.T) {
			before := admissionCalls(t)
			p, err := cs.CoreV1().Pods(ns).Create(ctx, plainPod(name, ann), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := p.Annotations[AnnotationStatus]; ok {
				t.Fatal("pod was mutated")
			}
			for _, v := range p.Spec.Volumes {
				if v.CSI != nil {
					t.Fatalf("pod got a CSI volume: %+v", v)
				}
			}
			if got := admissionCalls(t) - before; got != 0 {
				t.Fatalf("webhook was called %v times; the API server should not have called it", got)
			}
		}
	}
	t.Run("unlabelled namespace: untouched, webhook not called", untouched("plain", "b", injectAnn("db")))
	t.Run("own namespace: untouched, webhook not called", untouched(ownNamespace, "c", injectAnn("db")))
	t.Run("unannotated pod: untouched, webhook not called", untouched("opted", "d", nil))
	t.Run("inject false: untouched, webhook not called", untouched("opted", "e", map[string]string{AnnotationInject: "false"}))

	t.Run("metrics and health endpoints", func(t *testing.T) {
		for url, want := range map[string]string{
			"http://" + o.MetricsAddr + "/metrics": `aws_secrets_injector_webhook_admissions_total{result="mutated"}`,
			"http://" + o.HealthAddr + HealthzPath: "ok",
			"http://" + o.HealthAddr + ReadyzPath:  "ok",
		} {
			body := httpGet(t, url)
			if !strings.Contains(body, want) {
				t.Errorf("%s: %q does not contain %q", url, body, want)
			}
		}
	})

	t.Run("missing SecretProviderClass: refused with the message", func(t *testing.T) {
		_, err := cs.CoreV1().Pods("opted").Create(ctx, plainPod("f", injectAnn("missing")), metav1.CreateOptions{})
		if err == nil {
			t.Fatal("pod created")
		}
		for _, want := range []string{AnnotationSecretProviderClass, `SecretProviderClass "missing" not found in namespace "opted"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunSelfManaged runs two webhook instances as the binary does, in
// self-managed mode: they bootstrap one CA in one Secret, patch it into the
// webhook configuration in place of envtest's, serve the same certificate,
// and the API server admits a pod through the one it calls.
func TestRunSelfManaged(t *testing.T) {
	const mwcName = "aws-secrets-injector-run"
	env := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfig(mwcName)},
	}))
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), runLogger()))
	defer cancel()
	for ns, labels := range map[string]map[string]string{ownNamespace: nil, "opted": {NamespaceLabel: NamespaceLabelValue}} {
		if _, err := env.CreateNamespace(ctx, ns, labels); err != nil {
			t.Fatal(err)
		}
	}
	createClass(t, env, "opted", "db")
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	addrs := make([]string, 2)
	for i := range addrs {
		o := NewOptions()
		o.Kubeconfig = env.KubeConfigFile
		o.Host = env.Webhook.LocalServingHost
		if i == 0 {
			o.Port = env.Webhook.LocalServingPort
		} else {
			_, p, _ := net.SplitHostPort(freeAddr(t))
			o.Port, _ = strconv.Atoi(p)
		}
		o.MetricsAddr, o.HealthAddr = "0", "0"
		o.Namespace = ownNamespace
		o.WebhookConfigName = mwcName
		o.Certs.ExtraHosts = []string{o.Host}
		o.Certs.CheckInterval = time.Second
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		addrs[i] = net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
		wg.Go(func() {
			if err := Run(ctx, o); err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		})
	}
	first, second := waitTLS(t, addrs[0]), waitTLS(t, addrs[1])
	if first.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatal("the two instances serve different certificates")
	}
	eventually(t, 20*time.Second, "pod admitted through the webhook", func() bool {
		p, err := env.Clientset.CoreV1().Pods("opted").Create(ctx, plainPod("", injectAnn("db")), metav1.CreateOptions{})
		return err == nil && p.Annotations[AnnotationStatus] == StatusInjected
	})
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get("https://" + addr + ReadyzPath)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webhookIdentity creates a service account with exactly the RBAC the
// package doc lists and returns a client configuration impersonating it.
func webhookIdentity(t *testing.T, env *envtest.Env, secretName, mwcName string) *rest.Config {
	t.Helper()
	ctx := context.Background()
	cs := env.Clientset
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "webhook", Namespace: ownNamespace}}
	if _, err := cs.CoreV1().ServiceAccounts(ownNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "webhook", Namespace: ownNamespace}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "webhook-certs", Namespace: ownNamespace}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{secretName}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
	}}
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "webhook"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"secrets-store.csi.x-k8s.io"}, Resources: []string{"secretproviderclasses"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"get"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"},
			ResourceNames: []string{mwcName}, Verbs: []string{"get", "watch", "patch"}},
	}}
	if _, err := cs.RbacV1().Roles(ownNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ownNamespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "webhook-certs", Namespace: ownNamespace},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name}, Subjects: subject}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "webhook"},
		RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cr.Name}, Subjects: subject}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ownNamespace + ":webhook"}
	return cfg
}

// TestSelfManagedCertificates: two certificate managers bootstrap one CA in
// one Secret concurrently, with only the documented RBAC; the API server
// trusts it (pods go through the webhook over TLS with our caBundle in place
// of envtest's); a forced renewal on one instance is served by the other
// without a restart.
func TestSelfManagedCertificates(t *testing.T) {
	const mwcName, secretName = "aws-secrets-injector", "webhook-tls"
	env := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfig(mwcName)},
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := env.CreateNamespace(ctx, ownNamespace, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.CreateNamespace(ctx, "opted", map[string]string{NamespaceLabel: NamespaceLabelValue}); err != nil {
		t.Fatal(err)
	}
	createClass(t, env, "opted", "db")
	limited, err := kubernetes.NewForConfig(webhookIdentity(t, env, secretName, mwcName))
	if err != nil {
		t.Fatal(err)
	}
	host := env.Webhook.LocalServingHost
	newManager := func() *certs.SelfManaged {
		return certs.NewSelfManaged(certs.SelfManagedConfig{
			Client: limited, Namespace: ownNamespace, SecretName: secretName, WebhookConfigName: mwcName,
			CheckInterval: 200 * time.Millisecond,
			Policy: certs.Policy{Hosts: append(certs.ServiceHosts(DefaultServiceName, ownNamespace), host, "localhost"),
				CommonName: "test-ca", CAValidity: 48 * time.Hour, ServingValidity: 24 * time.Hour},
		})
	}
	a, b := newManager(), newManager()

	// 1. Concurrent bootstrap: one Secret, one CA, the same certificate.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, m := range []*certs.SelfManaged{a, b} {
		wg.Go(func() { errs <- m.Sync(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("bootstrap: %v", err)
		}
	}
	for _, m := range []*certs.SelfManaged{a, b} {
		go func() { _ = m.Start(ctx) }()
	}
	certA, _ := a.GetCertificate(nil)
	certB, _ := b.GetCertificate(nil)
	if string(certA.Certificate[0]) != string(certB.Certificate[0]) {
		t.Fatal("the two instances disagree on the serving certificate")
	}
	sec, err := env.Clientset.CoreV1().Secrets(ownNamespace).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mwc, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, mwcName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(mwc.Webhooks[0].ClientConfig.CABundle) != string(sec.Data[certs.KeyCABundle]) {
		t.Fatal("caBundle is not the Secret's bundle")
	}

	// 2. Serve with instance b's certificate source; the API server must
	// trust it to admit the pod.
	srv := newWebhookServer(host, env.Webhook.LocalServingPort, b, tls.VersionTLS12)
	h := &Handler{Config: Config{DriverName: DefaultDriverName, DefaultMode: ModeCSI, DefaultMountPath: DefaultMountPath, Namespace: ownNamespace},
		Lookups: ClientLookups{Classes: env.Client, ServiceAccounts: env.Client}}
	Register(srv, h, func(*http.Request) error { return b.Ready() })
	go func() { _ = srv.Start(ctx) }()
	addr := net.JoinHostPort(host, strconv.Itoa(env.Webhook.LocalServingPort))
	served := waitTLS(t, addr)
	createMutated := func(name string) {
		t.Helper()
		p, err := env.Clientset.CoreV1().Pods("opted").Create(ctx, plainPod(name, injectAnn("db")), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod through the webhook: %v", err)
		}
		if p.Annotations[AnnotationStatus] != StatusInjected {
			t.Fatal("pod not mutated")
		}
	}
	createMutated("first")

	// 3. Someone resets the caBundle: the watch re-patches it.
	mwc.Webhooks[0].ClientConfig.CABundle = []byte("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n")
	if _, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "caBundle re-patched", func() bool {
		cur, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, mwcName, metav1.GetOptions{})
		return err == nil && string(cur.Webhooks[0].ClientConfig.CABundle) == string(sec.Data[certs.KeyCABundle])
	})

	// 4. Forced renewal on a; b serves it without a restart.
	if err := a.RenewServing(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "renewed certificate served", func() bool {
		leaf := waitTLS(t, addr)
		return leaf.SerialNumber.Cmp(served.SerialNumber) != 0
	})
	createMutated("second")
}

func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSelfManagedCARollover drives a clock through a CA rollover (the
// certificates stay valid in real time): bootstrap a week ago, stage the
// next CA, promote it now. The API server admits pods at every step, and the
// bundle keeps the previous CA after the promotion.
func TestSelfManagedCARollover(t *testing.T) {
	const mwcName, secretName = "aws-secrets-injector-rollover", "rollover-tls"
	env := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfig(mwcName)},
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for ns, labels := range map[string]map[string]string{ownNamespace: nil, "opted": {NamespaceLabel: NamespaceLabelValue}} {
		if _, err := env.CreateNamespace(ctx, ns, labels); err != nil {
			t.Fatal(err)
		}
	}
	createClass(t, env, "opted", "db")
	real := time.Now()
	var mu sync.Mutex
	now := real.Add(-7 * 24 * time.Hour)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	host := env.Webhook.LocalServingHost
	m := certs.NewSelfManaged(certs.SelfManagedConfig{
		Client: env.Clientset, Namespace: ownNamespace, SecretName: secretName, WebhookConfigName: mwcName,
		CheckInterval: time.Hour, Now: clock,
		Policy: certs.Policy{Hosts: []string{host}, CommonName: "rollover-ca", CAValidity: 10 * 24 * time.Hour, ServingValidity: 5 * 24 * time.Hour},
	})
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	srv := newWebhookServer(host, env.Webhook.LocalServingPort, m, tls.VersionTLS12)
	h := &Handler{Config: Config{DriverName: DefaultDriverName, DefaultMode: ModeCSI, DefaultMountPath: DefaultMountPath, Namespace: ownNamespace},
		Lookups: ClientLookups{Classes: env.Client, ServiceAccounts: env.Client}}
	Register(srv, h, func(*http.Request) error { return m.Ready() })
	go func() { _ = srv.Start(ctx) }()
	waitTLS(t, net.JoinHostPort(host, strconv.Itoa(env.Webhook.LocalServingPort)))

	bundle := func() []*x509.Certificate {
		cur, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, mwcName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		all, err := certs.ParseCertificates(cur.Webhooks[0].ClientConfig.CABundle)
		if err != nil {
			t.Fatal(err)
		}
		var ours []*x509.Certificate // envtest's CA stays trusted until it expires
		for _, c := range all {
			if c.Subject.CommonName == "rollover-ca" {
				ours = append(ours, c)
			}
		}
		return ours
	}
	admit := func(step string) {
		t.Helper()
		eventually(t, 10*time.Second, step+": pod admitted", func() bool {
			p, err := env.Clientset.CoreV1().Pods("opted").Create(ctx, plainPod("", injectAnn("db")), metav1.CreateOptions{})
			return err == nil && p.Annotations[AnnotationStatus] == StatusInjected
		})
	}

	// 1. Five and a half days later: next CA staged, serving certificate renewed.
	setClock(real.Add(-36 * time.Hour))
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	staged := bundle()
	if len(staged) != 2 {
		t.Fatalf("after staging the bundle holds %d CAs, want 2", len(staged))
	}
	admit("staged")

	// 2. Now: the staged CA signs; the previous one stays trusted.
	setClock(real)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	after := bundle()
	if len(after) != 2 || !after[0].Equal(staged[1]) || !after[1].Equal(staged[0]) {
		t.Fatalf("after promotion the bundle is not [new CA, previous CA]: %d certificates", len(after))
	}
	leaf := waitTLS(t, net.JoinHostPort(host, strconv.Itoa(env.Webhook.LocalServingPort)))
	if err := leaf.CheckSignatureFrom(after[0]); err != nil {
		t.Fatalf("served certificate not signed by the promoted CA: %v", err)
	}
	admit("promoted")
}

// startRun validates o and runs the webhook as the binary does (Run) until the
// test ends, waiting until it serves TLS and is ready. The returned context
// carries the logger and ends with the test.
func startRun(t *testing.T, o *Options) context.Context {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), runLogger()))
	done := make(chan error, 1)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	go func() { done <- Run(ctx, o) }()
	addr := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	waitTLS(t, addr)
	waitReady(t, addr)
	return ctx
}

// runLogger is the logger handed to Run in these tests. Not testr: Run installs
// it as controller-runtime's global logger, which can be set only once per
// process, so a later test's webhook server would log through an earlier
// test's finished *testing.T and panic.
func runLogger() logr.Logger {
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
}
