package observe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// Fixture names of the stack.
const (
	// AppNamespace is the opted-in namespace of the load's pods.
	AppNamespace = "team-a"
	// OwnNamespace is the webhook's own namespace.
	OwnNamespace = "aws-secrets-injector"
	// SAApp may read my-app/*; SAOther is denied it.
	SAApp   = "app"
	SAOther = "other"
	// SecretClass reads a Secrets Manager secret, ParamClass an SSM parameter.
	SecretClass = mountertest.SeedClass
	ParamClass  = "feature-flags"
	// SecretName is the secret the load rotates; ParamName the parameter.
	SecretName = mountertest.SeedSecret
	ParamName  = "/my-app/feature-flags"
	// MinRefreshInterval is the mounter's shortest refresh interval.
	MinRefreshInterval = 5 * time.Second
)

const paramClassYAML = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: ` + ParamClass + `
spec:
  provider: aws
  parameters:
    objects: |
      - objectName: "` + ParamName + `"
        objectType: "ssmparameter"
        objectAlias: "flags"
`

// Options of Start.
type Options struct {
	// Nodes is the number of mounters, each as node-N (default 1).
	Nodes int
	// RefreshInterval of the mounters (default MinRefreshInterval).
	RefreshInterval time.Duration
}

// Stack is the real binary running as webhook and mounters on loopback,
// with the real API server and the fake AWS behind them.
type Stack struct {
	Kube *envtest.Env
	AWS  *fakeaws.Server
	// WebhookMetrics is the webhook's /metrics URL.
	WebhookMetrics string
	// Mounters are the nodes' mounters.
	Mounters []*Mounter
}

// Mounter is one node's mounter process.
type Mounter struct {
	// Node is its node name.
	Node string
	// Metrics is its /metrics URL.
	Metrics string
	// CSI is a client on its socket.
	CSI csi.NodeClient
	// Dir holds its plugin dir and the pods' target paths.
	Dir string
}

// RepoRoot is the repository's root directory.
func RepoRoot() (string, error) { return filepath.Abs(filepath.Join("..", "..")) }

// BuildBinary builds cmd/aws-secrets-injector from the product's own module
// (its go.mod and go.sum, not this module's build list), static and stripped
// as the image ships it, into dir.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "aws-secrets-injector")
	cmd := exec.CommandContext(ctx, "go", "build", "-C", root, "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/aws-secrets-injector")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return out, nil
}

// webhookConfiguration is the chart's MutatingWebhookConfiguration, reduced
// to what routes the load's pods (envtest points it at the local server).
func webhookConfiguration() *admissionregistrationv1.MutatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	scope := admissionregistrationv1.NamespacedScope
	path := "mutate-pods"
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: "aws-secrets-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.aws-secrets-injector.io",
			AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: OwnNamespace, Name: "aws-secrets-injector-webhook", Path: &path}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"pods"}, Scope: &scope},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"aws-secrets-injector.io/inject": "enabled"}},
			SideEffects:       &none,
			FailurePolicy:     &fail,
		}},
	}
}

// Start builds the binary and starts the API server, the fake AWS, the
// webhook and the mounters; everything stops when t ends. The mounters
// mount real tmpfs: root only.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the mounter mounts tmpfs: run as root")
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = MinRefreshInterval
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	type built struct {
		path string
		err  error
	}
	binc := make(chan built, 1)
	bindir := t.TempDir()
	go func() { p, err := BuildBinary(ctx, bindir); binc <- built{p, err} }()

	kube := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfiguration()},
	}))
	s := &Stack{Kube: kube}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := kube.CreateNamespace(ctx, AppNamespace, map[string]string{"aws-secrets-injector.io/inject": "enabled"})
	must(err)
	_, err = kube.CreateNamespace(ctx, OwnNamespace, nil)
	must(err)
	_, err = kube.CreateServiceAccount(ctx, AppNamespace, SAApp, map[string]string{identity.AnnotationRoleARN: mountertest.RoleApp})
	must(err)
	_, err = kube.CreateServiceAccount(ctx, AppNamespace, SAOther, map[string]string{identity.AnnotationRoleARN: mountertest.RoleOther})
	must(err)
	_, err = kube.CreateSecretProviderClass(ctx, AppNamespace, []byte(mountertest.SeedClassYAML))
	must(err)
	_, err = kube.CreateSecretProviderClass(ctx, AppNamespace, []byte(paramClassYAML))
	must(err)

	s.AWS, err = fakeaws.New(fakeaws.State{
		Region: mountertest.Region, AccountID: mountertest.Account,
		Roles: []fakeaws.Role{
			{ARN: mountertest.RoleApp, Allow: []string{"my-app/*", "/my-app/*"}},
			{ARN: mountertest.RoleOther, Allow: []string{"other/*"}},
		},
		Secrets:    []fakeaws.Secret{{Name: SecretName, Value: mountertest.SeedValue}},
		Parameters: []fakeaws.Parameter{{Name: ParamName, Value: "dark-mode=on"}},
	})
	must(err)
	must(s.AWS.TrustIssuerJWKS(kube.Issuer, identity.STSAudience, kube.JWKS))
	must(s.AWS.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = s.AWS.Close() })

	b := <-binc
	must(b.err)

	metrics, health := freeAddr(t), freeAddr(t)
	s.WebhookMetrics = "http://" + metrics + "/metrics"
	run(t, "webhook", b.path, []string{"webhook", "--kubeconfig=" + kube.KubeConfigFile,
		"--host=" + kube.Webhook.LocalServingHost, "--port=" + strconv.Itoa(kube.Webhook.LocalServingPort),
		"--cert-mode=files", "--cert-dir=" + kube.Webhook.LocalServingCertDir,
		"--metrics-addr=" + metrics, "--health-addr=" + health, "--namespace=" + OwnNamespace,
		"--default-region=" + mountertest.Region}, nil, "http://"+health+"/readyz")

	for i := range o.Nodes {
		s.Mounters = append(s.Mounters, startMounter(t, b.path, s, fmt.Sprintf("node-%d", i+1), o.RefreshInterval))
	}
	return s
}

func startMounter(t testing.TB, bin string, s *Stack, node string, refresh time.Duration) *Mounter {
	t.Helper()
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "asio-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mountertest.UnmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	sock := filepath.Join(dir, "csi.sock")
	addr := freeAddr(t)
	m := &Mounter{Node: node, Metrics: "http://" + addr + "/metrics", Dir: dir}
	run(t, "mounter "+node, bin, []string{"mounter", "--kubeconfig=" + s.Kube.KubeConfigFile,
		"--aws-endpoint=" + s.AWS.URL(), "--region=" + mountertest.Region, "--node-name=" + node,
		"--endpoint=unix://" + sock, "--plugin-dir=" + filepath.Join(dir, "plugin"), "--kubelet-dir=" + filepath.Join(dir, "kubelet"),
		"--register=false", "--http-address=" + addr, "--refresh-interval=" + refresh.String(),
		"--cache-ttl=20s", "--fetch-timeout=20s"},
		[]string{"AWS_EC2_METADATA_DISABLED=true"}, "http://"+addr+"/healthz")
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	m.CSI = csi.NewNodeClient(conn)
	return m
}

// run starts bin, waits until ready answers 200 (30 s at most) and stops
// it (SIGINT, then SIGKILL after 10 s) when t ends; its output goes to a
// file shown when it fails to start.
func run(t testing.TB, name, bin string, args, env []string, ready string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...) //nolint:noctx // the process lives until t ends, stopped by the cleanup below
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ready, nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s did not become ready at %s (last: %v)\n%s", name, ready, err, tail(string(out), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freeAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// ScrapeAll scrapes the webhook and every mounter.
func (s *Stack) ScrapeAll(ctx context.Context) (webhook Families, mounters []Families, err error) {
	if webhook, err = Scrape(ctx, s.WebhookMetrics); err != nil {
		return nil, nil, err
	}
	for _, m := range s.Mounters {
		f, err := Scrape(ctx, m.Metrics)
		if err != nil {
			return nil, nil, err
		}
		mounters = append(mounters, f)
	}
	return webhook, mounters, nil
}
