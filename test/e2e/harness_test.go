package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/test/e2e/cluster"
	"github.com/seed-ddac166a/aws-secrets-injector/test/examples"
)

const (
	releaseNS     = "aws-secrets-injector"
	release       = "aws-secrets-injector"
	chartImage    = "localhost/aws-secrets-injector"
	chartTag      = "dev"
	toolboxImage  = "localhost/asi-toolbox:e2e"
	fakePort      = "4566"
	accountID     = "111122223333"
	roleMyApp     = "arn:aws:iam::111122223333:role/my-app"
	roleOther     = "arn:aws:iam::111122223333:role/other"
	upstreamName  = "secrets-store.csi.k8s.io"
	defaultDriver = "csi.aws-secrets-injector.io"
	// refresh is the rotation interval the chart is installed with.
	refresh = 10 * time.Second
)

// env is one installed system: the node, the fake AWS and the chart.
type env struct {
	c       *cluster.Cluster
	root    string
	fakeURL string
}

// setup builds what the suite needs, brings the node up, starts the fake AWS
// in its namespace and installs the chart with driverName.
func setup(t *testing.T, driverName string) *env {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{root: root}
	start := time.Now()
	c := cluster.Up(t, cluster.Options{})
	t.Logf("node up in %s", time.Since(start).Round(time.Second))
	e.c = c
	// Runs before the node goes down and after dump: delete the workloads
	// while the mounter still runs, so the kubelet unmounts their volumes at
	// once (the node's own teardown deletes the mounter with them and then
	// waits a minute for their unmounts).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		start := time.Now()
		for _, ns := range []string{"seed", injectNS, plainNS, syncNS} {
			if _, err := c.Kubectl(ctx, "delete", "-n", ns, "deployments,jobs,pods", "--all", "--ignore-not-found",
				"--grace-period=1", "--wait=true", "--timeout=15s"); err != nil {
				t.Logf("delete the workloads of %s: %v", ns, err)
			}
		}
		t.Logf("test workloads deleted in %s; the node goes down next", time.Since(start).Round(time.Second))
	})
	t.Cleanup(func() {
		if t.Failed() {
			e.dump(t)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	// Images: the chart's (make image) and the workload toolbox (mkimage's
	// PATH is "/", so the binaries sit there).
	e.mustRun(t, ctx, "make", "-s", "image")
	e.mustRun(t, ctx, "go", "build", "-trimpath", "-o", filepath.Join(root, "bin", "e2e-toolbox"), "./test/e2e/toolbox")
	tb := filepath.Join(root, "bin", "e2e-toolbox")
	tar := filepath.Join(root, "bin", "e2e-toolbox-image.tar")
	e.mustRun(t, ctx, filepath.Join(root, "bin", "mkimage"),
		"--file", tb+":/toolbox", "--file", tb+":/sleep", "--file", tb+":/cat", "--file", tb+":/ls",
		"--entrypoint", "/toolbox", "--user", "65532:65532", "--tag", toolboxImage, "--out", tar)
	for _, img := range []string{filepath.Join(root, "bin", "aws-secrets-injector-image.tar"), tar} {
		if err := c.LoadImage(ctx, img); err != nil {
			t.Fatal(err)
		}
	}

	// The fake AWS on the node IP, trusting the cluster's issuer.
	state := map[string]any{
		"region":    "us-east-1",
		"accountId": accountID,
		"roles": []map[string]any{
			{"arn": roleMyApp, "allow": []string{"my-app/*"}},
			{"arn": roleOther, "allow": []string{"other/*"}},
		},
		"secrets": []map[string]any{
			{"name": "my-app/db-credentials", "value": `{"username":"admin","password":"supersecretpassword"}`},
			{"name": "other/token", "value": `{"username":"other","password":"otherpassword"}`},
		},
		"issuers": []map[string]any{
			{"issuer": c.Issuer, "audiences": []string{"sts.amazonaws.com"}, "jwks": string(c.JWKS)},
		},
	}
	stateFile := filepath.Join(t.TempDir(), "fakeaws-state.yaml")
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stateFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx, "fakeaws", filepath.Join(root, "bin", "fakeaws"), "--addr", c.NodeIP+":"+fakePort, "--state", stateFile); err != nil {
		t.Fatal(err)
	}
	e.fakeURL = "http://" + c.NodeIP + ":" + fakePort
	if err := poll(ctx, 30*time.Second, func() (bool, error) {
		_, err := e.fake(ctx, http.MethodGet, "/_fake/healthz", nil)
		return err == nil, nil
	}); err != nil {
		t.Fatalf("the fake AWS never answered on %s", e.fakeURL)
	}

	t.Logf("images built and loaded, fake AWS up: %s since the start", time.Since(start).Round(time.Second))
	start = time.Now()
	e.helm(t, ctx, "install", "--create-namespace", "--set", "driverName="+driverName)
	t.Logf("helm install (driver %s) ready in %s", driverName, time.Since(start).Round(time.Second))
	return e
}

// helm runs `helm install|upgrade` of the chart with the suite's values and
// --wait.
func (e *env) helm(t *testing.T, ctx context.Context, verb string, extra ...string) {
	t.Helper()
	args := []string{verb, release, filepath.Join(e.root, "charts", "aws-secrets-injector"),
		"--kubeconfig", e.c.KubeConfig, "--namespace", releaseNS, "--wait", "--timeout", "5m",
		"--set", "image.repository=" + chartImage, "--set", "image.tag=" + chartTag,
		"--set", "image.pullPolicy=Never",
		"--set", "aws.endpoint=" + e.fakeURL,
		"--set", "mounter.refreshInterval=" + refresh.String(),
		"--set", "webhook.replicas=1", "--set", "webhook.injector.refreshInterval=" + refresh.String(),
	}
	e.mustRun(t, ctx, filepath.Join(e.root, "bin", "helm"), append(args, extra...)...)
}

// mustRun runs a command in the repository root and fails the test on error.
func (e *env) mustRun(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kubectl runs kubectl and fails the test on error.
func (e *env) kubectl(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := e.c.Kubectl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply applies a manifest given as text.
func (e *env) apply(t *testing.T, ctx context.Context, ns, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	e.kubectl(t, ctx, "apply", "-n", ns, "-f", f)
}

// namespace creates ns (labelled for injection or not) with the user's
// SecretProviderClass and the service accounts the scenarios use: default and
// my-app with role my-app, denied with role other.
func (e *env) namespace(t *testing.T, ctx context.Context, ns string, inject bool) {
	t.Helper()
	label := ""
	if inject {
		label = "\n  labels: {aws-secrets-injector.io/inject: enabled}"
	}
	e.apply(t, ctx, "default", fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s%s\n", ns, label))
	e.apply(t, ctx, ns, string(examples.SeedClass))
	var sas strings.Builder
	for _, sa := range []struct{ name, role string }{{"default", roleMyApp}, {"my-app", roleMyApp}, {"denied", roleOther}} {
		fmt.Fprintf(&sas, "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s\n  annotations: {eks.amazonaws.com/role-arn: %q}\n", sa.name, sa.role)
	}
	e.apply(t, ctx, ns, sas.String())
}

// fake calls the fake AWS's admin API.
func (e *env) fake(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.fakeURL+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return out, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, out)
	}
	return out, nil
}

func (e *env) mustFake(t *testing.T, ctx context.Context, method, path string, body any) []byte {
	t.Helper()
	out, err := e.fake(ctx, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// putSecret rotates my-app/db-credentials on the fake.
func (e *env) putSecret(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	v := fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)
	e.mustFake(t, ctx, http.MethodPut, "/_fake/secrets", map[string]any{"name": "my-app/db-credentials", "value": v})
}

// waitReady waits for pod ns/name to be Ready.
func (e *env) waitReady(t *testing.T, ctx context.Context, ns, name string, timeout time.Duration) {
	t.Helper()
	if _, err := e.c.Kubectl(ctx, "wait", "-n", ns, "--for=condition=Ready", "pod/"+name, "--timeout="+timeout.String()); err != nil {
		t.Fatalf("pod %s/%s not ready: %v\n%s", ns, name, err, e.describe(ctx, ns, "pod/"+name))
	}
}

func (e *env) describe(ctx context.Context, ns, obj string) string {
	out, err := e.c.Kubectl(ctx, "describe", "-n", ns, obj)
	if err != nil {
		return err.Error()
	}
	return out
}

// files reads the two seed files in one exec (db-user then db-password).
func (e *env) files(ctx context.Context, ns, pod, dir string) (user, password string, err error) {
	args := []string{"exec", "-n", ns, pod}
	if ns == "" {
		args = args[1:]
	}
	u, err := e.c.Kubectl(ctx, append(args, "--", "cat", dir+"/db-user")...)
	if err != nil {
		return "", "", err
	}
	p, err := e.c.Kubectl(ctx, append(args, "--", "cat", dir+"/db-password")...)
	if err != nil {
		return "", "", err
	}
	return u, p, nil
}

// checkFiles asserts the pod's files hold user and password.
func (e *env) checkFiles(t *testing.T, ctx context.Context, ns, pod, user, password string) {
	t.Helper()
	u, p, err := e.files(ctx, ns, pod, "/mnt/secrets-store")
	if err != nil {
		t.Fatal(err)
	}
	if u != user || p != password {
		t.Errorf("pod %s/%s: db-user %q, db-password of %d bytes; want %q and the %d-byte password", ns, pod, u, len(p), user, len(password))
	}
}

// mountOf returns the /proc/mounts line of dir inside the pod.
func (e *env) mountOf(t *testing.T, ctx context.Context, ns, pod, dir string) []string {
	t.Helper()
	out := e.kubectl(t, ctx, "exec", "-n", ns, pod, "--", "toolbox", "mounts")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == dir {
			return f
		}
	}
	t.Fatalf("no mount at %s in pod %s/%s:\n%s", dir, ns, pod, out)
	return nil
}

// checkTmpfsRO asserts dir is a read-only tmpfs mount inside the pod.
func (e *env) checkTmpfsRO(t *testing.T, ctx context.Context, ns, pod, dir string) {
	t.Helper()
	f := e.mountOf(t, ctx, ns, pod, dir)
	opts := strings.Split(f[3], ",")
	if f[2] != "tmpfs" || len(opts) == 0 || opts[0] != "ro" {
		t.Errorf("mount %s in %s/%s: %s; want a read-only tmpfs", dir, ns, pod, strings.Join(f, " "))
	}
}

// podOf returns the name of the first running pod matching selector.
func (e *env) podOf(t *testing.T, ctx context.Context, ns, selector string) string {
	t.Helper()
	out := e.kubectl(t, ctx, "get", "pods", "-n", ns, "-l", selector, "--field-selector=status.phase=Running",
		"-o", "jsonpath={.items[*].metadata.name}")
	names := strings.Fields(out)
	if len(names) == 0 {
		t.Fatalf("no running pod %s in %s", selector, ns)
	}
	return names[0]
}

// dump logs what helps with a failure: pods, events, the chart's logs.
func (e *env) dump(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"logs", "-n", releaseNS, "-l", "app.kubernetes.io/component=mounter", "--tail=60", "--all-containers"},
		{"logs", "-n", releaseNS, "-l", "app.kubernetes.io/component=webhook", "--tail=60", "--all-containers"},
	} {
		out, err := e.c.Kubectl(ctx, args...)
		t.Logf("kubectl %s:\n%s%v", strings.Join(args, " "), out, errOrEmpty(err))
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// poll calls f every second until it returns true, an error, or timeout.
func poll(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s", timeout)
		case <-time.After(time.Second):
		}
	}
}
