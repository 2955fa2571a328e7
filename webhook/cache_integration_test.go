//go:build integration

package webhook

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
)

// serviceAccountGETs is the API server's own count of GET requests for
// ServiceAccounts (apiserver_request_total), from whichever client.
func serviceAccountGETs(ctx context.Context, t *testing.T, env *envtest.Env) float64 {
	t.Helper()
	raw, err := env.Clientset.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("API server metrics: %v", err)
	}
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="serviceaccounts"`) ||
			!strings.Contains(line, `verb="GET"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// startInitWebhook starts an API server calling the webhook through
// mwcName, and the webhook as the binary runs it (Run) with init mode the
// default and the envtest's certificate.
func startInitWebhook(t *testing.T, mwcName string) (*envtest.Env, context.Context) {
	t.Helper()
	env := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfig(mwcName)},
	}))
	o := initOptions(env, mwcName)
	o.DefaultMode = string(ModeInit)
	// Run calls Settled once its caches have synced (the binary gives back
	// its start-up pages there); checked after Run has returned.
	var settled atomic.Int32
	o.Settled = func() { settled.Add(1) }
	t.Cleanup(func() {
		if n := settled.Load(); n != 1 {
			t.Errorf("Run called Settled %d times, want once", n)
		}
	})
	ctx := startRun(t, o)
	return env, ctx
}

// initOptions are the options of a webhook Run on env's serving address,
// with files-mode certificates, the test injector image and region us-east-1.
func initOptions(env *envtest.Env, mwcName string) *Options {
	o := NewOptions()
	o.Kubeconfig = env.KubeConfigFile
	o.Host, o.Port = env.Webhook.LocalServingHost, env.Webhook.LocalServingPort
	o.MetricsAddr, o.HealthAddr = "0", "0"
	o.Namespace = ownNamespace
	o.WebhookConfigName = mwcName
	o.Certs.Mode, o.Certs.Dir = certs.ModeFiles, env.Webhook.LocalServingCertDir
	o.InjectorImage = "example.com/aws-secrets-injector:test"
	o.InjectorAWSRegion = "us-east-1"
	return o
}

func roleEnv(p *corev1.Pod) string {
	for _, c := range p.Spec.InitContainers {
		if c.Name != InjectorContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == envAWSRoleARN {
				return e.Value
			}
		}
	}
	return ""
}

// TestAdmissionReadsOnlyCaches runs the webhook as the binary does (Run)
// behind the real API server and counts, on the API server's side, the
// ServiceAccount GETs that init-mode admissions cause: none once the account
// is in the webhook's watch-fed cache (each admission used to GET it, through
// client-go's default 5 QPS: admission capped at 5 pods a second). An account
// created right before its pod is still honoured (a cache miss asks the API
// server).
func TestAdmissionReadsOnlyCaches(t *testing.T) {
	const mwcName, roleARN = "aws-secrets-injector-cache", "arn:aws:iam::111122223333:role/my-app"
	env, ctx := startInitWebhook(t, mwcName)

	cs := env.Clientset
	if _, err := env.CreateNamespace(ctx, "opted", map[string]string{NamespaceLabel: NamespaceLabelValue}); err != nil {
		t.Fatal(err)
	}
	createClass(t, env, "opted", "db")
	create := func(sa string) *corev1.Pod {
		t.Helper()
		p := plainPod("", injectAnn("db"))
		p.Spec.ServiceAccountName = sa
		out, err := cs.CoreV1().Pods("opted").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod as %s: %v", sa, err)
		}
		return out
	}

	// Accounts created right before their pods: a cache miss asks the API
	// server, so the role is never lost to the watch's delay.
	for i := range 5 {
		name := "fresh-" + strconv.Itoa(i)
		if _, err := env.CreateServiceAccount(ctx, "opted", name, map[string]string{IRSARoleARNAnnotation: roleARN}); err != nil {
			t.Fatal(err)
		}
		if got := roleEnv(create(name)); got != roleARN {
			t.Errorf("pod of a just-created account: AWS_ROLE_ARN %q, want %q", got, roleARN)
		}
	}

	// Once the watch has them, admissions make no API call.
	if _, err := env.CreateServiceAccount(ctx, "opted", "my-app", map[string]string{IRSARoleARNAnnotation: roleARN}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the account in the webhook's cache", func() bool {
		before := serviceAccountGETs(ctx, t, env)
		return roleEnv(create("my-app")) == roleARN && serviceAccountGETs(ctx, t, env) == before
	})
	const pods = 30
	before := serviceAccountGETs(ctx, t, env)
	for range pods {
		if got := roleEnv(create("my-app")); got != roleARN {
			t.Fatalf("AWS_ROLE_ARN %q, want %q", got, roleARN)
		}
	}
	if got := serviceAccountGETs(ctx, t, env) - before; got != 0 {
		t.Errorf("%d init-mode admissions made %v ServiceAccount GETs, want 0 (the cache serves them)", pods, got)
	}

	// A changed annotation reaches admissions through the watch.
	const other = "arn:aws:iam::111122223333:role/other"
	sa, err := cs.CoreV1().ServiceAccounts("opted").Get(ctx, "my-app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa.Annotations[IRSARoleARNAnnotation] = other
	if _, err := cs.CoreV1().ServiceAccounts("opted").Update(ctx, sa, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the changed role in admissions", func() bool { return roleEnv(create("my-app")) == other })
}

// TestInitBurstTable creates a burst of init-mode pods (an IRSA account, so
// each admission needs its ServiceAccount) through the real API server and the
// webhook as the binary runs it, BURST_CONCURRENCY creations at a time, and
// prints the achieved rate and the creation latency (API server and webhook
// together). Every pod must be admitted and injected: with failurePolicy Fail,
// an admission over the webhook's 10 s timeout is a refused pod. BURST_PODS
// (default 100; make bench: 1000) sets the burst.
func TestInitBurstTable(t *testing.T) {
	pods, conc := envInt(t, "BURST_PODS", 100, 1, 5000), envInt(t, "BURST_CONCURRENCY", 50, 1, 500)
	const mwcName, roleARN = "aws-secrets-injector-burst", "arn:aws:iam::111122223333:role/my-app"
	env, ctx := startInitWebhook(t, mwcName)
	if _, err := env.CreateNamespace(ctx, "burst", map[string]string{NamespaceLabel: NamespaceLabelValue}); err != nil {
		t.Fatal(err)
	}
	createClass(t, env, "burst", "db")
	if _, err := env.CreateServiceAccount(ctx, "burst", "my-app", map[string]string{IRSARoleARNAnnotation: roleARN}); err != nil {
		t.Fatal(err)
	}
	// The load generator's own client must not be the bottleneck.
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 5000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the account in the webhook's cache", func() bool {
		before := serviceAccountGETs(ctx, t, env)
		p := plainPod("", injectAnn("db"))
		p.Spec.ServiceAccountName = "my-app"
		out, err := cs.CoreV1().Pods("burst").Create(ctx, p, metav1.CreateOptions{})
		return err == nil && roleEnv(out) == roleARN && serviceAccountGETs(ctx, t, env) == before
	})

	lat := make([]time.Duration, pods)
	errs := make(chan error, pods)
	gets := serviceAccountGETs(ctx, t, env)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range pods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := plainPod("", injectAnn("db"))
			p.Spec.ServiceAccountName = "my-app"
			t0 := time.Now()
			out, err := cs.CoreV1().Pods("burst").Create(ctx, p, metav1.CreateOptions{})
			lat[i] = time.Since(t0)
			switch {
			case err != nil:
				errs <- err
			case roleEnv(out) != roleARN || out.Annotations[AnnotationStatus] != StatusInjected:
				errs <- fmt.Errorf("pod %s not injected with the role: %v", out.Name, out.Annotations)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d pods not admitted and injected", n, pods)
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		return lat[min(len(lat)-1, int(f*float64(len(lat))))].Round(100 * time.Microsecond)
	}
	t.Logf("| init-mode burst | pods | concurrency | admitted | pods/s | create p50 | p99 | max | ServiceAccount GETs |")
	t.Logf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	t.Logf("| through the real API server | %d | %d | %d | %.0f | %v | %v | %v | %v |", pods, conc, pods-n,
		float64(pods)/wall.Seconds(), q(0.5), q(0.99), lat[len(lat)-1].Round(100*time.Microsecond), serviceAccountGETs(ctx, t, env)-gets)
}

func envInt(t *testing.T, name string, def, lo, hi int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		t.Fatalf("%s=%q: want %d..%d", name, v, lo, hi)
	}
	return n
}
