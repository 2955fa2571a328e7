//go:build integration

package chart_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// checkProviderRBAC: the provider's ServiceAccount may get, list and watch
// ServiceAccounts and nothing next to it.
func checkProviderRBAC(ctx context.Context, t *testing.T, env *envtest.Env) {
	cs, cl := impersonate(t, env, releaseName+"-provider")
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "app-a.provider", Namespace: "team-a"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "team-a", Name: "app-a"},
		Reason:         "x", Message: "test", Type: corev1.EventTypeWarning,
	}
	checkAccess(t, []access{
		{"get a ServiceAccount", true, func() error {
			_, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "app", metav1.GetOptions{})
			return err
		}},

		// list and watch: the watch cache of the Mounts' ServiceAccounts (provider.kubeCacheIdle).
		{"list ServiceAccounts", true, func() error {
			_, err := cs.CoreV1().ServiceAccounts("team-a").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"watch ServiceAccounts", true, watchServiceAccounts(ctx, cs)},
		{"create a ServiceAccount token", false, mintToken(ctx, cs)},
		{"get a SecretProviderClass", false, func() error { return cl.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "db"}, spc()) }},
		{"get a Secret", false, func() error {
			_, err := cs.CoreV1().Secrets(releaseNS).Get(ctx, "other", metav1.GetOptions{})
			return err
		}},
		{"get a pod", false, func() error { _, err := cs.CoreV1().Pods("team-a").Get(ctx, "app-b", metav1.GetOptions{}); return err }},
		{"get a node", false, func() error { _, err := cs.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{}); return err }},
		{"create an Event", false, func() error {
			_, err := cs.CoreV1().Events("team-a").Create(ctx, event, metav1.CreateOptions{})
			return err
		}},
	})
}

// checkRealProvider runs the real binary's provider subcommand with the
// chart's arguments (paths, addresses, the AWS endpoint and the kubeconfig
// replaced to fit a test) as the provider's ServiceAccount, waits for its
// /healthz, checks the chart's memory against its RSS, then mounts through
// its socket as the driver would: the real binary reads the pod's
// ServiceAccount under the chart's RBAC and exchanges a token the API server
// minted with the fake STS, which trusts the API server's signing key.
func checkRealProvider(ctx context.Context, t *testing.T, env *envtest.Env, r *rendered) {
	const (
		ns, sa  = "team-a", "provider-app"
		role    = "arn:aws:iam::111122223333:role/provider-app"
		secret  = "team-a/db"
		content = `{"password":"chart-test-passw0rd"}`
	)
	aws, err := fakeaws.New(fakeaws.State{
		Roles:   []fakeaws.Role{{ARN: role, Allow: []string{"team-a/*"}}},
		Secrets: []fakeaws.Secret{{Name: secret, Value: content, VersionID: "v1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := aws.TrustIssuer(env.Issuer, identity.STSAudience, env.SigningKey); err != nil {
		t.Fatal(err)
	}
	if err := aws.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = aws.Close() })
	if _, err := env.CreateServiceAccount(ctx, ns, sa, map[string]string{identity.AnnotationRoleARN: role}); err != nil {
		t.Fatal(err)
	}

	ds := one[*appsv1.DaemonSet](t, r, releaseName+"-provider")
	c := ds.Spec.Template.Spec.Containers[0]
	// Unix socket paths are limited to 108 bytes: short directories.
	short, err := os.MkdirTemp("", "asi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(short) })
	providers, shadow := filepath.Join(short, "providers"), filepath.Join(short, "legacy")
	http := freePort(t)
	args := append(c.Args[:len(c.Args):len(c.Args)], "--kubeconfig="+impersonatingKubeconfig(t, env, releaseName+"-provider"),
		"--providers-dir="+providers, "--shadow-dir="+shadow, "--http-address=127.0.0.1:"+strconv.Itoa(http),
		"--region=us-east-1", "--aws-endpoint="+aws.URL())
	rss := runMeasured(ctx, t, containerBinary(t, c), args, []string{"AWS_EC2_METADATA_DISABLED=true"}, "http://127.0.0.1:"+strconv.Itoa(http)+"/healthz", nil)
	checkMemory(t, "provider, idle", c, rss)

	tok, err := env.MintToken(ctx, ns, sa, identity.STSAudience)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := identity.EncodeTokens(map[string]identity.Token{identity.STSAudience: {Token: tok, ExpirationTimestamp: time.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := json.Marshal(map[string]string{
		"objects":                        `- {objectName: "team-a/db", objectType: secretsmanager, jmesPath: [{path: password, objectAlias: password}]}`,
		provider.AttrSecretProviderClass: "db",
		provider.AttrPodName:             "web-1",
		provider.AttrPodNamespace:        ns,
		provider.AttrPodUID:              "uid-web-1",
		provider.AttrServiceAccount:      sa,
		provider.AttrEphemeral:           "true",
		provider.AttrTokens:              toks,
	})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(providers, provider.SocketName)
	conn, err := grpc.NewClient("passthrough:///"+sock,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(provider.DriverMaxRecvMsgSize)),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := v1alpha1.NewCSIDriverProviderClient(conn).Mount(mctx, &v1alpha1.MountRequest{
		Attributes: string(attrs), Secrets: "null", Permission: provider.DriverPermission,
		TargetPath: "/var/lib/kubelet/pods/uid-web-1/volumes/kubernetes.io~csi/secrets/mount",
	})
	if err != nil {
		t.Fatalf("mount through the real binary: %v", err)
	}
	got := map[string]string{}
	for _, f := range resp.GetFiles() {
		got[f.GetPath()] = string(f.GetContents())
	}
	if got["password"] != "chart-test-passw0rd" || got["team-a_db"] != content || len(resp.GetObjectVersion()) != 1 ||
		resp.GetObjectVersion()[0].GetVersion() != "v1" {
		t.Errorf("files %v, versions %v", keysOf(got), resp.GetObjectVersion())
	}
	// Under the chart's RBAC the Mount's ServiceAccount read started its
	// watch, which lists it: the rotation polls' reads come from there.
	waitMetric(ctx, t, "http://127.0.0.1:"+strconv.Itoa(http)+"/metrics",
		`aws_secrets_injector_provider_kube_cache_synced_objects{resource="serviceaccounts"} 1`)
}

// waitMetric polls url until its exposition has line, for up to 20 s.
func waitMetric(ctx context.Context, t *testing.T, url, line string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		_ = resp.Body.Close()
		if err == nil && slices.Contains(strings.Split(string(b), "\n"), line) {
			return
		}
		last = string(b)
	}
	t.Errorf("%s never showed %s; last:\n%s", url, line, last)
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
