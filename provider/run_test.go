package provider_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/provider"
	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/test/syncbuf"
)

// TestKeysMatchMounter: the provider reads the same kubelet keys the mounter
// does, without linking the mounter.
func TestKeysMatchMounter(t *testing.T) {
	for _, kv := range [][2]string{
		{provider.AttrPodName, mounter.CtxPodName},
		{provider.AttrPodNamespace, mounter.CtxPodNamespace},
		{provider.AttrPodUID, mounter.CtxPodUID},
		{provider.AttrServiceAccount, mounter.CtxServiceAccount},
		{provider.AttrEphemeral, mounter.CtxEphemeral},
		{provider.AttrTokens, mounter.CtxTokens},
		{provider.AttrSecretProviderClass, mounter.AttrSecretProviderClass},
	} {
		if kv[0] != kv[1] {
			t.Errorf("provider key %q, mounter key %q", kv[0], kv[1])
		}
	}
}

// TestNoClientset: the provider links neither client-go's generated
// clientset (~15 MB of RSS) nor the mounter (mount-utils, the clientset).
func TestNoClientset(t *testing.T) {
	out, err := exec.CommandContext(context.Background(), "go", "list", "-deps",
		"github.com/seed-ddac166a/aws-secrets-injector/provider").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !contains(deps, "k8s.io/client-go/rest") {
		t.Fatalf("go list -deps gave %d packages without k8s.io/client-go/rest: the check is broken", len(deps))
	}
	for _, bad := range []string{"k8s.io/client-go/kubernetes", "k8s.io/mount-utils", "github.com/seed-ddac166a/aws-secrets-injector/mounter"} {
		if contains(deps, bad) {
			t.Errorf("package provider depends on %s", bad)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestOptions(t *testing.T) {
	o := provider.NewOptions()
	fs := pflag.NewFlagSet("provider", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if o.SocketPath() != "/var/run/secrets-store-csi-providers/aws.sock" || o.ShadowDir != provider.LegacyProvidersDir {
		t.Errorf("socket %s, shadow dir %s", o.SocketPath(), o.ShadowDir)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--providers-dir=run/providers"}, "--providers-dir"},
		{[]string{"--providers-dir=/" + strings.Repeat("d", 120)}, "longer than 107 bytes"},
		{[]string{"--shadow-dir=etc"}, "--shadow-dir"},
		{[]string{"--node-identity=sometimes"}, "--node-identity"},
		{[]string{"--cache-ttl=-1s"}, "--cache-ttl"},
		{[]string{"--fetch-timeout=0s"}, "--fetch-timeout"},
		{[]string{"--driver-max-recv-msg-size=1024"}, "--driver-max-recv-msg-size"},
		{[]string{"--kube-api-qps=0"}, "--kube-api-qps"},
	} {
		o := provider.NewOptions()
		fs := pflag.NewFlagSet("provider", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// foreign is another provider answering on aws.sock (ASCP still installed).
type foreign struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
}

func (foreign) Version(context.Context, *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: "secrets-store-csi-driver-provider-aws"}, nil
}

func serveOn(t *testing.T, sock string, srv v1alpha1.CSIDriverProviderServer) *grpc.Server {
	t.Helper()
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	v1alpha1.RegisterCSIDriverProviderServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return gs
}

// TestListen: a stale socket is replaced; a live provider of another build
// is not (the error names it), one of ours is (a restart).
func TestListen(t *testing.T) {
	dir, err := os.MkdirTemp("", "prov")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx := context.Background()
	sock := filepath.Join(dir, provider.SocketName)

	// Stale: a socket file nobody listens on (a provider killed hard).
	l, err := (&net.ListenConfig{}).Listen(ctx, "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	lis, err := provider.Listen(ctx, sock)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket %v (%v), want a socket of mode 0600", fi.Mode(), err)
	}
	_ = lis.Close()

	// Live and foreign: refused.
	gs := serveOn(t, sock, foreign{})
	_, err = provider.Listen(ctx, sock)
	if err == nil || !strings.Contains(err.Error(), "secrets-store-csi-driver-provider-aws") || !strings.Contains(err.Error(), "uninstall it first") {
		t.Errorf("over a live foreign provider: %v", err)
	}
	gs.Stop()

	// Live and ours (an older instance on its way out): taken over.
	e := startEnv(t, envOptions{})
	lis, err = provider.Listen(ctx, e.Socket)
	if err != nil {
		t.Fatalf("over a live instance of ours: %v", err)
	}
	_ = lis.Close()
}

// TestHTTPHandler: /healthz answers through the socket as the driver's health
// check does, and fails when nothing serves it; /metrics shows the counters.
func TestHTTPHandler(t *testing.T) {
	e := startEnv(t, envOptions{})
	srv := newHTTP(t, provider.HTTPHandler(e.Socket, e.Server.Metrics()))
	if code, body := get(t, srv+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, srv+"/metrics"); code != 200 || !strings.Contains(body, `aws_secrets_injector_provider_mount_failures_total{reason="AccessDenied"} 0`) {
		t.Errorf("/metrics = %d, lacks the failure counters at zero", code)
	}
	dead := newHTTP(t, provider.HTTPHandler(filepath.Join(t.TempDir(), "none.sock"), e.Server.Metrics()))
	if code, _ := get(t, dead+"/healthz"); code != 503 {
		t.Errorf("/healthz without a socket = %d, want 503", code)
	}
}

// TestRun starts the real Run (flags as the chart passes them, a kubeconfig
// pointing nowhere that is never read before a Mount) and stops it with the
// context: the socket appears, answers Version, and is gone after.
func TestRun(t *testing.T) {
	dir, err := os.MkdirTemp("", "prov")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A stale aws.sock in the directory the driver searches first.
	shadow := filepath.Join(dir, "legacy")
	if err := os.Mkdir(shadow, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", filepath.Join(shadow, provider.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = l.Close()
	o := provider.NewOptions()
	o.ProvidersDir, o.ShadowDir, o.HTTPAddress, o.Kubeconfig, o.Region = filepath.Join(dir, "providers"), shadow, "", kubeconfig, region
	settled := 0 // read after Run has returned
	o.Settled = func() { settled++ }
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	logs := &syncbuf.Buffer{}
	base := logr.NewContext(context.Background(), logr.FromSlogHandler(slog.NewJSONHandler(logs, nil)))
	ctx, cancel := context.WithCancel(base)
	done := make(chan error, 1)
	go func() { done <- provider.Run(ctx, o) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		vctx, vcancel := context.WithTimeout(context.Background(), time.Second)
		v, err := provider.Version(vctx, o.SocketPath())
		vcancel()
		if err == nil {
			if v.GetRuntimeName() != provider.RuntimeName {
				t.Errorf("runtime name %q", v.GetRuntimeName())
			}
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("Run never served %s: %v", o.SocketPath(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
	if _, err := os.Stat(o.SocketPath()); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if settled != 1 {
		t.Errorf("Run called Settled %d times, want once (when the socket listens)", settled)
	}
	if out := logs.String(); !strings.Contains(out, "a stale aws.sock in a directory the driver searches first") || !strings.Contains(out, shadow) {
		t.Errorf("the shadowing socket was not reported:\n%s", out)
	}
}

func newHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string) (int, string) {
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
	return resp.StatusCode, string(b)
}
