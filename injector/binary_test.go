//go:build integration

package injector

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

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/syncbuf"
	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// binary is the real injector as the image ships it (cmd/asi-inject), built
// once per test process.
func binary(t testing.TB) string { return testbin.Path(t, "asi-inject") }

// fullCLI is the operator CLI (cmd/aws-secrets-injector), whose inject
// subcommand containers rendered by older webhooks still run.
func fullCLI(t testing.TB) string { return testbin.Path(t) }

// pod is what a mutated pod gives the injector container: an emptyDir, a
// projected service-account token (IRSA) and the environment.
type pod struct {
	bin   string // the binary to run (binary unless a test says otherwise)
	dir   string // world-traversable scratch for the token and the mount
	mount string
	env   []string
	// uid/gid to run as when the test runs as root (so the binary runs non-root, as in the pod).
	cred *syscall.Credential
	// issuer signed the pod's token; the fake trusts it.
	issuer *fakeaws.TokenIssuer
}

const nobody = 65534

// newPod prepares a pod-like environment for the binary against fake, with
// IRSA credentials: a token of a trusted issuer in a file, AWS_ROLE_ARN and
// AWS_WEB_IDENTITY_TOKEN_FILE, as the EKS pod-identity webhook would set them.
func newPod(t testing.TB, fake *fakeaws.Server, objects string) *pod {
	t.Helper()
	// Build first: on a cold build cache the build takes minutes, which must not
	// count against the per-command timeouts below.
	bin := binary(t)
	ti, err := fakeaws.NewTokenIssuer(testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.TrustIssuer(testIssuer, "", ti.PublicKey()); err != nil {
		t.Fatal(err)
	}
	tok, err := ti.ServiceAccountToken("default", "my-app", fakeaws.STSAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "inject-pod-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &pod{bin: bin, dir: dir, mount: filepath.Join(dir, "secrets"), issuer: ti}
	tokenFile := filepath.Join(dir, "token")
	must(t, os.Chmod(dir, 0o755))
	must(t, os.WriteFile(tokenFile, []byte(tok), 0o644))
	must(t, os.Mkdir(p.mount, 0o755))
	if os.Geteuid() == 0 {
		must(t, os.Chown(p.mount, nobody, nobody))
		p.cred = &syscall.Credential{Uid: nobody, Gid: nobody}
	}
	spec, err := contract.EncodeSpec(map[string]string{"objects": objects, "region": "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	p.env = append([]string{
		"PATH=/usr/bin:/bin",
		"HOME=" + filepath.Join(dir, "no-home"), // absent, like a distroless image's
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ROLE_ARN=" + testRoleARN,
		"AWS_WEB_IDENTITY_TOKEN_FILE=" + tokenFile,
		contract.EnvSPC + "=" + spec,
		contract.EnvSPCName + "=default/my-spc",
		contract.EnvMountPath + "=" + p.mount,
	}, fake.Env()...)
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// command is the binary with args in p's environment.
func (p *pod) command(ctx context.Context, t testing.TB, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Env = p.env
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	ownGroup(cmd)
	return cmd, &stdout, &stderr
}

// ownGroup runs cmd in a process group of its own that its context's end
// kills whole, and bounds Wait once cmd has exited: a child that cmd left
// behind (peakrss's measured binary, the sandbox's) holds the output pipes
// and would otherwise keep Wait, and the test binary, waiting. cmd must come
// from exec.CommandContext (Start refuses a Cancel without a context).
func ownGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
}

// run runs the binary to completion and returns its exit code and stderr.
func (p *pod) run(t testing.TB, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, _, stderr := p.command(ctx, t, args...)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("run %v: %v", args, err)
	return -1, ""
}

// oneErrorLine checks that stderr is exactly one line starting with "error: " and returns it.
func oneErrorLine(t *testing.T, stderr string) string {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.HasPrefix(stderr, "error: ") {
		t.Fatalf("stderr should be exactly one \"error: ...\" line, got:\n%s", stderr)
	}
	if strings.Contains(stderr, seedPassword) || strings.Contains(stderr, "admin") {
		t.Errorf("stderr leaks a value: %s", stderr)
	}
	return strings.TrimSuffix(stderr, "\n")
}

func TestBinaryOneShotWithIRSA(t *testing.T) {
	fake := startFake(t, testState())
	p := newPod(t, fake, seedObjects)

	if code, stderr := p.run(t, "inject", "--check"); code == 0 {
		t.Errorf("probe passed before the fill (stderr %q)", stderr)
	}
	code, stderr := p.run(t, "inject")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, seedPassword) {
		t.Errorf("log leaks a value: %s", stderr)
	}
	files := readFiles(t, p.mount)
	if files["db-user"] != "admin" || files["db-password"] != seedPassword || files["db-port"] != "5432" {
		t.Errorf("files: %v", files)
	}
	// The pod's own chain was used: STS with the web identity token, then reads as the role.
	st := fake.Calls()
	if st.Count("sts:AssumeRoleWithWebIdentity", "") != 1 || st.ByPrincipal[testRoleARN] < 2 {
		t.Errorf("calls: %+v", st.Calls)
	}
	if p.cred != nil {
		var sys syscall.Stat_t
		must(t, syscall.Stat(filepath.Join(p.mount, "..data", "db-user"), &sys))
		if sys.Uid != nobody {
			t.Errorf("file owned by uid %d, want the non-root %d", sys.Uid, nobody)
		}
	}
	if code, stderr := p.run(t, "inject", "--check"); code != 0 {
		t.Errorf("probe after the fill: exit %d %s", code, stderr)
	}
}

func TestBinaryMissingSecretExitsNonZeroWithOneLine(t *testing.T) {
	fake := startFake(t, testState())
	p := newPod(t, fake, seedObjects+"- objectName: my-app/missing\n  objectType: secretsmanager\n")
	code, stderr := p.run(t, "inject")
	if code == 0 {
		t.Fatal("exit 0 with a missing secret")
	}
	line := oneErrorLine(t, stderr)
	for _, want := range []string{"default/my-spc", `"my-app/missing"`, "not found", "fix: "} {
		if !strings.Contains(line, want) {
			t.Errorf("error line lacks %q: %s", want, line)
		}
	}
	if names := entries(t, p.mount); len(names) != 0 {
		t.Errorf("wrote %v on failure", names)
	}
}

func TestBinaryBadEnvNamesTheVariable(t *testing.T) {
	fake := startFake(t, testState())
	p := newPod(t, fake, seedObjects)
	p.env = append(p.env, contract.EnvDeadline+"=soon")
	code, stderr := p.run(t, "inject")
	if code == 0 {
		t.Fatal("exit 0 with a bad deadline")
	}
	if line := oneErrorLine(t, stderr); !strings.Contains(line, contract.EnvDeadline) {
		t.Errorf("error does not name %s: %s", contract.EnvDeadline, line)
	}
	if fake.Calls().Total != 0 {
		t.Error("AWS called despite a bad environment")
	}
}

func TestBinaryRefreshExitsZeroOnSIGTERM(t *testing.T) {
	fake := startFake(t, testState())
	p := newPod(t, fake, seedObjects)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, _, _ := p.command(ctx, t, "inject", "--refresh-interval=1s", "--log-format=json")
	stderr := new(syncbuf.Buffer) // read while the process writes it
	cmd.Stderr = stderr
	must(t, cmd.Start())
	waitFor(t, 10*time.Second, "first fill", func() bool { return Check(p.mount) == nil })
	if _, err := fake.PutSecret("my-app/db-credentials", `{"username":"admin","password":"rotated"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "rotation", func() bool { return readFiles(t, p.mount)["db-password"] == "rotated" })
	// The log line follows the swap the files show: wait for it, or the
	// SIGTERM can land between the two.
	waitFor(t, 10*time.Second, "the rotation's log line", func() bool { return strings.Contains(stderr.String(), `"msg":"secrets rotated"`) })
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr)
	}
	out := stderr.String()
	if !strings.Contains(out, `"msg":"secrets rotated"`) || strings.Contains(out, "rotated\"}") || strings.Contains(out, seedPassword) {
		t.Errorf("logs should report the rotation without values:\n%s", out)
	}
}

// TestBinaryReadOnlyRootNonRootNoCapabilities runs the binary as a pod runs it:
// in its own mount namespace whose root filesystem is read-only, with the mount
// path a tmpfs (the memory emptyDir), as uid/gid 65534 with every capability
// dropped. Needs root to build that sandbox.
func TestBinaryReadOnlyRootNonRootNoCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("building a read-only root mount namespace needs root; TestBinaryOneShotWithIRSA covers non-root")
	}
	fake := startFake(t, testState())
	p := newPod(t, fake, seedObjects)
	bin := binary(t)
	const script = `set -eu
mount --bind / /
mount -o remount,bind,ro /
mount -t tmpfs -o size=1m,mode=0755,uid=65534,gid=65534 tmpfs "$AWS_SECRETS_INJECTOR_MOUNT_PATH"
if touch "$POD_DIR/rw-check" 2>/dev/null; then echo "root filesystem is writable"; exit 99; fi
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all -- "$BIN" inject || rc=$?
echo "exit=$rc"
cd "$AWS_SECRETS_INJECTOR_MOUNT_PATH"
for f in db-user db-port; do printf '%s=%s\n' "$f" "$(cat "$f")"; done
echo "owner=$(stat -c %u:%g ..data/db-user)"
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script)
	cmd.Env = append(slices.Clone(p.env), "BIN="+bin, "POD_DIR="+p.dir)
	ownGroup(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sandbox: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{"exit=0\n", "db-user=admin\n", "db-port=5432\n", "owner=65534:65534\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s\nstderr:\n%s", want, out, &stderr)
		}
	}
	// Nothing was written outside the mount path (which vanished with the namespace).
	if names := entries(t, p.mount); len(names) != 0 {
		t.Errorf("host mount dir not empty: %v", names)
	}
}

func TestBinaryCredentialFailuresAreImmediateAndExplained(t *testing.T) {
	fake := startFake(t, testState())
	for name, mutate := range map[string]func(p *pod){
		"token of an untrusted issuer": func(p *pod) {
			other, err := fakeaws.NewTokenIssuer("https://untrusted.example.test")
			must(t, err)
			tok, err := other.ServiceAccountToken("default", "my-app", fakeaws.STSAudience, time.Hour)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(p.dir, "token"), []byte(tok), 0o644))
		},
		"token file missing": func(p *pod) { must(t, os.Remove(filepath.Join(p.dir, "token"))) },
	} {
		t.Run(name, func(t *testing.T) {
			p := newPod(t, fake, seedObjects)
			mutate(p)
			start := time.Now()
			code, stderr := p.run(t, "inject")
			if code == 0 {
				t.Fatal("exit 0 without credentials")
			}
			line := oneErrorLine(t, stderr)
			if !strings.Contains(line, "get AWS credentials") || !strings.Contains(line, "eks.amazonaws.com/role-arn") {
				t.Errorf("error line: %s", line)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("a permanent credentials failure took %s (retried?)", d)
			}
		})
	}
}

// TestBinaryOneShotWithPodIdentity: EKS Pod Identity, as the EKS webhook sets
// it up (the agent's URL and a token file of audience pods.eks.amazonaws.com,
// no IRSA variables): the SDK's default chain calls the agent once, then the
// reads are made as the associated role.
func TestBinaryOneShotWithPodIdentity(t *testing.T) {
	state := testState()
	state.PodIdentityAssociations = []fakeaws.PodIdentityAssociation{{Namespace: "default", ServiceAccount: "my-app", RoleARN: testRoleARN}}
	fake := startFake(t, state)
	p := newPod(t, fake, seedObjects)
	must(t, fake.TrustIssuer(testIssuer, fakeaws.PodIdentityAudience, p.issuer.PublicKey()))
	tok, err := p.issuer.ServiceAccountToken("default", "my-app", fakeaws.PodIdentityAudience, time.Hour)
	must(t, err)
	tokenFile := filepath.Join(p.dir, "eks-pod-identity-token")
	must(t, os.WriteFile(tokenFile, []byte(tok), 0o644))
	p.env = slices.DeleteFunc(p.env, func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_ROLE_ARN=") || strings.HasPrefix(kv, "AWS_WEB_IDENTITY_TOKEN_FILE=")
	})
	p.env = append(p.env, "AWS_CONTAINER_CREDENTIALS_FULL_URI="+fake.PodIdentityURL(), "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+tokenFile)

	code, stderr := p.run(t, "inject")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	files := readFiles(t, p.mount)
	if files["db-user"] != "admin" || files["db-password"] != seedPassword || files["db-port"] != "5432" {
		t.Errorf("files: %v", files)
	}
	st := fake.Calls()
	if st.Count("eks-auth:AssumeRoleForPodIdentity", "") != 1 || st.Count("sts:AssumeRoleWithWebIdentity", "") != 0 || st.ByPrincipal[testRoleARN] < 2 {
		t.Errorf("calls: %+v", st.Calls)
	}
}

// TestBinaryFullCLIStillInjects: the full CLI keeps the inject subcommand and
// its probe, for a container rendered by an older webhook (the image's
// entrypoint, or a probe naming /aws-secrets-injector), with the same result.
func TestBinaryFullCLIStillInjects(t *testing.T) {
	fake := startFake(t, testState())
	p := newPod(t, fake, seedObjects)
	p.bin = fullCLI(t)
	if code, _ := p.run(t, "inject", "--check"); code == 0 {
		t.Error("probe passed before the fill")
	}
	if code, stderr := p.run(t, "inject"); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if files := readFiles(t, p.mount); files["db-password"] != seedPassword || files["db-port"] != "5432" {
		t.Errorf("files: %v", files)
	}
	if code, stderr := p.run(t, "inject", "--check"); code != 0 {
		t.Errorf("probe after the fill: exit %d %s", code, stderr)
	}
}

// TestBinaryCommandLines: asi-inject takes its role's name or none, and hands
// the full CLI's other commands to the full CLI beside it (the image's
// entrypoint answering `IMAGE version`); alone, it says where they are.
func TestBinaryCommandLines(t *testing.T) {
	fake := startFake(t, testState())
	p := newPod(t, fake, seedObjects)
	fullCLI(t) // beside asi-inject, as in the image
	if code, stderr := p.run(t, "--check"); code != 1 || !strings.Contains(stderr, "not ready") {
		t.Errorf("--check before the fill: exit %d %s", code, stderr)
	}
	if code, stderr := p.run(t); code != 0 {
		t.Fatalf("no arguments: exit %d, stderr:\n%s", code, stderr)
	}
	if code, stderr := p.run(t, "--check"); code != 0 {
		t.Errorf("--check after the fill: exit %d %s", code, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, stdout, stderr := p.command(ctx, t, "version")
	if err := cmd.Run(); err != nil || !strings.HasPrefix(stdout.String(), "aws-secrets-injector ") {
		t.Errorf("version through the full CLI: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	if code, stderr := p.run(t, "no-such-command"); code != 1 || !strings.Contains(stderr, `unknown command "no-such-command"`) {
		t.Errorf("unknown command (the full CLI's answer): exit %d %s", code, stderr)
	}
	if code, stderr := p.run(t, "inject", "--no-such-flag"); code != 2 || !strings.Contains(stderr, "no-such-flag") {
		t.Errorf("bad flag: exit %d %s", code, stderr)
	}

	// Alone (no full CLI beside it): a usage error naming what is missing.
	alone, err := os.MkdirTemp("", "asi-inject-alone-") // not t.TempDir: its parent is private to root
	must(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(alone) })
	must(t, os.Chmod(alone, 0o755))
	b, err := os.ReadFile(p.bin)
	must(t, err)
	p.bin = filepath.Join(alone, "asi-inject")
	must(t, os.WriteFile(p.bin, b, 0o755))
	code, errOut := p.run(t, "version")
	if line := oneErrorLine(t, errOut); code != 2 || !strings.Contains(line, `unknown command "version"`) || !strings.Contains(line, "aws-secrets-injector") {
		t.Errorf("alone: exit %d %s", code, line)
	}
}
