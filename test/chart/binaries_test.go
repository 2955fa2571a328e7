//go:build integration

package chart_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/examples"
	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// checkRealBinaries runs the real binaries the chart's containers name (their
// command: the lean /asi-webhook and /asi-mounter) with the chart's own
// arguments (only addresses, paths and the kubeconfig replaced to fit a test) against
// the API server and waits until each component is healthy. The webhook runs
// as its ServiceAccount (impersonation), so its readiness proves the chart's
// RBAC suffices for the self-managed certificate bootstrap and the
// SecretProviderClass cache. Then it checks that the chart's memory request
// covers the measured RSS and the limit leaves at least 2x headroom. The
// mounter is measured idle; its RSS with 500 volumes comes from `make bench`
// (BenchmarkMounterRSS) and is noted in values.yaml.
func checkRealBinaries(ctx context.Context, t *testing.T, env *envtest.Env, r *rendered) {
	t.Run("webhook", func(t *testing.T) {
		dep := one[*appsv1.Deployment](t, r, releaseName+"-webhook")
		c := dep.Spec.Template.Spec.Containers[0]
		bin := containerBinary(t, c)
		// Start from scratch: the self-managed bootstrap creates the Secret.
		err := env.Clientset.CoreV1().Secrets(releaseNS).Delete(ctx, releaseName+"-webhook-tls", metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		// The webhook runs as its ServiceAccount, so readiness also proves the
		// chart's RBAC is enough for the real binary: the SecretProviderClass
		// informer, the certificate Secret and the caBundle patch.
		kubeconfig := impersonatingKubeconfig(t, env, releaseName+"-webhook")
		port, health := freePort(t), freePort(t)
		args := append(c.Args[:len(c.Args):len(c.Args)], "--kubeconfig="+kubeconfig, "--host=127.0.0.1",
			"--port="+strconv.Itoa(port), "--health-addr=127.0.0.1:"+strconv.Itoa(health), "--metrics-addr=0")
		var during func(context.Context)
		if rps := loadRate(t); rps > 0 {
			during = admissionLoad(ctx, t, env, "https://127.0.0.1:"+strconv.Itoa(port)+"/mutate-pods", rps)
		}
		rss := runMeasured(ctx, t, bin, args, nil, "http://127.0.0.1:"+strconv.Itoa(health)+"/readyz", during)
		what := "webhook, idle"
		if during != nil {
			what = "webhook, under load"
		}
		checkMemory(t, what, c, rss)

		mwc, err := env.Clientset.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, releaseName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(mwc.Webhooks[0].ClientConfig.CABundle) == 0 {
			t.Errorf("the webhook did not patch the caBundle into %s", mwc.Name)
		}
		sec, err := env.Clientset.CoreV1().Secrets(releaseNS).Get(ctx, releaseName+"-webhook-tls", metav1.GetOptions{})
		if err != nil || len(sec.Data) == 0 {
			t.Errorf("certificate Secret: %v", err)
		}
	})
	t.Run("mounter", func(t *testing.T) {
		ds := one[*appsv1.DaemonSet](t, r, releaseName+"-mounter")
		c := ds.Spec.Template.Spec.Containers[0]
		bin := containerBinary(t, c)
		// Unix socket paths are limited to 108 bytes: a short directory.
		short, err := os.MkdirTemp("", "asi")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(short) })
		kubelet := filepath.Join(short, "kubelet")
		plugin := filepath.Join(kubelet, "plugins", "csi.aws-secrets-injector.io")
		for _, d := range []string{filepath.Join(kubelet, "plugins_registry"), plugin} {
			if err := os.MkdirAll(d, 0o750); err != nil {
				t.Fatal(err)
			}
		}
		http := freePort(t)
		args := append(c.Args[:len(c.Args):len(c.Args)], "--kubeconfig="+env.KubeConfigFile, "--kubelet-dir="+kubelet,
			"--plugin-dir="+plugin, "--endpoint=unix://"+filepath.Join(plugin, "csi.sock"),
			"--kubelet-registration-path="+filepath.Join(plugin, "csi.sock"), "--node-name=node-1",
			"--http-address=127.0.0.1:"+strconv.Itoa(http), "--region=us-east-1")
		env := []string{"AWS_EC2_METADATA_DISABLED=true"}
		rss := runMeasured(ctx, t, bin, args, env, "http://127.0.0.1:"+strconv.Itoa(http)+"/healthz", nil)
		checkMemory(t, "mounter, idle", c, rss)
	})
}

// containerBinary builds the main package that the image holds at c's
// command (/asi-webhook is cmd/asi-webhook).
func containerBinary(t *testing.T, c corev1.Container) string {
	t.Helper()
	if len(c.Command) != 1 || !strings.HasPrefix(c.Command[0], "/") || strings.Count(c.Command[0], "/") != 1 {
		t.Fatalf("container %s: command %q is not one binary at the image's root", c.Name, c.Command)
	}
	return testbin.Path(t, strings.TrimPrefix(c.Command[0], "/"))
}

// impersonatingKubeconfig writes a kubeconfig acting as the release's
// ServiceAccount name.
func impersonatingKubeconfig(t *testing.T, env *envtest.Env, name string) string {
	t.Helper()
	cfg, err := clientcmd.Load(env.KubeConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = "system:serviceaccount:" + releaseNS + ":" + name
		a.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNS, "system:authenticated"}
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// runMeasured starts bin with args, waits until url answers 200, lets it
// settle (running during, when set, for that time) and returns its VmRSS in
// bytes; the process is stopped at the end.
func runMeasured(ctx context.Context, t *testing.T, bin string, args, env []string, url string, during func(context.Context)) int64 {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s did not become healthy at %s (last: %v)\n%s", args[0], url, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	settle := settleTime(t)
	if during != nil {
		lctx, cancel := context.WithTimeout(ctx, settle)
		during(lctx)
		cancel()
	} else {
		time.Sleep(settle)
	}
	return vmRSS(t, cmd.Process.Pid)
}

// loadRate is $CHART_WEBHOOK_RPS: admission requests a second sent to the
// real webhook while it settles (0, the default: none). With
// CHART_RSS_SETTLE=65s the VmRSS read is that of a minute under load.
func loadRate(t *testing.T) int {
	t.Helper()
	v := os.Getenv("CHART_WEBHOOK_RPS")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 5000 {
		t.Fatalf("CHART_WEBHOOK_RPS=%q: want 0 to 5000 requests a second", v)
	}
	return n
}

// admissionLoad returns a load generator for the webhook at url: rps
// AdmissionReviews a second of a CSI-mode pod of a class that exists, over
// loopback TLS (the webhook's self-managed certificate is not checked: the
// caBundle test above does), until its context ends. It fails the test
// unless every answer allowed the pod with a patch.
func admissionLoad(ctx context.Context, t *testing.T, env *envtest.Env, url string, rps int) func(context.Context) {
	t.Helper()
	const ns = "load"
	if _, err := env.CreateNamespace(ctx, ns, nil); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := env.CreateSecretProviderClass(ctx, ns, examples.SeedClass); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: map[string]string{
			"aws-secrets-injector.io/inject": "true", "aws-secrets-injector.io/secret-provider-class": "aws-secretsmanager-reader",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // loopback, the test's own webhook
		ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}}
	return func(lctx context.Context) {
		var sent, patched, failed atomic.Int64
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(rps))
		defer tick.Stop()
		start := time.Now()
	loop:
		for i := 0; ; i++ {
			select {
			case <-lctx.Done():
				break loop
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent.Add(1)
				body, _ := json.Marshal(admissionv1.AdmissionReview{
					TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
					Request: &admissionv1.AdmissionRequest{UID: types.UID(fmt.Sprintf("load-%d", i)), Operation: admissionv1.Create,
						Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
						Namespace: ns, Object: runtime.RawExtension{Raw: raw}},
				})
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					return
				}
				defer func() { _ = resp.Body.Close() }()
				var rev admissionv1.AdmissionReview
				if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&rev) != nil || rev.Response == nil ||
					!rev.Response.Allowed || len(rev.Response.Patch) == 0 {
					failed.Add(1)
					return
				}
				patched.Add(1)
			}()
		}
		wg.Wait()
		t.Logf("webhook load: %d admissions in %s (%.0f a second offered), %d patched, %d failed",
			sent.Load(), time.Since(start).Round(time.Second), float64(rps), patched.Load(), failed.Load())
		if failed.Load() > 0 || patched.Load() == 0 {
			t.Errorf("webhook load: %d of %d admissions failed", failed.Load(), sent.Load())
		}
	}
}

// settleTime is how long a binary runs healthy before its VmRSS is read:
// $CHART_RSS_SETTLE, default 2s. The role binaries give back their code
// pages a minute after start (cmd/internal/app.ShedPeriod), so 65s measures
// the resident set of an idle minute.
func settleTime(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("CHART_RSS_SETTLE")
	if v == "" {
		return 2 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("CHART_RSS_SETTLE=%q: want a duration such as 65s", v)
	}
	return d
}

func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func checkMemory(t *testing.T, what string, c corev1.Container, rss int64) {
	t.Helper()
	req, limit := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
	t.Logf("%s: VmRSS %.1f MiB; chart requests %s, limit %s", what, float64(rss)/(1<<20), req, limit)
	if req.Value() < rss {
		t.Errorf("%s: memory request %s is below the measured RSS %s", what, req, resource.NewQuantity(rss, resource.BinarySI))
	}
	if limit.Value() < 2*rss {
		t.Errorf("%s: memory limit %s leaves less than 2x the measured RSS %s", what, limit, resource.NewQuantity(rss, resource.BinarySI))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
