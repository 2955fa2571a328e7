// Package cluster drives hack/node/cluster.sh from Go tests: a real
// single-node Kubernetes cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, containerd) inside a
// network namespace, torn down when the test ends.
//
// It needs root on Linux. Without root a test is skipped, except under
// CI=true, where it fails.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running node. Up returns it.
type Cluster struct {
	// KubeConfig is the admin kubeconfig file (system:masters).
	KubeConfig string
	// Config and Clientset are admin clients built from it.
	Config    *rest.Config
	Clientset kubernetes.Interface
	// NodeIP is the node's address inside the namespace; the API server, the
	// kubelet and anything started with Run listen on it, and pods reach it.
	NodeIP string
	// Issuer is the service-account issuer URL and JWKS its key set as served
	// at /openid/v1/jwks: what a fake STS must trust.
	Issuer string
	JWKS   []byte
	// Env is the environment cluster.sh ran with (NODE_NS, NODE_STATE, ...).
	Env []string

	script string
	root   string
}

// Options override cluster.sh's defaults (see its header); empty fields keep
// them. Two clusters on one machine need different values for all of them.
type Options struct {
	Namespace  string // NODE_NS
	NodeIP     string // NODE_IP
	HostIP     string // HOST_IP
	StateDir   string // NODE_STATE
	RunDir     string // NODE_RUN
	KubeletDir string // KUBELET_DIR
}

func (o Options) env() []string {
	var env []string
	for k, v := range map[string]string{
		"NODE_NS": o.Namespace, "NODE_IP": o.NodeIP, "HOST_IP": o.HostIP,
		"NODE_STATE": o.StateDir, "NODE_RUN": o.RunDir, "KUBELET_DIR": o.KubeletDir,
	} {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Up brings the node up (building what is missing; the first build takes
// minutes) and tears it down with t.Cleanup, also when the test fails, and on
// SIGINT (Ctrl-C) or SIGTERM, after which the test binary exits.
func Up(t testing.TB, o Options) *Cluster {
	t.Helper()
	if err := supported(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the end-to-end cluster cannot run here: %v", err)
		}
		t.Skipf("the end-to-end cluster cannot run here: %v", err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// NODE_LOCK_HELD: this process holds the node's lock (below), so a node
	// left up (by make demo, or by a run that was killed) is taken down first.
	c := &Cluster{script: filepath.Join(root, "hack", "node", "cluster.sh"), root: root, Env: append(o.env(), "NODE_LOCK_HELD=1")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	// `go test ./test/e2e/...` runs packages in parallel, and make demo may be
	// driving the node: one driver per namespace at a time, the others wait
	// (released after teardown). cluster.sh's hold_lock takes the same file.
	unlock, err := lock(ctx, o.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	down := sync.OnceValues(func() (string, error) {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer dcancel()
		return c.sh(dctx, "down")
	})
	// Ctrl-C or SIGTERM kill the test binary without running t.Cleanup, and
	// the node's processes run in their own sessions: take the node down
	// here, then exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopSignals := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "cluster: %v: taking the node down\n", s)
			out, err := down()
			fmt.Fprintf(os.Stderr, "%scluster down: %v\n", out, err)
			os.Exit(1)
		case <-stopSignals:
		}
	}()
	t.Cleanup(func() { signal.Stop(sigs); close(stopSignals) })
	t.Cleanup(func() {
		if out, err := down(); err != nil {
			t.Errorf("cluster down: %v\n%s", err, out)
		}
	})
	if out, err := c.sh(ctx, "up"); err != nil {
		t.Fatalf("cluster up: %v\n%s", err, out)
	}
	if err := c.load(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// load reads `cluster.sh env` and builds the clients.
func (c *Cluster) load(ctx context.Context) error {
	out, err := c.sh(ctx, "env")
	if err != nil {
		return fmt.Errorf("cluster env: %w: %s", err, out)
	}
	vars := parseExports(out)
	c.KubeConfig, c.NodeIP, c.Issuer = vars["KUBECONFIG"], vars["NODE_IP"], vars["SERVICE_ACCOUNT_ISSUER"]
	if c.KubeConfig == "" || c.NodeIP == "" || c.Issuer == "" {
		return fmt.Errorf("cluster env is missing KUBECONFIG, NODE_IP or SERVICE_ACCOUNT_ISSUER: %s", out)
	}
	if c.JWKS, err = os.ReadFile(vars["SERVICE_ACCOUNT_JWKS"]); err != nil {
		return fmt.Errorf("read the issuer's key set: %w", err)
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.KubeConfig); err != nil {
		return fmt.Errorf("load %s: %w", c.KubeConfig, err)
	}
	if c.Clientset, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("build clientset: %w", err)
	}
	return nil
}

// LoadImage imports a docker-archive tarball (for example `make image`'s)
// into the node's containerd; pods then use it with imagePullPolicy Never.
func (c *Cluster) LoadImage(ctx context.Context, tarball string) error {
	if out, err := c.sh(ctx, "load-image", tarball); err != nil {
		return fmt.Errorf("load image %s: %w: %s", tarball, err, out)
	}
	return nil
}

// Run starts another process inside the node's network namespace (for
// example the fake AWS on NodeIP); the cluster's teardown stops it first.
func (c *Cluster) Run(ctx context.Context, name string, command ...string) error {
	args := append([]string{"run", name}, command...)
	if out, err := c.sh(ctx, args...); err != nil {
		return fmt.Errorf("run %s: %w: %s", name, err, out)
	}
	return nil
}

// Kubectl runs bin/kubectl against the cluster and returns its standard
// output; the error carries standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.root, "bin", "kubectl"), append([]string{"--kubeconfig", c.KubeConfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// script2 runs cluster.sh with the cluster's environment and returns its
// combined output.
func (c *Cluster) sh(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.script, args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.root
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// lock takes an exclusive lock on /run/NAMESPACE.lock (cluster.sh's
// NODE_LOCK), waiting while another test process or the demo holds it.
func lock(ctx context.Context, ns string) (func(), error) {
	if ns == "" {
		ns = "asi-node"
	}
	path := filepath.Join("/run", ns+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for another test's node (%s): %w", path, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func supported() error {
	if os.Geteuid() != 0 {
		return errors.New("it needs root (network namespace, mounts, containers)")
	}
	for _, tool := range []string{"ip", "nsenter", "openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found", tool)
		}
	}
	return nil
}

// parseExports reads `export A=1 B=2` lines.
func parseExports(s string) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(line) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[k] = v
			}
		}
	}
	return vars
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "node", "cluster.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no hack/node/cluster.sh above the working directory")
		}
		dir = parent
	}
}
