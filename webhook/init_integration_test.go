//go:build integration

package webhook

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

const seedPassword = "supersecretpassword"

// buildInjector is the real binary the image's entrypoint names
// (contract.DefaultBinary, /asi-inject: cmd/asi-inject), built once per test
// process. sandbox builds it, so no command's timeout covers a cold build.
func buildInjector(t *testing.T) string {
	return testbin.Path(t, strings.TrimPrefix(contract.DefaultBinary, "/"))
}

// podSandbox is the injector container of an admitted pod, laid out on this
// machine the way the kubelet would: each volume it mounts is a directory
// (a tmpfs for the memory emptyDir when running as root), the projected
// token a file holding a token the API server minted for the pod, and the
// env, args and user exactly the container's, with mount paths mapped.
type podSandbox struct {
	c      *corev1.Container
	mounts map[string]string // container mount path -> host directory
	env    []string
	cred   *syscall.Credential
	maxRSS int64 // bytes, the peak RSS sampled during run
}

// vmHWM reads the peak resident set (bytes) from a /proc/PID/status file;
// 0 once the process has exited.
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// sandbox prepares the injector container of pod (as created by the API
// server, so with its UID) for a run.
func sandbox(t *testing.T, env *envtest.Env, pod *corev1.Pod) *podSandbox {
	t.Helper()
	buildInjector(t) // before any command's timeout starts
	ctx := context.Background()
	c := injectorContainer(t, pod)
	root, err := os.MkdirTemp("", "webhook-init-pod-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	must(t, os.Chmod(root, 0o755))
	s := &podSandbox{c: c, mounts: map[string]string{}}
	for i, vm := range c.VolumeMounts {
		vi := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if vi < 0 {
			t.Fatalf("mount %s names no volume", vm.Name)
		}
		v := pod.Spec.Volumes[vi]
		dir := filepath.Join(root, strconv.Itoa(i)+"-"+vm.Name)
		must(t, os.Mkdir(dir, 0o755))
		switch {
		case v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory:
			if vm.ReadOnly {
				t.Errorf("the injector's mount of %s is read-only", vm.Name)
			}
			if os.Geteuid() == 0 {
				opts := "mode=0777"
				if v.EmptyDir.SizeLimit != nil {
					opts += ",size=" + strconv.FormatInt(v.EmptyDir.SizeLimit.Value(), 10)
				}
				must(t, syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts))
				t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
			}
			must(t, os.Chmod(dir, 0o777)) // the kubelet's emptyDir mode
		case v.Projected != nil:
			if !vm.ReadOnly {
				t.Errorf("the token mount %s is writable", vm.Name)
			}
			for _, src := range v.Projected.Sources {
				sat := src.ServiceAccountToken
				if sat == nil {
					t.Fatalf("volume %s: only service-account token projections expected, got %+v", v.Name, src)
				}
				opts := []envtest.TokenOption{envtest.BoundToPod(pod.Name, pod.UID)}
				if sat.ExpirationSeconds != nil {
					opts = append(opts, envtest.ExpiresIn(time.Duration(*sat.ExpirationSeconds)*time.Second))
				}
				tok, err := env.MintToken(ctx, pod.Namespace, pod.Spec.ServiceAccountName, sat.Audience, opts...)
				if err != nil {
					t.Fatal(err)
				}
				must(t, os.WriteFile(filepath.Join(dir, sat.Path), []byte(tok), 0o644))
			}
		default:
			t.Fatalf("the injector mounts volume %s of an unexpected kind: %+v", v.Name, v.VolumeSource)
		}
		s.mounts[vm.MountPath] = dir
	}
	// The container's env, paths mapped; plus only what keeps the host's
	// own AWS configuration out (a container has none of it).
	s.env = []string{
		"HOME=" + filepath.Join(root, "no-home"),
		"AWS_CONFIG_FILE=" + filepath.Join(root, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(root, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("env %s uses valueFrom", e.Name)
		}
		s.env = append(s.env, e.Name+"="+s.hostPath(e.Value))
	}
	if os.Geteuid() == 0 {
		sc := c.SecurityContext
		if sc == nil || sc.RunAsUser == nil || sc.RunAsGroup == nil {
			t.Fatalf("no runAsUser/runAsGroup to run as: %+v", sc)
		}
		s.cred = &syscall.Credential{Uid: uint32(*sc.RunAsUser), Gid: uint32(*sc.RunAsGroup)}
	}
	return s
}

// hostPath maps a container path under one of the mounts to the host.
func (s *podSandbox) hostPath(p string) string {
	for mp, dir := range s.mounts {
		if p == mp {
			return dir
		}
		if strings.HasPrefix(p, mp+"/") {
			return dir + p[len(mp):]
		}
	}
	return p
}

// command is argv (argv[0] being the image's entrypoint, or the absolute
// binary path of a probe) run as the container would run it.
func (s *podSandbox) command(ctx context.Context, t *testing.T, argv []string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	bin := buildInjector(t)
	if argv[0] != contract.DefaultBinary {
		t.Fatalf("command %v does not run the image's binary", argv)
	}
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Env = s.env
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd, &out
}

// containerArgv is the container's command line: the image's entrypoint
// (the binary) with its args, as it has no command of its own.
func (s *podSandbox) containerArgv(t *testing.T) []string {
	t.Helper()
	if len(s.c.Command) != 0 {
		t.Fatalf("the injector container overrides the entrypoint: %v", s.c.Command)
	}
	return append([]string{contract.DefaultBinary}, s.c.Args...)
}

// run runs the container to completion: exit code and output. s.maxRSS
// is then the process's peak resident set.
func (s *podSandbox) run(t *testing.T) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, out := s.command(ctx, t, s.containerArgv(t))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the injector: %v", err)
	}
	// The rusage of a child forked by Go includes the test process's own
	// peak (vfork shares its memory until exec), so sample VmHWM instead.
	sampled := make(chan int64)
	stop := make(chan struct{})
	go func() {
		var peak int64
		status := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "status")
		for {
			peak = max(peak, vmHWM(status))
			select {
			case <-stop:
				sampled <- peak
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	s.maxRSS = <-sampled
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("run the injector: %v", err)
	return -1, ""
}

func (s *podSandbox) secretsDir(t *testing.T, mountPath string) string {
	t.Helper()
	d, ok := s.mounts[mountPath]
	if !ok {
		t.Fatalf("the injector does not mount %s", mountPath)
	}
	return d
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAPIServerInitMode: the real API server admits an init-mode pod through
// the webhook; then the injector container of the admitted pod runs for real
// — the built binary, with the container's args, env, user and mounts (the
// memory emptyDir a tmpfs when root, the IRSA token minted by the API
// server's TokenRequest API for the pod, with the projected volume's
// audience) — against the fake AWS, which trusts the API server's issuer.
func TestAPIServerInitMode(t *testing.T) {
	const mwcName, roleARN = "aws-secrets-injector-init", "arn:aws:iam::111122223333:role/my-app"
	go func() { _, _ = testbin.Build(strings.TrimPrefix(contract.DefaultBinary, "/")) }() // overlaps with the control plane's start
	env := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfig(mwcName)},
	}))
	fake, err := fakeaws.New(fakeaws.State{
		Region: "us-east-1",
		Roles: []fakeaws.Role{{ARN: roleARN, Allow: []string{"my-app/*"},
			Trust: &fakeaws.RoleTrust{Issuers: []string{env.Issuer}, Subjects: []string{"system:serviceaccount:opted:my-app"}}}},
		Secrets:                 []fakeaws.Secret{{Name: "my-app/db-credentials", Value: `{"username":"admin","password":"` + seedPassword + `"}`}},
		PodIdentityAssociations: []fakeaws.PodIdentityAssociation{{Namespace: "opted", ServiceAccount: "pi-app", RoleARN: roleARN}},
	})
	must(t, err)
	must(t, fake.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = fake.Close() })
	must(t, fake.TrustIssuer(env.Issuer, "", env.SigningKey))
	must(t, fake.TrustIssuer(env.Issuer, fakeaws.PodIdentityAudience, env.SigningKey))

	o := initOptions(env, mwcName)
	o.InjectorAWSEndpoint = fake.URL()
	ctx := startRun(t, o)

	cs := env.Clientset
	if _, err := env.CreateNamespace(ctx, "opted", map[string]string{NamespaceLabel: NamespaceLabelValue}); err != nil {
		t.Fatal(err)
	}
	createClass(t, env, "opted", "db")
	createClassObjects(t, env, "opted", "missing", "- objectName: \"my-app/absent\"\n  objectType: \"secretsmanager\"\n")
	for _, sa := range []*corev1.ServiceAccount{
		{ObjectMeta: metav1.ObjectMeta{Name: "my-app", Namespace: "opted", Annotations: map[string]string{IRSARoleARNAnnotation: roleARN}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pi-app", Namespace: "opted"}}, // EKS Pod Identity: no annotation
	} {
		if _, err := cs.CoreV1().ServiceAccounts("opted").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	createInitAs := func(name, class, serviceAccount string, extra map[string]string, change func(*corev1.Pod)) *corev1.Pod {
		t.Helper()
		ann := injectAnn(class)
		ann[AnnotationMode] = string(ModeInit)
		for k, v := range extra {
			ann[k] = v
		}
		p := plainPod(name, ann)
		p.Spec.ServiceAccountName = serviceAccount
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1"}}
		if change != nil {
			change(p)
		}
		out, err := cs.CoreV1().Pods("opted").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
		return out
	}
	createInit := func(name, class string, extra map[string]string) *corev1.Pod {
		t.Helper()
		return createInitAs(name, class, "my-app", extra, nil)
	}

	t.Run("one-shot: admitted, mutated, the init container fills the emptyDir", func(t *testing.T) {
		p := createInit("one-shot", "db", nil)
		if p.Annotations[AnnotationStatus] != StatusInjected {
			t.Fatalf("not mutated: %v", p.Annotations)
		}
		if n := len(p.Spec.InitContainers); n != 2 || p.Spec.InitContainers[0].Name != "migrate" || p.Spec.InitContainers[1].Name != InjectorContainerName {
			t.Fatalf("init containers %+v: want migrate, then ours", p.Spec.InitContainers)
		}
		c := &p.Spec.InitContainers[1]
		if c.RestartPolicy != nil || c.StartupProbe != nil || c.Image != o.InjectorImage {
			t.Errorf("one-shot container: restartPolicy %v, startupProbe %v, image %s", c.RestartPolicy, c.StartupProbe, c.Image)
		}
		app := p.Spec.Containers[0]
		if !slices.ContainsFunc(app.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.MountPath == DefaultMountPath && m.ReadOnly && m.Name == DefaultVolumeName
		}) {
			t.Errorf("app mounts %+v", app.VolumeMounts)
		}
		for _, want := range []string{"AWS_ENDPOINT_URL=" + fake.URL(), "AWS_ENDPOINT_URL_STS=" + fake.URL(), "AWS_REGION=us-east-1",
			"AWS_ROLE_ARN=" + roleARN, "AWS_WEB_IDENTITY_TOKEN_FILE=" + IRSAMountPath + "/token"} {
			k, v, _ := strings.Cut(want, "=")
			if i := envIndex(c.Env, k); i < 0 || c.Env[i].Value != v {
				t.Errorf("env %s missing from %+v", want, c.Env)
			}
		}

		s := sandbox(t, env, p)
		fake.ResetCalls()
		code, out := s.run(t)
		if code != 0 {
			t.Fatalf("injector exit %d:\n%s", code, out)
		}
		if strings.Contains(out, seedPassword) {
			t.Errorf("output leaks the value: %s", out)
		}
		dir := s.secretsDir(t, DefaultMountPath)
		if u, pw := readFile(t, filepath.Join(dir, "db-user")), readFile(t, filepath.Join(dir, "db-password")); u != "admin" || pw != seedPassword {
			t.Errorf("files: db-user %q, db-password of %d bytes", u, len(pw))
		}
		// The default resources fit what the injector really uses.
		t.Logf("injector peak RSS %.1f MiB", float64(s.maxRSS)/(1<<20))
		if req := c.Resources.Requests.Memory(); s.maxRSS <= 0 || s.maxRSS > req.Value() {
			t.Errorf("injector peak RSS %d bytes, memory request %s", s.maxRSS, req)
		}
		st := fake.Calls()
		if st.Count("sts:AssumeRoleWithWebIdentity", "") != 1 || st.ByPrincipal[roleARN] < 1 {
			t.Errorf("not fetched as the pod's role: %+v", st.Calls)
		}
		if s.cred != nil {
			var sys syscall.Stat_t
			must(t, syscall.Stat(filepath.Join(dir, "db-user"), &sys))
			if sys.Uid != uint32(DefaultInjectorUser) {
				t.Errorf("file owned by uid %d, want %d", sys.Uid, DefaultInjectorUser)
			}
		}
	})

	t.Run("missing secret: exits non-zero with the message, writes nothing", func(t *testing.T) {
		p := createInit("missing", "missing", nil)
		s := sandbox(t, env, p)
		code, out := s.run(t)
		if code == 0 {
			t.Fatalf("injector succeeded:\n%s", out)
		}
		t.Logf("injector output: %s", out)
		if strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("want one line, got:\n%s", out)
		}
		for _, want := range []string{"my-app/absent", "opted/missing"} {
			if !strings.Contains(out, want) {
				t.Errorf("output %q does not name %q", out, want)
			}
		}
		entries, err := os.ReadDir(s.secretsDir(t, DefaultMountPath))
		if err != nil || len(entries) != 0 {
			t.Errorf("mount path not empty after a failure: %v %v", entries, err)
		}
	})

	t.Run("EKS Pod Identity webhook ran first: the injector gets its env and token, and uses them", func(t *testing.T) {
		tokenFile := PodIdentityMountPath + "/" + PodIdentityVolumeName
		p := createInitAs("pod-identity", "db", "pi-app", nil, func(p *corev1.Pod) {
			exp := int64(86400)
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: PodIdentityVolumeName, VolumeSource: corev1.VolumeSource{
				Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience: fakeaws.PodIdentityAudience, ExpirationSeconds: &exp, Path: PodIdentityVolumeName}}}}}})
			app := &p.Spec.Containers[0]
			app.Env = append(app.Env, corev1.EnvVar{Name: envAWSContainerURI, Value: fake.PodIdentityURL()},
				corev1.EnvVar{Name: envAWSContainerAuthFile, Value: tokenFile})
			app.VolumeMounts = append(app.VolumeMounts, corev1.VolumeMount{Name: PodIdentityVolumeName, MountPath: PodIdentityMountPath, ReadOnly: true})
		})
		c := injectorContainer(t, p)
		if envIndex(c.Env, envAWSRoleARN) >= 0 || envIndex(c.Env, envAWSContainerURI) < 0 || c.Env[envIndex(c.Env, envAWSContainerAuthFile)].Value != tokenFile {
			t.Fatalf("injector env %+v", c.Env)
		}
		s := sandbox(t, env, p)
		fake.ResetCalls()
		if code, out := s.run(t); code != 0 {
			t.Fatalf("injector exit %d:\n%s", code, out)
		}
		if pw := readFile(t, filepath.Join(s.secretsDir(t, DefaultMountPath), "db-password")); pw != seedPassword {
			t.Errorf("db-password of %d bytes", len(pw))
		}
		st := fake.Calls()
		if st.Count("eks-auth:AssumeRoleForPodIdentity", "") != 1 || st.Count("sts:AssumeRoleWithWebIdentity", "") != 0 {
			t.Errorf("not fetched with Pod Identity credentials: %+v", st.Calls)
		}
	})

	t.Run("refresh: native sidecar, its startup probe passes once filled, exits 0 on SIGTERM", func(t *testing.T) {
		p := createInit("refresh", "db", map[string]string{AnnotationRefresh: "true", AnnotationRefreshInterval: "1m", AnnotationInitFirst: "true"})
		c := &p.Spec.InitContainers[0]
		if c.Name != InjectorContainerName || c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways ||
			c.StartupProbe == nil || c.StartupProbe.Exec == nil {
			t.Fatalf("first init container is not our native sidecar: %+v", c)
		}
		s := sandbox(t, env, p)
		probe := func() bool {
			pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer pcancel()
			cmd, _ := s.command(pctx, t, c.StartupProbe.Exec.Command)
			return cmd.Run() == nil
		}
		if probe() {
			t.Fatal("startup probe passed before the sidecar ran")
		}
		rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
		defer rcancel()
		cmd, out := s.command(rctx, t, s.containerArgv(t))
		must(t, cmd.Start())
		started := false
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if started = probe(); started {
				break
			}
		}
		if !started {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("startup probe never passed:\n%s", out)
		}
		if pw := readFile(t, filepath.Join(s.secretsDir(t, DefaultMountPath), "db-password")); pw != seedPassword {
			t.Errorf("db-password of %d bytes", len(pw))
		}
		must(t, cmd.Process.Signal(syscall.SIGTERM))
		if err := cmd.Wait(); err != nil {
			t.Errorf("sidecar on SIGTERM: %v\n%s", err, out)
		}
	})
}

// TestAPIServerAcceptsInitGoldens: every pod the init-mode and exec golden
// cases produce passes the real API server's validation (dry run, in a
// namespace the webhook does not watch).
func TestAPIServerAcceptsInitGoldens(t *testing.T) {
	env := envtest.Start(t)
	ctx := context.Background()
	if _, err := env.CreateNamespace(ctx, "apps", nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tc := range goldenCases() {
		if !strings.HasPrefix(tc.name, "init-") && !strings.HasPrefix(tc.name, "exec-") {
			continue
		}
		cfg := testConfig()
		if tc.cfg != nil {
			tc.cfg(&cfg)
		}
		out, _, err := Mutate(ctx, tc.pod, tc.ns, cfg, testLookups())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, err := env.Clientset.CoreV1().Pods("apps").Create(ctx, out, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("%s: the API server refuses the mutated pod: %v", tc.name, err)
		}
		n++
	}
	if n < 15 {
		t.Fatalf("only %d init and exec cases", n)
	}
}

func createClassObjects(t *testing.T, env *envtest.Env, ns, name, objects string) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"provider": "aws", "parameters": map[string]any{"objects": objects, "region": "us-east-1"}},
	}}
	u.SetGroupVersionKind(SecretProviderClassGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	must(t, env.Client.Create(context.Background(), u))
}
