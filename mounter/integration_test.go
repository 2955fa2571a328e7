//go:build integration

package mounter_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// TestIntegrationRealAPIServer runs the mounter against a real kube-apiserver:
// the SecretProviderClass and ServiceAccounts live there, the pods' tokens are
// minted by its TokenRequest API, the fake STS verifies them against the API
// server's service-account keys (its JWKS) and Events are posted to it.
func TestIntegrationRealAPIServer(t *testing.T) {
	requireRoot(t)
	kube := envtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const ns = "team-a"
	if _, err := kube.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	for sa, role := range map[string]string{"app-a": mountertest.RoleApp, "app-b": mountertest.RoleOther, "plain": ""} {
		var ann map[string]string
		if role != "" {
			ann = map[string]string{identity.AnnotationRoleARN: role}
		}
		if _, err := kube.CreateServiceAccount(ctx, ns, sa, ann); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kube.CreateSecretProviderClass(ctx, ns, []byte(mountertest.SeedClassYAML)); err != nil {
		t.Fatal(err)
	}

	cluster, err := mounter.NewKubeCluster(kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	events, stop := cluster.NewEventRecorder("test-node")
	defer stop()
	clk := newClock()
	e := mountertest.Start(t, mountertest.Options{CacheTTL: time.Minute, Cluster: cluster, Events: events, Now: clk.Now, RefreshInterval: time.Minute})
	if err := e.AWS.TrustIssuerJWKS(kube.Issuer, identity.STSAudience, kube.JWKS); err != nil {
		t.Fatal(err)
	}

	publish := func(pod, sa string) error {
		tok, err := kube.MintToken(ctx, ns, sa, identity.STSAudience)
		if err != nil {
			t.Fatal(err)
		}
		req := e.PublishRequest(pod, sa, mountertest.SeedClass)
		req.VolumeContext = mountertest.VolumeContext(ns, pod, sa, mountertest.SeedClass, map[string]string{identity.STSAudience: tok})
		_, err = e.Node.NodePublishVolume(ctx, req)
		return err
	}

	// 1. The seed class mounts db-user and db-password for pod A.
	if err := publish("pod-a", "app-a"); err != nil {
		t.Fatalf("pod A: %v", err)
	}
	target := e.Target("pod-a")
	if got := readFile(t, filepath.Join(target, "db-user")); got != "admin" {
		t.Errorf("db-user = %q", got)
	}
	pw := filepath.Join(target, "db-password")
	if got := readFile(t, pw); got != "supersecretpassword" {
		t.Errorf("db-password = %q", got)
	}
	if n := e.AWS.Calls().Count("sts:AssumeRoleWithWebIdentity", mountertest.RoleApp); n != 1 {
		t.Errorf("STS calls for role A = %d, want 1 (the API server's token accepted)", n)
	}

	// 2. Pod B, another role, is denied A's secret although it is cached.
	err = publish("pod-b", "app-b")
	if code(err) != codes.PermissionDenied {
		t.Fatalf("pod B: %v, want PermissionDenied", err)
	}
	waitEvent(ctx, t, kube, ns, "pod-b", mounter.EventAccessDenied)

	// 3. A pod without a role is refused: node identity is off by default.
	err = publish("pod-plain", "plain")
	if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), identity.AnnotationRoleARN) {
		t.Fatalf("pod without role: %v", err)
	}
	waitEvent(ctx, t, kube, ns, "pod-plain", mounter.EventAccessDenied)

	// 4. Rotation: unchanged content is not rewritten; a new value shows up
	// after the interval, swapped atomically.
	ino := inode(t, pw)
	clk.Add(61 * time.Second)
	if err := publish("pod-a", "app-a"); err != nil {
		t.Fatal(err)
	}
	if inode(t, pw) != ino {
		t.Error("unchanged content was rewritten")
	}
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin2","password":"rotated"}`); err != nil {
		t.Fatal(err)
	}
	// Within the interval (and the cache TTL) the old set stays.
	clk.Add(10 * time.Second)
	if err := publish("pod-a", "app-a"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, pw); got != "supersecretpassword" {
		t.Errorf("rotated before the interval: %q", got)
	}
	clk.Add(61 * time.Second)
	if err := publish("pod-a", "app-a"); err != nil {
		t.Fatal(err)
	}
	if got, user := readFile(t, pw), readFile(t, filepath.Join(target, "db-user")); got != "rotated" || user != "admin2" {
		t.Errorf("after rotation db-password %q db-user %q", got, user)
	}
	if inode(t, pw) == ino {
		t.Error("rotation wrote in place instead of swapping the ..data link")
	}
	if err := e.Unpublish(ctx, "pod-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("target after unpublish: %v", err)
	}
}

// waitEvent waits for a Warning Event with reason on the pod.
func waitEvent(ctx context.Context, t *testing.T, kube *envtest.Env, ns, pod, reason string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := kube.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == pod && ev.Reason == reason && ev.Type == corev1.EventTypeWarning {
				if strings.Contains(ev.Message, "supersecret") {
					t.Errorf("event leaks the value: %s", ev.Message)
				}
				t.Logf("event on %s: %s: %s", pod, ev.Reason, ev.Message)
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("no %s event on pod %s", reason, pod)
}

// TestRunServesAndRestarts runs the production entry point (mounter.Run) with
// a real API server: kubelet registration socket, CSI socket, /healthz and
// /metrics; then stops it and starts it again on the same directories, as a
// DaemonSet pod restart does, and checks the volume is still served and
// refreshed.
func TestRunServesAndRestarts(t *testing.T) {
	requireRoot(t)
	kube := envtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kube.CreateServiceAccount(ctx, mountertest.Namespace, mountertest.SAApp,
		map[string]string{identity.AnnotationRoleARN: mountertest.RoleApp}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CreateSecretProviderClass(ctx, mountertest.Namespace, []byte(mountertest.SeedClassYAML)); err != nil {
		t.Fatal(err)
	}
	e := mountertest.Start(t, mountertest.Options{}) // the fake AWS, token issuer and target dirs
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	kubeletDir := e.KubeletDir // where e.PublishRequest's targets are
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	opts := mounter.NewOptions()
	fs := pflag.NewFlagSet("mounter", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse([]string{"--endpoint", "unix://" + filepath.Join(e.Dir, "run-csi.sock"), "--kubelet-dir", kubeletDir,
		"--node-name", "run-node", "--http-address", addr, "--kubeconfig", kube.KubeConfigFile,
		"--region", mountertest.Region, "--aws-endpoint", e.AWS.URL(), "--refresh-interval", "5s"}); err != nil {
		t.Fatal(err)
	}
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	// Each Run calls Settled once, when its socket listens (the binary gives
	// back its start-up pages there).
	var runs, settled atomic.Int32
	opts.Settled = func() { settled.Add(1) }
	start := func() (stop func()) {
		runs.Add(1)
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- mounter.Run(rctx, opts) }()
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := httpGet(ctx, "http://"+addr+"/healthz")
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("mounter did not become healthy: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return func() {
			rcancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v", err)
			}
			if r, s := runs.Load(), settled.Load(); s != r {
				t.Errorf("%d runs called Settled %d times, want once each", r, s)
			}
		}
	}
	stop := start()

	// The kubelet's view: the registration socket names the driver and the CSI endpoint.
	regSock := filepath.Join(kubeletDir, "plugins_registry", mounter.DefaultDriverName+"-reg.sock")
	rconn, err := grpc.NewClient("unix://"+regSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rconn.Close() }()
	info, err := registerapi.NewRegistrationClient(rconn).GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != mounter.DefaultDriverName || info.Endpoint != filepath.Join(kubeletDir, "plugins", mounter.DefaultDriverName, "csi.sock") {
		t.Errorf("registration info %+v", info)
	}

	conn, err := grpc.NewClient("unix://"+filepath.Join(e.Dir, "run-csi.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	node := csi.NewNodeClient(conn)
	req := e.PublishRequest("run-pod", mountertest.SAApp, mountertest.SeedClass)
	if _, err := node.NodePublishVolume(ctx, req); err != nil {
		t.Fatalf("publish through Run: %v", err)
	}
	pw := filepath.Join(req.TargetPath, "db-password")
	if got := readFile(t, pw); got != "supersecretpassword" {
		t.Errorf("db-password = %q", got)
	}
	resp, err := httpGet(ctx, "http://"+addr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), `aws_secrets_injector_mounter_publishes_total{outcome="mounted"} 1`) {
		t.Errorf("/metrics does not count the publish")
	}
	// The first publish read its class and ServiceAccount with a GET each and
	// started their watches (--kube-cache-idle's default).
	for _, want := range []string{`aws_secrets_injector_mounter_kube_reads_total{resource="secretproviderclasses",source="api"} 1`,
		`aws_secrets_injector_mounter_kube_reads_total{resource="serviceaccounts",source="api"} 1`,
		`aws_secrets_injector_mounter_kube_cache_objects{resource="secretproviderclasses"} 1`,
		`aws_secrets_injector_mounter_kube_cache_objects{resource="serviceaccounts"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics does not hold %s", want)
		}
	}

	// Restart: the mounts survive, the new process restores the volume and
	// rotation resumes on the next republish.
	stop()
	if got := readFile(t, pw); got != "supersecretpassword" {
		t.Errorf("files gone while the mounter was down: %q", got)
	}
	if _, err := e.AWS.PutSecret(mountertest.SeedSecret, `{"username":"admin","password":"after-restart"}`); err != nil {
		t.Fatal(err)
	}
	stop = start()
	defer stop()
	time.Sleep(5 * time.Second) // the refresh interval
	req = e.PublishRequest("run-pod", mountertest.SAApp, mountertest.SeedClass)
	if _, err := node.NodePublishVolume(ctx, req); err != nil {
		t.Fatalf("republish after restart: %v", err)
	}
	if got := readFile(t, pw); got != "after-restart" {
		t.Errorf("rotation after restart: db-password = %q", got)
	}
	if _, err := node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: req.VolumeId, TargetPath: req.TargetPath}); err != nil {
		t.Fatal(err)
	}
}

func httpGet(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}
