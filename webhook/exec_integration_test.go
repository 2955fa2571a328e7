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
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	execcontract "github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// appUser is the uid the sandboxed app containers run as (when root): not
// the copy container's, so the copied binary must be executable by others.
const appUser = 1000

// runAs runs argv (argv[0] already a host path) with env, as uid (when root
// and uid > 0), for at most a minute: its exit code and its output.
func runAs(t *testing.T, argv, env []string, uid uint32) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if os.Geteuid() == 0 && uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("run %q: %v", argv, err)
	return -1, ""
}

// containerEnv is c's env with container paths mapped to the host (mounts:
// container mount path -> host directory), plus a PATH for the app's shell.
func containerEnv(t *testing.T, c *corev1.Container, mounts map[string]string) []string {
	t.Helper()
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/"}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("env %s uses valueFrom", e.Name)
		}
		env = append(env, e.Name+"="+mapPath(mounts, e.Value))
	}
	return env
}

func mapPath(mounts map[string]string, p string) string {
	for mp, dir := range mounts {
		if p == mp {
			return dir
		}
		if strings.HasPrefix(p, mp+"/") {
			return dir + p[len(mp):]
		}
	}
	return p
}

// install runs the pod's copy init container as the kubelet would: the
// image's lean asi-exec (the real binary) with the container's args, as its
// user, into a fresh directory standing in for the emptyDir (mode 0777, as
// the kubelet makes it). It returns that directory.
func install(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	c := &pod.Spec.InitContainers[0]
	if c.Name != ExecInstallContainerName || !slices.Equal(c.Command, []string{execcontract.ImageBinary}) {
		t.Fatalf("first init container %s runs %q: want %s running %s", c.Name, c.Command, ExecInstallContainerName, execcontract.ImageBinary)
	}
	dir, err := os.MkdirTemp("", "webhook-exec-bin-")
	must(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o777))
	mounts := map[string]string{c.VolumeMounts[0].MountPath: dir}
	argv := append([]string{testbin.Path(t, strings.TrimPrefix(execcontract.ImageBinary, "/"))}, c.Args...)
	for i := range argv[1:] {
		argv[i+1] = mapPath(mounts, argv[i+1])
	}
	var uid uint32
	if sc := c.SecurityContext; sc != nil && sc.RunAsUser != nil {
		uid = uint32(*sc.RunAsUser)
	}
	if code, out := runAs(t, argv, containerEnv(t, c, mounts), uid); code != 0 {
		t.Fatalf("copy container exit %d:\n%s", code, out)
	}
	st, err := os.Stat(filepath.Join(dir, filepath.Base(execcontract.Binary)))
	must(t, err)
	if st.Mode().Perm() != execcontract.BinaryMode {
		t.Errorf("copied binary mode %v, want %v", st.Mode().Perm(), os.FileMode(execcontract.BinaryMode))
	}
	return dir
}

// runApp runs app container c of the admitted pod: its rewritten command
// with the wrapper's binary from bin and the secrets from secretsDir.
func runApp(t *testing.T, c *corev1.Container, bin, mountPath, secretsDir string) (int, string) {
	t.Helper()
	mounts := map[string]string{execcontract.BinDir: bin, mountPath: secretsDir}
	if len(c.Command) == 0 || c.Command[0] != execcontract.Binary || c.Args != nil {
		t.Fatalf("container %s: command %q args %q", c.Name, c.Command, c.Args)
	}
	argv := append([]string{mapPath(mounts, c.Command[0])}, c.Command[1:]...)
	return runAs(t, argv, containerEnv(t, c, mounts), appUser)
}

// The app of the exec pods: it prints its DB_PASSWORD, and how many of the
// wrapper's own variables it can see (the wrapper removes them all).
var printApp = []string{"/bin/sh", "-c", `printf '%s|' "$DB_PASSWORD"; env | grep -c '^AWS_SECRETS_INJECTOR_' || true`}

// TestAPIServerExec: the real API server admits exec pods through the
// webhook in both modes, and denies what the wrapper could not run, with the
// webhook's message. Then the admitted pods run for real: the copy init
// container is the built asi-exec copying itself, the app container the copied
// binary in front of a shell that prints $DB_PASSWORD; in init mode the
// injector container fills the emptyDir from the fake AWS first, in csi mode
// the atomic writer fills the directory the mounter would.
func TestAPIServerExec(t *testing.T) {
	const mwcName, roleARN = "aws-secrets-injector-exec", "arn:aws:iam::111122223333:role/my-app"
	go func() {
		_, _ = testbin.Build(strings.TrimPrefix(execcontract.ImageBinary, "/"))
		_, _ = testbin.Build(strings.TrimPrefix(contract.DefaultBinary, "/"))
	}()
	env := envtest.Start(t, envtest.WithWebhookInstallOptions(crenvtest.WebhookInstallOptions{
		MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{webhookConfig(mwcName)},
	}))
	fake, err := fakeaws.New(fakeaws.State{
		Region: "us-east-1",
		Roles: []fakeaws.Role{{ARN: roleARN, Allow: []string{"my-app/*"},
			Trust: &fakeaws.RoleTrust{Issuers: []string{env.Issuer}, Subjects: []string{"system:serviceaccount:opted:my-app"}}}},
		Secrets: []fakeaws.Secret{{Name: "my-app/db-credentials", Value: `{"username":"admin","password":"` + seedPassword + `"}`}},
	})
	must(t, err)
	must(t, fake.Start("127.0.0.1:0"))
	t.Cleanup(func() { _ = fake.Close() })
	must(t, fake.TrustIssuer(env.Issuer, "", env.SigningKey))

	o := initOptions(env, mwcName)
	o.InjectorAWSEndpoint = fake.URL()
	ctx := startRun(t, o)

	cs := env.Clientset
	if _, err := env.CreateNamespace(ctx, "opted", map[string]string{NamespaceLabel: NamespaceLabelValue}); err != nil {
		t.Fatal(err)
	}
	createClass(t, env, "opted", "db")
	createClassObjects(t, env, "opted", "clash", "- objectName: \"my-app/db-credentials\"\n  objectType: \"secretsmanager\"\n"+
		"  jmesPath:\n    - path: \"username\"\n      objectAlias: \"db-user\"\n    - path: \"password\"\n      objectAlias: \"db_user\"\n")
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "my-app", Namespace: "opted",
		Annotations: map[string]string{IRSARoleARNAnnotation: roleARN}}}
	if _, err := cs.CoreV1().ServiceAccounts("opted").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := func(name, class string, extra map[string]string, command, args []string) (*corev1.Pod, error) {
		ann := injectAnn(class)
		ann[AnnotationExec] = "true"
		for k, v := range extra {
			ann[k] = v
		}
		p := plainPod(name, ann)
		p.Spec.ServiceAccountName = "my-app"
		p.Spec.Containers[0].Command, p.Spec.Containers[0].Args = command, args
		return cs.CoreV1().Pods("opted").Create(ctx, p, metav1.CreateOptions{})
	}
	// checkOutput: the app saw the seed's password and none of the wrapper's
	// variables; the value itself never reaches the test's log.
	checkOutput := func(t *testing.T, code int, out string) {
		t.Helper()
		if code != 0 {
			t.Fatalf("app exit %d, output of %d bytes", code, len(out))
		}
		got, rest, _ := strings.Cut(out, "|")
		if got != seedPassword {
			t.Errorf("the app's DB_PASSWORD is %d bytes, not the seed's password (%d bytes)", len(got), len(seedPassword))
		}
		if strings.TrimSpace(rest) != "0" {
			t.Errorf("the app sees %q of the wrapper's variables, want 0", strings.TrimSpace(rest))
		}
	}

	t.Run("init mode: copy, injector, then the wrapped app prints the seed's password", func(t *testing.T) {
		p, err := create("exec-init", "db", map[string]string{AnnotationMode: string(ModeInit)}, printApp[:2], printApp[2:])
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if p.Annotations[AnnotationStatus] != StatusInjected {
			t.Fatalf("not mutated: %v", p.Annotations)
		}
		app := &p.Spec.Containers[0]
		if want := execcontract.Command(execcontract.Binary, printApp); !slices.Equal(app.Command, want) || app.Args != nil {
			t.Fatalf("stored command %q args %q, want %q", app.Command, app.Args, want)
		}
		s := sandbox(t, env, p)
		if code, out := s.run(t); code != 0 {
			t.Fatalf("injector exit %d:\n%s", code, out)
		}
		bin := install(t, p)
		code, out := runApp(t, app, bin, DefaultMountPath, s.secretsDir(t, DefaultMountPath))
		checkOutput(t, code, out)
	})

	t.Run("csi mode: the wrapped app reads the directory the mounter fills", func(t *testing.T) {
		p, err := create("exec-csi", "db", map[string]string{AnnotationExecEnv: "db-user=PGUSER"}, printApp[:2], printApp[2:])
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		app := &p.Spec.Containers[0]
		if i := envIndex(app.Env, execcontract.EnvEnvFrom); i < 0 || app.Env[i].Value != DefaultMountPath {
			t.Fatalf("env %+v", app.Env)
		}
		dir, err := os.MkdirTemp("", "webhook-exec-csi-") // not t.TempDir: its parent is 0700, and the app runs as another user
		must(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		must(t, os.Chmod(dir, 0o755))
		// What the mounter writes for the seed class: the whole secret and the two keys.
		if _, err := atomicdir.Write(dir, []secrets.File{
			{Path: "my-app_db-credentials", Mode: 0o644, Content: secrets.NewStringValue(`{"username":"admin","password":"` + seedPassword + `"}`)},
			{Path: "db-user", Mode: 0o644, Content: secrets.NewStringValue("admin")},
			{Path: "db-password", Mode: 0o644, Content: secrets.NewStringValue(seedPassword)},
		}); err != nil {
			t.Fatal(err)
		}
		bin := install(t, p)
		code, out := runApp(t, app, bin, DefaultMountPath, dir)
		checkOutput(t, code, out)
	})

	t.Run("denials come back from the API server with the webhook's message", func(t *testing.T) {
		for _, tc := range []struct {
			name, class   string
			extra         map[string]string
			command, args []string
			want1, want2  string
		}{
			{"no-command", "db", nil, nil, []string{"--port", "8080"}, `container "app" has no command`, "ENTRYPOINT"},
			{"bad-signal", "db", map[string]string{AnnotationExecOnChange: "signal:SIGRELOAD"}, printApp, nil, AnnotationExecOnChange, `"SIGRELOAD" is not a signal name`},
			{"clash", "clash", nil, printApp, nil, `files "db-user" and "db_user" both map to DB_USER`, AnnotationExecEnv},
		} {
			_, err := create("deny-"+tc.name, tc.class, tc.extra, tc.command, tc.args)
			if err == nil {
				t.Errorf("%s: admitted", tc.name)
				continue
			}
			if !strings.Contains(err.Error(), tc.want1) || !strings.Contains(err.Error(), tc.want2) {
				t.Errorf("%s: %v; want %q and %q", tc.name, err, tc.want1, tc.want2)
			}
		}
	})
}
