//go:build integration

package chart_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
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
		rss := runMeasured(ctx, t, bin, args, nil, "http://127.0.0.1:"+strconv.Itoa(health)+"/readyz")
		checkMemory(t, "webhook", c, rss)

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
		rss := runMeasured(ctx, t, bin, args, env, "http://127.0.0.1:"+strconv.Itoa(http)+"/healthz")
		checkMemory(t, "mounter", c, rss)
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
// settle and returns its VmRSS in bytes; the process is stopped at the end.
func runMeasured(ctx context.Context, t *testing.T, bin string, args, env []string, url string) int64 {
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
	time.Sleep(settleTime(t))
	return vmRSS(t, cmd.Process.Pid)
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
	t.Logf("%s: idle VmRSS %.1f MiB; chart requests %s, limit %s", what, float64(rss)/(1<<20), req, limit)
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
