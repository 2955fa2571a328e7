//go:build faults

package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// Fixtures of every test: one role, allowed faults/*, for the service
// account "app" of each test's namespace.
const (
	region  = "us-east-1"
	account = "111122223333"
	role    = "arn:aws:iam::111122223333:role/faults"
	issuer  = "https://issuer.faults.test"
	sa      = "app"
	// interval is the mounter's --refresh-interval (its minimum).
	interval = 5 * time.Second
)

func TestMain(m *testing.M) {
	go func() { _, _ = testbin.Build() }() // overlaps the build with the API server's start
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}

// envInt reads a count from the environment (the battery's knobs).
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the fault battery mounts tmpfs and needs root; CI runs as root")
		}
		t.Skip("needs root to mount tmpfs (run `sudo make test-faults`)")
	}
}

// cluster is what every test shares: the API server, the fake AWS, the
// token issuer the fake STS trusts and the built binary.
type cluster struct {
	kube   *envtest.Env
	aws    *fakeaws.Server
	issuer *fakeaws.TokenIssuer
	bin    string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	kube := envtest.Start(t)
	iss, err := fakeaws.NewTokenIssuer(issuer)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fakeaws.New(fakeaws.State{Region: region, AccountID: account,
		Roles: []fakeaws.Role{{ARN: role, Allow: []string{"faults/*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.TrustIssuer(issuer, identity.STSAudience, iss.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &cluster{kube: kube, aws: srv, issuer: iss, bin: testbin.Path(t)}
}

// namespace creates ns with the service account "app" (IRSA: role) and the
// classes, name → parameters.objects YAML.
func (c *cluster) namespace(ctx context.Context, t *testing.T, ns string, classes map[string]string) {
	t.Helper()
	if _, err := c.kube.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kube.CreateServiceAccount(ctx, ns, sa, map[string]string{identity.AnnotationRoleARN: role}); err != nil {
		t.Fatal(err)
	}
	for name, objects := range classes {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata:\n  name: %s\n  namespace: %s\n", name, ns)
		b.WriteString("spec:\n  provider: aws\n  parameters:\n    objects: |\n")
		for l := range strings.Lines(objects) {
			b.WriteString("      " + l)
		}
		if _, err := c.kube.CreateSecretProviderClass(ctx, ns, []byte(b.String())); err != nil {
			t.Fatalf("class %s: %v", name, err)
		}
	}
}

// putSecret creates or updates a secret of the fake AWS.
func (c *cluster) putSecret(t *testing.T, name, value string) {
	t.Helper()
	if _, err := c.aws.PutSecret(name, value); err != nil {
		t.Fatal(err)
	}
}

// waitEvent waits for a Warning Event with reason on the pod whose message
// holds every string of want, and returns its message.
func (c *cluster) waitEvent(ctx context.Context, t *testing.T, ns, pod, reason string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var seen []string
	for time.Now().Before(deadline) {
		evs, err := c.kube.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen = seen[:0]
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name != pod || ev.Type != corev1.EventTypeWarning {
				continue
			}
			seen = append(seen, ev.Reason+": "+ev.Message)
			if ev.Reason != reason {
				continue
			}
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(ev.Message, w)
			}
			if ok {
				return ev.Message
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("no %s event on %s/%s saying %q; seen %q", reason, ns, pod, want, seen)
	return ""
}

// node is one mounter process with its directories, the way a DaemonSet pod
// runs it, and the test's kubelet side: a CSI client on its socket.
type node struct {
	t          *testing.T
	c          *cluster
	dir        string
	kubeletDir string
	pluginDir  string
	sock       string
	httpAddr   string
	kubeconfig string
	api        *proxy
	extra      []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	logs   []string
	tokens []string

	conn *grpc.ClientConn
	csi  csi.NodeClient
}

// newNode prepares a mounter with extra flags (not started) and registers its
// clean-up: the process stopped, every mount under its directory unmounted,
// and its logs checked for tokens and for the values in secretValues.
func (c *cluster) newNode(t *testing.T, extra []string, secretValues ...string) *node {
	t.Helper()
	dir, err := os.MkdirTemp("", "faults-")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, c: c, dir: dir, kubeletDir: filepath.Join(dir, "kubelet"), sock: filepath.Join(dir, "csi.sock"), extra: extra}
	n.pluginDir = filepath.Join(n.kubeletDir, "plugins", mounter.DefaultDriverName)
	if n.api, err = newProxy(c.kube.Config.Host); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.httpAddr = lis.Addr().String()
	_ = lis.Close()
	// The mounter reaches the API server through the proxy.
	kc, err := clientcmd.Load(c.kube.KubeConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range kc.Clusters {
		cl.Server = "https://" + n.api.addr
	}
	n.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, n.kubeconfig); err != nil {
		t.Fatal(err)
	}
	if n.conn, err = grpc.NewClient("unix://"+n.sock, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	n.csi = csi.NewNodeClient(n.conn)
	t.Cleanup(func() {
		n.stop()
		_ = n.conn.Close()
		n.api.Down()
		n.checkLogs(secretValues)
		mountertest.UnmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	return n
}

// start starts the mounter and waits until its CSI socket answers a Probe
// (after Restore); it returns how long that took.
func (n *node) start(ctx context.Context) time.Duration {
	n.t.Helper()
	args := append([]string{"mounter", "--v=10", "--log-format=json",
		"--endpoint", "unix://" + n.sock, "--kubelet-dir", n.kubeletDir, "--plugin-dir", n.pluginDir, "--register=false",
		"--http-address", n.httpAddr, "--kubeconfig", n.kubeconfig, "--node-name", "faults-node",
		"--region", region, "--aws-endpoint", n.c.aws.URL(), "--refresh-interval", interval.String(), "--cache-ttl", "0s",
		"--fetch-timeout", "3s"}, n.extra...)
	logPath := filepath.Join(n.dir, fmt.Sprintf("mounter-%d.log", len(n.logs)))
	logf, err := os.Create(logPath)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(n.c.bin, args...)
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=")
	cmd.Stdout, cmd.Stderr = logf, logf
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		n.t.Fatal(err)
	}
	done := make(chan struct{})
	var exit error
	go func() {
		exit = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done, n.logs = cmd, done, append(n.logs, logPath)
	n.mu.Unlock()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := mounter.ProbeSocket(pctx, n.sock)
		cancel()
		if err == nil {
			return time.Since(begin)
		}
		select {
		case <-done:
			n.t.Fatalf("the mounter exited while starting: %v\n%s", exit, tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(begin) > 60*time.Second {
			n.t.Fatalf("the mounter did not answer a Probe in 60s: %v\n%s", err, tail(logPath))
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() { n.signal(syscall.SIGKILL) }

// stop sends SIGTERM (a DaemonSet pod's termination) and waits.
func (n *node) stop() { n.signal(syscall.SIGTERM) }

func (n *node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		n.t.Errorf("the mounter did not stop in 30s after %s", sig)
	}
}

// request is the kubelet's NodePublishVolume for pod ns/pod and class, with
// fresh tokens in the volume context or, with inSecrets, in the secrets
// field (serviceAccountTokenInSecrets).
func (n *node) request(ns, pod, class string, inSecrets bool) *csi.NodePublishVolumeRequest {
	tok, err := n.c.issuer.ServiceAccountToken(ns, sa, identity.STSAudience, time.Hour)
	if err != nil {
		n.t.Fatal(err)
	}
	n.mu.Lock()
	n.tokens = append(n.tokens, tok)
	n.mu.Unlock()
	vc := mountertest.VolumeContext(ns, pod, sa, class, map[string]string{identity.STSAudience: tok})
	req := &csi.NodePublishVolumeRequest{
		VolumeId:   "csi-" + ns + "-" + pod,
		TargetPath: n.target(pod),
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY},
		},
		Readonly:      true,
		VolumeContext: vc,
	}
	if inSecrets {
		req.Secrets = map[string]string{mounter.CtxTokens: vc[mounter.CtxTokens]}
		delete(vc, mounter.CtxTokens)
	}
	return req
}

// target is pod's target path (its parent made, as the kubelet does).
func (n *node) target(pod string) string {
	return mountertest.KubeletTarget(n.kubeletDir, mountertest.PodUID(pod), "secrets")
}

func (n *node) publish(ctx context.Context, ns, pod, class string, inSecrets bool) error {
	_, err := n.csi.NodePublishVolume(ctx, n.request(ns, pod, class, inSecrets))
	return err
}

func (n *node) unpublish(ctx context.Context, ns, pod string) error {
	_, err := n.csi.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-" + ns + "-" + pod, TargetPath: n.target(pod)})
	return err
}

// stagings returns the staging directories of the volumes the plugin dir holds.
func (n *node) stagings() []string {
	m, _ := filepath.Glob(filepath.Join(n.pluginDir, "volumes", "*", "mnt"))
	sort.Strings(m)
	return m
}

// metric reads one sample of the mounter's /metrics: name without the
// aws_secrets_injector_mounter_ prefix, labels as printed ("" for none); 0
// when absent.
func (n *node) metric(ctx context.Context, name, labels string) float64 {
	n.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.httpAddr+"/metrics", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	want := "aws_secrets_injector_mounter_" + name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				n.t.Fatalf("metric %s: %v", want, err)
			}
			return f
		}
	}
	return 0
}

// checkLogs fails the test when a log line of the mounter holds any part of
// a token sent to it, or one of the secret values.
func (n *node) checkLogs(values []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var size int
	for _, p := range n.logs {
		b, err := os.ReadFile(p)
		if err != nil {
			n.t.Errorf("read mounter log: %v", err)
			continue
		}
		size += len(b)
		out := string(b)
		for _, tok := range n.tokens {
			for i, part := range strings.Split(tok, ".") {
				if strings.Contains(out, part) {
					n.t.Errorf("%s holds part %d of a service-account token", filepath.Base(p), i)
					return
				}
			}
		}
		for _, v := range values {
			if strings.Contains(out, v) {
				n.t.Errorf("%s holds a secret value", filepath.Base(p))
				return
			}
		}
	}
	if len(n.logs) > 0 && size == 0 {
		n.t.Errorf("the mounter logged nothing at --v=10: the token check saw no line")
	}
}

// generationName is the atomic writer's generation directory name.
var generationName = regexp.MustCompile(`^\.\.[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}\.[0-9]+$`)

// leftovers lists what a completed write does not leave in a staging
// directory: generations beyond the one ..data names, a ..data_tmp, and the
// reason Verify gives when the set is not whole.
func leftovers(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	cur, _ := os.Readlink(filepath.Join(dir, atomicdir.DataLink))
	var out []string
	for _, e := range ents {
		switch {
		case generationName.MatchString(e.Name()) && e.Name() != cur:
			out = append(out, "stale generation "+e.Name())
		case e.Name() == "..data_tmp":
			out = append(out, "..data_tmp")
		}
	}
	if err := atomicdir.Verify(dir); err != nil {
		out = append(out, err.Error())
	}
	return out
}

// mountsUnder counts the mount points below dir.
func mountsUnder(dir string) int {
	m, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return -1
	}
	return len(m)
}

// tail returns the end of a log file, for a failure message.
func tail(p string) string {
	b, _ := os.ReadFile(p)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// proxy forwards TCP connections from a loopback port to the API server and
// can be taken down (connections refused, open ones cut) and up again on the
// same port.
type proxy struct {
	backend string
	addr    string

	mu    sync.Mutex
	lis   net.Listener
	conns map[net.Conn]struct{}
}

func newProxy(host string) (*proxy, error) {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("API server address %q: not a URL", host)
	}
	p := &proxy{backend: u.Host, conns: map[net.Conn]struct{}{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.addr = lis.Addr().String()
	p.serve(lis)
	return p, nil
}

// Up listens again on the proxy's port.
func (p *proxy) Up() error {
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", p.addr)
	if err != nil {
		return fmt.Errorf("proxy up: %w", err)
	}
	p.serve(lis)
	return nil
}

// Down closes the listener and every open connection.
func (p *proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		_ = p.lis.Close()
		p.lis = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

func (p *proxy) serve(lis net.Listener) {
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	go func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("tcp", p.backend)
			if err != nil {
				_ = in.Close()
				continue
			}
			if !p.track(in, out) {
				continue
			}
			go p.pipe(in, out)
			go p.pipe(out, in)
		}
	}()
}

// track records a connection pair, or closes it when the proxy went down meanwhile.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst until either side closes (or Down cuts both).
func (p *proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// TestFaults runs the battery on one API server and one fake AWS; each fault
// has its own mounter process, directories and namespace.
func TestFaults(t *testing.T) {
	requireRoot(t)
	c := startCluster(t)
	t.Run("kill-9-during-rotation", func(t *testing.T) { testKillDuringRotation(t, c) })
	t.Run("aws-outage", func(t *testing.T) { testAWSOutage(t, c) })
	t.Run("tmpfs-full", func(t *testing.T) { testTmpfsFull(t, c) })
	t.Run("api-server-down", func(t *testing.T) { testAPIServerDown(t, c) })
	t.Run("restart-with-live-volumes", func(t *testing.T) { testRestartWithLiveVolumes(t, c) })
}
