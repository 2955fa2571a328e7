package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/cli/doctor"
	"github.com/seed-ddac166a/aws-secrets-injector/test/examples"
)

// TestEndToEnd installs the chart on the node and runs the scenarios in
// order on that one installation (bringing the node up and installing the
// chart is the expensive part).
func TestEndToEnd(t *testing.T) {
	e := setup(t, upstreamName)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	t.Run("SeedManifests", func(t *testing.T) { e.seedManifests(t, ctx) })
	t.Run("WebhookCSI", func(t *testing.T) { e.webhookCSI(t, ctx) })
	t.Run("InitMode", func(t *testing.T) { e.initMode(t, ctx) })
	t.Run("ExecEnv", func(t *testing.T) { e.execEnv(t, ctx) })
	t.Run("Rotation", func(t *testing.T) { e.rotation(t, ctx) })
	t.Run("Doctor", func(t *testing.T) { e.doctor(t, ctx) })
	t.Run("FailureVisible", func(t *testing.T) { e.failureVisible(t, ctx) })
	t.Run("MounterRestart", func(t *testing.T) { e.mounterRestart(t, ctx) })
	t.Run("ExecReload", func(t *testing.T) { e.execReload(t, ctx) })
	t.Run("SyncSecrets", func(t *testing.T) { e.syncSecrets(t, ctx) })
}

// seedPod is the user's seed-pod.yaml with only the image replaced (the
// toolbox image has sleep and cat on its PATH) and, when driver is not the
// upstream name, the volume's driver.
func (e *env) seedPod(t *testing.T, driver string) string {
	t.Helper()
	s := string(examples.SeedPod)
	for old, repl := range map[string]string{"image: ubuntu": "image: " + toolboxImage, "driver: " + upstreamName: "driver: " + driver} {
		if !strings.Contains(s, old) {
			t.Fatalf("seed-pod.yaml has no %q", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	return s
}

// seedManifests: the user's SecretProviderClass and pod, with the chart's
// driver name set to the upstream driver's, then to the default.
func (e *env) seedManifests(t *testing.T, ctx context.Context) {
	const ns = "seed"
	e.namespace(t, ctx, ns, false)
	for i, driver := range []string{upstreamName, defaultDriver} {
		if i > 0 {
			e.kubectl(t, ctx, "delete", "-n", ns, "pod", "my-app-pod", "--wait=true", "--timeout=2m")
			start := time.Now()
			e.helm(t, ctx, "upgrade", "--set", "driverName="+driver)
			t.Logf("helm upgrade to driver %s ready in %s", driver, time.Since(start).Round(time.Second))
		}
		got := strings.TrimSpace(e.kubectl(t, ctx, "get", "csidriver", "-o", "jsonpath={.items[*].metadata.name}"))
		if got != driver {
			t.Fatalf("CSIDriver objects %q, want %q", got, driver)
		}
		start := time.Now()
		e.apply(t, ctx, ns, e.seedPod(t, driver))
		e.waitReady(t, ctx, ns, "my-app-pod", 3*time.Minute)
		t.Logf("driver %s: seed pod ready in %s", driver, time.Since(start).Round(time.Second))
		e.checkFiles(t, ctx, ns, "my-app-pod", "admin", "supersecretpassword")
		e.checkTmpfsRO(t, ctx, ns, "my-app-pod", "/mnt/secrets-store")
	}
}

const (
	injectNS = "inject" // labelled aws-secrets-injector.io/inject=enabled
	plainNS  = "plain"  // not labelled
	// The class every scenario uses: the user's seed SecretProviderClass.
	seedClass = "aws-secretsmanager-reader"
)

// annotated is a pod template's metadata and spec (indented for a
// Deployment or Job template, or a Pod) with the webhook's two annotations
// plus extra ones, running the toolbox with command.
func annotated(indent, extra, serviceAccount, restartPolicy string, command ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "metadata:\n  labels: {app: %s}\n  annotations:\n", "workload")
	fmt.Fprintf(&b, "    aws-secrets-injector.io/inject: \"true\"\n    aws-secrets-injector.io/secret-provider-class: %s\n", seedClass)
	if extra != "" {
		b.WriteString(extra)
	}
	b.WriteString("spec:\n  terminationGracePeriodSeconds: 1\n")
	if serviceAccount != "" {
		fmt.Fprintf(&b, "  serviceAccountName: %s\n", serviceAccount)
	}
	if restartPolicy != "" {
		fmt.Fprintf(&b, "  restartPolicy: %s\n", restartPolicy)
	}
	q := make([]string, len(command))
	for i, c := range command {
		q[i] = fmt.Sprintf("%q", c)
	}
	fmt.Fprintf(&b, "  containers:\n    - name: app\n      image: %s\n      command: [%s]\n", toolboxImage, strings.Join(q, ", "))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i := range lines {
		lines[i] = indent + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// deployment is Deployment "web" whose pod template has only the two annotations.
func deployment() string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n" +
		"  selector: {matchLabels: {app: workload}}\n  template:\n" + annotated("    ", "", "", "", "sleep", "3600")
}

// webhookCSI: a Deployment with only the two annotations gets its files in
// a labelled namespace; the same Deployment in an unlabelled one is untouched.
func (e *env) webhookCSI(t *testing.T, ctx context.Context) {
	for _, ns := range []string{injectNS, plainNS} {
		e.namespace(t, ctx, ns, ns == injectNS)
		e.apply(t, ctx, ns, deployment())
	}
	for _, ns := range []string{injectNS, plainNS} {
		start := time.Now()
		if _, err := e.c.Kubectl(ctx, "rollout", "status", "-n", ns, "deployment/web", "--timeout=3m"); err != nil {
			t.Fatalf("deployment %s/web: %v\n%s", ns, err, e.describe(ctx, ns, "pods"))
		}
		t.Logf("%s/web rolled out in %s", ns, time.Since(start).Round(time.Second))
	}
	pod := e.podOf(t, ctx, injectNS, "app=workload")
	e.checkFiles(t, ctx, injectNS, pod, "admin", "supersecretpassword")
	e.checkTmpfsRO(t, ctx, injectNS, pod, "/mnt/secrets-store")
	drivers := e.kubectl(t, ctx, "get", "pod", "-n", injectNS, pod, "-o", "jsonpath={.spec.volumes[*].csi.driver}")
	if strings.TrimSpace(drivers) != defaultDriver {
		t.Errorf("injected pod's CSI volumes use drivers %q, want %q", drivers, defaultDriver)
	}

	plain := e.podOf(t, ctx, plainNS, "app=workload")
	out := e.kubectl(t, ctx, "get", "pod", "-n", plainNS, plain, "-o", "jsonpath={.spec.volumes[*].csi.driver}|{.metadata.annotations.aws-secrets-injector\\.io/status}")
	if out != "|" {
		t.Errorf("pod in the unlabelled namespace was changed: CSI drivers|status = %q", out)
	}
	if _, err := e.c.Kubectl(ctx, "exec", "-n", plainNS, plain, "--", "ls", "/mnt/secrets-store"); err == nil {
		t.Errorf("pod in the unlabelled namespace has /mnt/secrets-store")
	}
}

// withRegion gives the app container of manifest m AWS_REGION, as EKS's pod
// identity webhook would: what an init-mode injector inherits when the chart
// sets no aws.region.
func withRegion(t *testing.T, m string) string {
	t.Helper()
	lines := strings.Split(m, "\n")
	for i, l := range lines {
		if c := strings.TrimLeft(l, " "); strings.HasPrefix(c, "command: [") {
			ind := l[:len(l)-len(c)]
			return strings.Join(slices.Insert(lines, i, ind+"env: [{name: AWS_REGION, value: us-east-1}]"), "\n")
		}
	}
	t.Fatalf("no container command in %s", m)
	return ""
}

// initMode: a pod with mode init gets its files from the injected init
// container; a Job with refresh "true" (native sidecar) gets them and completes.
//
// The chart is installed with no aws.region and the pod is not scheduled at
// admission, so the injector's region is the app container's AWS_REGION, which
// EKS's pod identity webhook sets on every container of a pod with an IRSA or
// Pod Identity account; here the manifests carry it themselves (no EKS webhook
// runs on the node).
func (e *env) initMode(t *testing.T, ctx context.Context) {
	const initAnn = "    aws-secrets-injector.io/mode: init\n"
	pod := "apiVersion: v1\nkind: Pod\n" + strings.Replace(annotated("", initAnn, "", "", "sleep", "3600"), "metadata:\n", "metadata:\n  name: init-pod\n", 1)
	e.apply(t, ctx, injectNS, withRegion(t, strings.Replace(pod, "app: workload", "app: init", 1)))
	job := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: init-job}\nspec:\n  backoffLimit: 0\n  template:\n" +
		annotated("    ", initAnn+"    aws-secrets-injector.io/refresh: \"true\"\n", "", "Never", "cat", "/mnt/secrets-store/db-user")
	e.apply(t, ctx, injectNS, withRegion(t, strings.Replace(job, "app: workload", "app: init-job", 1)))

	e.waitReady(t, ctx, injectNS, "init-pod", 3*time.Minute)
	e.checkFiles(t, ctx, injectNS, "init-pod", "admin", "supersecretpassword")
	inits := e.kubectl(t, ctx, "get", "pod", "-n", injectNS, "init-pod", "-o", "jsonpath={.spec.initContainers[*].name}")
	if strings.TrimSpace(inits) == "" {
		t.Errorf("init-pod has no injected init container")
	}

	if _, err := e.c.Kubectl(ctx, "wait", "-n", injectNS, "--for=condition=complete", "job/init-job", "--timeout=3m"); err != nil {
		t.Fatalf("job init-job did not complete: %v\n%s", err, e.describe(ctx, injectNS, "pods"))
	}
	policies := e.kubectl(t, ctx, "get", "pods", "-n", injectNS, "-l", "batch.kubernetes.io/job-name=init-job", "-o", "jsonpath={.items[0].spec.initContainers[*].restartPolicy}")
	if !strings.Contains(policies, "Always") {
		t.Errorf("the Job's injector is not a native sidecar: init container restart policies %q", policies)
	}
	if logs := e.kubectl(t, ctx, "logs", "-n", injectNS, "job/init-job", "-c", "app"); logs != "admin" {
		t.Errorf("the Job printed %q, want admin", logs)
	}
}

// waitFiles polls the pod's files until they hold user and password and
// returns how long that took.
func (e *env) waitFiles(t *testing.T, ctx context.Context, ns, pod, user, password string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var lastUser string
	err := poll(ctx, timeout, func() (bool, error) {
		u, p, err := e.files(ctx, ns, pod, "/mnt/secrets-store")
		lastUser = u
		return err == nil && u == user && p == password, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: files not rotated to user %q %v (db-user is %q)", ns, pod, user, err, lastUser)
	}
	return time.Since(start)
}

// secretCalls counts the fake's Secrets Manager reads by principal.
func (e *env) secretCalls(t *testing.T, ctx context.Context, principal string) int {
	t.Helper()
	var stats struct {
		Calls []struct {
			API       string `json:"api"`
			Principal string `json:"principal"`
			Count     int    `json:"count"`
		} `json:"calls"`
	}
	if err := json.Unmarshal(e.mustFake(t, ctx, http.MethodGet, "/_fake/calls", nil), &stats); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range stats.Calls {
		if strings.HasPrefix(c.API, "secretsmanager:") && c.Principal == principal {
			n += c.Count
		}
	}
	return n
}

// kubeletSync bounds how long the kubelet takes to republish a volume (its
// pod sync period, 1m, plus jitter): rotation is seen within the mounter's
// interval plus this.
const kubeletSync = 90 * time.Second

// rotation: a new secret value reaches the CSI-mounted pods within the
// interval; AWS reads stay within one batched fetch per identity per interval.
func (e *env) rotation(t *testing.T, ctx context.Context) {
	pod := e.podOf(t, ctx, injectNS, "app=workload")
	// A reader in the pod watches the file set while it changes: every set it
	// reads is the old one or the new one, never a mix.
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan string, 1)
	go func() {
		out, _ := e.c.Kubectl(wctx, "exec", "-n", injectNS, pod, "--", "toolbox", "pairs", "/mnt/secrets-store", "240", "db-user", "db-password")
		watched <- out
	}()
	time.Sleep(3 * time.Second)
	e.mustFake(t, ctx, http.MethodPost, "/_fake/reset-calls", nil)
	start := time.Now()
	e.putSecret(t, ctx, "admin2", "rotatedpassword2")
	took := e.waitFiles(t, ctx, injectNS, pod, "admin2", "rotatedpassword2", refresh+kubeletSync+30*time.Second)
	time.Sleep(2 * time.Second)
	stopWatch()
	sets := strings.Fields(strings.ReplaceAll(strings.TrimSpace(<-watched), "\t", "/"))
	want := []string{"admin/" + hash12("supersecretpassword"), "admin2/" + hash12("rotatedpassword2")}
	if !slices.Equal(sets, want) {
		t.Errorf("the reader in the pod saw the sets %q, want exactly the old then the new one %q", sets, want)
	}
	e.waitFiles(t, ctx, "seed", "my-app-pod", "admin2", "rotatedpassword2", refresh+kubeletSync)
	elapsed := time.Since(start)
	t.Logf("rotation seen in %s (interval %s)", took.Round(time.Second), refresh)
	// Identities reading my-app/* with refresh on the node: seed/default and inject/default.
	const identities = 2
	limit := identities * (int(math.Ceil(elapsed.Seconds()/refresh.Seconds())) + 1)
	n := e.secretCalls(t, ctx, roleMyApp)
	t.Logf("Secrets Manager calls of role my-app in %s: %d (limit %d)", elapsed.Round(time.Second), n, limit)
	if n < 1 || n > limit {
		t.Errorf("Secrets Manager calls of role my-app in %s: %d, want 1..%d (one batched fetch per identity per %s)", elapsed.Round(time.Second), n, limit, refresh)
	}
}

// secretValues are every secret value the suite ever stores.
var secretValues = []string{"supersecretpassword", "rotatedpassword2", "rotatedpassword3", "otherpassword", "syncedpassword4"}

// failureVisible: a pod whose role may not read its secret waits in
// ContainerCreating with an Event saying why (and no value in any Event);
// fixing the role's policy lets the same pod start.
func (e *env) failureVisible(t *testing.T, ctx context.Context) {
	pod := "apiVersion: v1\nkind: Pod\n" + strings.Replace(annotated("", "", "denied", "", "sleep", "3600"), "metadata:\n", "metadata:\n  name: denied-pod\n", 1)
	pod = strings.Replace(pod, "app: workload", "app: denied", 1)
	e.apply(t, ctx, injectNS, pod)

	var reason, message string
	err := poll(ctx, 2*time.Minute, func() (bool, error) {
		out, err := e.c.Kubectl(ctx, "get", "events", "-n", injectNS, "--field-selector=involvedObject.name=denied-pod,type=Warning",
			"-o", `jsonpath={range .items[*]}{.reason}{"\t"}{.message}{"\n"}{end}`)
		if err != nil {
			return false, nil
		}
		for _, line := range strings.Split(out, "\n") {
			if r, m, ok := strings.Cut(line, "\t"); ok && strings.Contains(r+m, "AccessDenied") {
				reason, message = r, m
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no Warning event saying AccessDenied for denied-pod: %v\n%s", err, e.describe(ctx, injectNS, "pod/denied-pod"))
	}
	t.Logf("event: %s: %s", reason, message)
	if !strings.Contains(message, "my-app/db-credentials") {
		t.Errorf("the event does not name the secret: %s", message)
	}
	uid := e.kubectl(t, ctx, "get", "pod", "-n", injectNS, "denied-pod", "-o", "jsonpath={.metadata.uid}")
	state := e.kubectl(t, ctx, "get", "pod", "-n", injectNS, "denied-pod", "-o", "jsonpath={.status.phase}/{.status.containerStatuses[0].state.waiting.reason}")
	if state != "Pending/ContainerCreating" {
		t.Errorf("denied-pod is %q, want Pending/ContainerCreating", state)
	}
	all := e.kubectl(t, ctx, "get", "events", "-A", "-o", "json")
	for _, v := range secretValues {
		if strings.Contains(all, v) {
			t.Errorf("a secret value appears in the cluster's events")
		}
	}

	e.mustFake(t, ctx, http.MethodPut, "/_fake/roles", map[string]any{"arn": roleOther, "allow": []string{"other/*", "my-app/*"}})
	start := time.Now()
	e.waitReady(t, ctx, injectNS, "denied-pod", 3*time.Minute)
	t.Logf("denied-pod started %s after the policy fix", time.Since(start).Round(time.Second))
	if got := e.kubectl(t, ctx, "get", "pod", "-n", injectNS, "denied-pod", "-o", "jsonpath={.metadata.uid}"); got != uid {
		t.Errorf("denied-pod was recreated (uid %s, was %s)", got, uid)
	}
	e.checkFiles(t, ctx, injectNS, "denied-pod", "admin2", "rotatedpassword2")
}

// mounterRestart: the mounter's pod is deleted and recreated; running pods
// keep their files and rotation resumes.
func (e *env) mounterRestart(t *testing.T, ctx context.Context) {
	const sel = "app.kubernetes.io/component=mounter"
	old := e.podOf(t, ctx, releaseNS, sel)
	e.kubectl(t, ctx, "delete", "pod", "-n", releaseNS, old, "--wait=true", "--timeout=2m")
	start := time.Now()
	if _, err := e.c.Kubectl(ctx, "rollout", "status", "-n", releaseNS, "daemonset/"+release+"-mounter", "--timeout=3m"); err != nil {
		t.Fatalf("mounter not back: %v", err)
	}
	fresh := e.podOf(t, ctx, releaseNS, sel)
	if fresh == old {
		t.Fatalf("mounter pod %s was not replaced", old)
	}
	t.Logf("mounter %s replaced by %s in %s", old, fresh, time.Since(start).Round(time.Second))
	pod := e.podOf(t, ctx, injectNS, "app=workload")
	e.checkFiles(t, ctx, injectNS, pod, "admin2", "rotatedpassword2")
	e.checkTmpfsRO(t, ctx, injectNS, pod, "/mnt/secrets-store")

	e.putSecret(t, ctx, "admin3", "rotatedpassword3")
	took := e.waitFiles(t, ctx, injectNS, pod, "admin3", "rotatedpassword3", refresh+kubeletSync+30*time.Second)
	t.Logf("rotation after the restart seen in %s", took.Round(time.Second))

	// A volume published before the restart is unpublished by the new mounter:
	// the pod goes away within a minute, and its replacement gets the files.
	start = time.Now()
	if _, err := e.c.Kubectl(ctx, "delete", "pod", "-n", injectNS, pod, "--wait=true", "--timeout=60s"); err != nil {
		t.Fatalf("pod %s published before the mounter restart did not delete within 60s: %v\n%s", pod, err, e.describe(ctx, injectNS, "pod/"+pod))
	}
	t.Logf("pod published before the restart deleted in %s", time.Since(start).Round(time.Second))
	var next string
	if err := poll(ctx, 2*time.Minute, func() (bool, error) {
		out, err := e.c.Kubectl(ctx, "get", "pods", "-n", injectNS, "-l", "app=workload",
			"--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
		if err != nil {
			return false, nil //nolint:nilerr // not running yet: poll again
		}
		for _, p := range strings.Fields(out) {
			if p != pod {
				next = p
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("no replacement pod: %v", err)
	}
	e.waitReady(t, ctx, injectNS, next, 2*time.Minute)
	e.checkFiles(t, ctx, injectNS, next, "admin3", "rotatedpassword3")
}

// hash12 is how the toolbox's pairs command prints a password.
func hash12(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// doctor: `aws-secrets-injector doctor pod` of working pods (a hand-written
// CSI volume, a webhook-mutated one, init mode) is ✓ at every step, the
// volume step from the mounter's status through the API server's pods/proxy;
// an annotated pod in the unlabelled namespace is ✗ namespace, exit 1.
func (e *env) doctor(t *testing.T, ctx context.Context) {
	bin := filepath.Join(e.root, "bin", "aws-secrets-injector")
	run := func(pod string) (doctor.Report, string, error) {
		out, err := exec.CommandContext(ctx, bin, "doctor", "pod", pod, "--kubeconfig", e.c.KubeConfig, "-o", "json").Output()
		var r doctor.Report
		if jerr := json.Unmarshal(out, &r); jerr != nil {
			t.Fatalf("doctor pod %s: %v, output %q (%v)", pod, jerr, out, err)
		}
		return r, string(out), err
	}
	for _, pod := range []string{"seed/my-app-pod", injectNS + "/" + e.podOf(t, ctx, injectNS, "app=workload"), injectNS + "/init-pod"} {
		r, out, err := run(pod)
		if err != nil || !r.OK {
			t.Errorf("doctor pod %s: %v\n%s", pod, err, out)
			continue
		}
		want := "volume"
		if strings.HasSuffix(pod, "/init-pod") {
			want = "injector"
		}
		if !slices.ContainsFunc(r.Steps, func(s doctor.Step) bool { return s.Name == want && s.OK }) {
			t.Errorf("doctor pod %s has no ✓ %s step:\n%s", pod, want, out)
		}
		t.Logf("doctor pod %s: %d steps ✓", pod, len(r.Steps))
	}
	r, out, err := run(plainNS + "/" + e.podOf(t, ctx, plainNS, "app=workload"))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || r.OK || !slices.ContainsFunc(r.Steps, func(s doctor.Step) bool {
		return s.Name == "namespace" && !s.OK && strings.Contains(s.Fix, "kubectl label namespace "+plainNS)
	}) {
		t.Errorf("doctor of the annotated pod in the unlabelled namespace: %v, want exit 1 and ✗ namespace with the label fix:\n%s", err, out)
	}
}

// syncNS is the namespace of the SyncSecrets scenario (not labelled: its pod
// names the CSI volume itself, as users of the upstream driver do).
const syncNS = "sync"

// syncClassYAML is the seed class with spec.secretObjects: Secret db-creds,
// type kubernetes.io/basic-auth, from the two files.
const syncClassYAML = `apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: db-sync
spec:
  provider: aws
  secretObjects:
    - secretName: db-creds
      type: kubernetes.io/basic-auth
      data:
        - {objectName: db-user, key: username}
        - {objectName: db-password, key: password}
  parameters:
    objects: |
      - objectName: "my-app/db-credentials"
        objectType: "secretsmanager"
        jmesPath:
          - path: "username"
            objectAlias: "db-user"
          - path: "password"
            objectAlias: "db-password"
`

// syncPod mounts db-sync and takes DB_PASSWORD from the synced Secret
// (secretKeyRef): the kubelet resolves it after the volume is published,
// which is when the mounter creates the Secret.
var syncPod = `apiVersion: v1
kind: Pod
metadata: {name: sync-pod}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: ` + toolboxImage + `
      command: ["sleep", "3600"]
      env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db-creds, key: password}}
      volumeMounts:
        - {name: secrets, mountPath: /mnt/secrets-store, readOnly: true}
  volumes:
    - name: secrets
      csi:
        driver: ` + defaultDriver + `
        readOnly: true
        volumeAttributes: {secretProviderClass: db-sync}
`

// syncSecrets: with the chart's mounter.syncSecrets=true, a pod whose class
// declares secretObjects gets the Secret (its type, an owner reference to the
// pod), and its env's secretKeyRef to that Secret sees the value.
func (e *env) syncSecrets(t *testing.T, ctx context.Context) {
	start := time.Now()
	e.helm(t, ctx, "upgrade", "--set", "mounter.syncSecrets=true")
	if _, err := e.c.Kubectl(ctx, "rollout", "status", "-n", releaseNS, "daemonset/"+release+"-mounter", "--timeout=3m"); err != nil {
		t.Fatalf("mounter not rolled out with syncSecrets: %v", err)
	}
	t.Logf("helm upgrade with mounter.syncSecrets=true ready in %s", time.Since(start).Round(time.Second))
	e.putSecret(t, ctx, "admin4", "syncedpassword4")
	e.namespace(t, ctx, syncNS, false)
	e.apply(t, ctx, syncNS, syncClassYAML)
	start = time.Now()
	e.apply(t, ctx, syncNS, syncPod)
	e.waitReady(t, ctx, syncNS, "sync-pod", 3*time.Minute)
	t.Logf("sync-pod ready in %s", time.Since(start).Round(time.Second))
	e.checkFiles(t, ctx, syncNS, "sync-pod", "admin4", "syncedpassword4")

	uid := e.kubectl(t, ctx, "get", "pod", "-n", syncNS, "sync-pod", "-o", "jsonpath={.metadata.uid}")
	got := e.kubectl(t, ctx, "get", "secret", "-n", syncNS, "db-creds", "-o",
		"jsonpath={.type}|{.metadata.ownerReferences[*].kind}/{.metadata.ownerReferences[*].name}/{.metadata.ownerReferences[*].uid}|{.metadata.labels.aws-secrets-injector\\.io/managed-by}")
	if want := "kubernetes.io/basic-auth|Pod/sync-pod/" + uid + "|mounter"; got != want {
		t.Errorf("Secret db-creds: type|owner|managed-by = %q, want %q", got, want)
	}
	env, err := e.c.Kubectl(ctx, "exec", "-n", syncNS, "sync-pod", "--", "cat", "/proc/self/environ")
	if err != nil {
		t.Fatal(err)
	}
	var pw string
	found := false
	for _, kv := range strings.Split(env, "\x00") {
		if v, ok := strings.CutPrefix(kv, "DB_PASSWORD="); ok {
			pw, found = v, true
		}
	}
	if !found || pw != "syncedpassword4" {
		t.Errorf("the pod's DB_PASSWORD (secretKeyRef to db-creds) is set %v, %d bytes: want the synced %d-byte password", found, len(pw), len("syncedpassword4"))
	}

	// A rotation reaches the Secret within the interval plus the kubelet's
	// republish; the pod's deletion (its only owner) collects it.
	e.putSecret(t, ctx, "admin5", "syncedpassword5")
	start = time.Now()
	want := base64.StdEncoding.EncodeToString([]byte("syncedpassword5"))
	var last string
	if err := poll(ctx, refresh+kubeletSync+30*time.Second, func() (bool, error) {
		last, _ = e.c.Kubectl(ctx, "get", "secret", "-n", syncNS, "db-creds", "-o", "jsonpath={.data.password}")
		return last == want, nil
	}); err != nil {
		t.Fatalf("Secret db-creds not rotated within %s (its password is %d base64 bytes)", refresh+kubeletSync+30*time.Second, len(last))
	}
	t.Logf("Secret db-creds rotated in %s (interval %s)", time.Since(start).Round(time.Second), refresh)
	e.kubectl(t, ctx, "delete", "pod", "-n", syncNS, "sync-pod", "--wait=true", "--timeout=2m")
	if err := poll(ctx, 2*time.Minute, func() (bool, error) {
		out, err := e.c.Kubectl(ctx, "get", "secret", "-n", syncNS, "-o", "name")
		return err == nil && strings.TrimSpace(out) == "", nil
	}); err != nil {
		t.Errorf("Secret db-creds not garbage-collected within 2m of its only owner's deletion")
	}
}

// execEnv: with exec: "true" the app reads the seed's password from
// $DB_PASSWORD, in csi mode and in init mode, the wrapper's own variables
// are gone from its environment, and the namespace holds no Kubernetes
// Secret. The app prints only the value's hash. It runs before Rotation
// (the seed's value still stored) and deletes its Jobs with their pods, so
// no volume of it is left refreshing while Rotation counts AWS calls.
func (e *env) execEnv(t *testing.T, ctx context.Context) {
	const execNS = "exec"
	e.namespace(t, ctx, execNS, true)
	jobs := map[string]string{"exec-csi": "", "exec-init": "    aws-secrets-injector.io/mode: init\n"}
	for name, extra := range jobs {
		job := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: " + name + "}\nspec:\n  backoffLimit: 0\n  template:\n" +
			annotated("    ", extra+"    aws-secrets-injector.io/exec: \"true\"\n", "", "Never",
				"/toolbox", "envhash", "DB_PASSWORD", "AWS_SECRETS_INJECTOR_")
		e.apply(t, ctx, execNS, withRegion(t, strings.Replace(job, "app: workload", "app: "+name, 1)))
	}
	want := hash12("supersecretpassword") + " 0"
	for name := range jobs {
		start := time.Now()
		if _, err := e.c.Kubectl(ctx, "wait", "-n", execNS, "--for=condition=complete", "job/"+name, "--timeout=3m"); err != nil {
			t.Fatalf("job %s did not complete: %v\n%s", name, err, e.describe(ctx, execNS, "pods"))
		}
		t.Logf("job %s complete in %s", name, time.Since(start).Round(time.Second))
		if got := strings.TrimSpace(e.kubectl(t, ctx, "logs", "-n", execNS, "job/"+name, "-c", "app")); got != want {
			t.Errorf("job %s: the app printed %q, want %q (the seed password's hash, no wrapper variable)", name, got, want)
		}
		cmd := e.kubectl(t, ctx, "get", "pods", "-n", execNS, "-l", "batch.kubernetes.io/job-name="+name, "-o",
			"jsonpath={.items[0].spec.containers[0].command[0]}|{.items[0].spec.initContainers[0].name}")
		if cmd != "/aws-secrets-injector-bin/asi-exec|aws-secrets-injector-exec" {
			t.Errorf("job %s: command[0]|first init container = %q", name, cmd)
		}
	}
	if secrets := strings.TrimSpace(e.kubectl(t, ctx, "get", "secrets", "-n", execNS, "-o", "name")); secrets != "" {
		t.Errorf("namespace %s holds Secrets: %s", execNS, secrets)
	}
	e.kubectl(t, ctx, "delete", "-n", execNS, "job", "exec-csi", "exec-init", "--cascade=foreground", "--wait=true", "--timeout=2m")
}

// execReload: an exec-wrapped app with exec-on-change signal:SIGHUP gets one
// SIGHUP after a rotation and reads the new value from its files; one with
// restart is re-executed with the new $DB_PASSWORD, and its container's
// restart count stays 0; a plain-file app in init mode with notify-signal is
// sent SIGHUP by the native sidecar. Runs after ExecEnv (namespace exec is labelled)
// and MounterRestart (whose rotation the apps start with).
func (e *env) execReload(t *testing.T, ctx context.Context) {
	const execNS = "exec"
	pods := map[string]string{"reload-hup": "signal:SIGHUP", "reload-restart": "restart"}
	for name, onChange := range pods {
		pod := "apiVersion: v1\nkind: Pod\n" + strings.Replace(annotated("",
			"    aws-secrets-injector.io/exec: \"true\"\n    aws-secrets-injector.io/exec-on-change: \""+onChange+"\"\n", "", "",
			"/toolbox", "reload", "DB_PASSWORD", "/mnt/secrets-store/db-password"), "metadata:\n", "metadata:\n  name: "+name+"\n", 1)
		e.apply(t, ctx, execNS, strings.Replace(pod, "app: workload", "app: "+name, 1))
	}
	// A plain-file app (no wrapper, so its $DB_PASSWORD is empty) in init
	// mode: the native sidecar, in the pod's one PID namespace, signals it.
	pods["reload-notify"] = "notify-signal SIGHUP"
	notify := "apiVersion: v1\nkind: Pod\n" + strings.Replace(annotated("",
		"    aws-secrets-injector.io/mode: init\n    aws-secrets-injector.io/refresh: \"true\"\n"+
			"    aws-secrets-injector.io/notify-signal: SIGHUP\n    aws-secrets-injector.io/notify-command: toolbox\n", "", "",
		"/toolbox", "reload", "DB_PASSWORD", "/mnt/secrets-store/db-password"), "metadata:\n", "metadata:\n  name: reload-notify\n", 1)
	notify = strings.Replace(notify, "spec:\n", "spec:\n  shareProcessNamespace: true\n", 1)
	e.apply(t, ctx, execNS, withRegion(t, strings.Replace(notify, "app: workload", "app: reload-notify", 1)))
	logs := func(pod string) []string {
		out, _ := e.c.Kubectl(ctx, "logs", "-n", execNS, pod, "-c", "app")
		var lines []string // the app's lines; the wrapper's own log lines share the container log
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "env ") || strings.HasPrefix(l, "hup ") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	for name := range pods {
		e.waitReady(t, ctx, execNS, name, 3*time.Minute)
	}
	// The value before: whatever the secret holds now, read by the app's env.
	before := map[string][]string{}
	for name := range pods {
		if err := poll(ctx, 30*time.Second, func() (bool, error) {
			before[name] = logs(name)
			return len(before[name]) == 1 && strings.HasPrefix(before[name][0], "env "), nil
		}); err != nil {
			t.Fatalf("%s logs %q, want one env line", name, before[name])
		}
		want := "env " + hash12("rotatedpassword3") // MounterRestart's value
		if name == "reload-notify" {
			want = "env " + hash12("") // not wrapped: no $DB_PASSWORD
		}
		if before[name][0] != want {
			t.Errorf("%s started with %q, want %q", name, before[name][0], want)
		}
	}
	e.putSecret(t, ctx, "admin6", "reloadpassword6")
	start := time.Now()
	next := hash12("reloadpassword6")
	wants := map[string][]string{
		"reload-hup":     {before["reload-hup"][0], "hup " + next},
		"reload-restart": {before["reload-restart"][0], "env " + next},
		"reload-notify":  {before["reload-notify"][0], "hup " + next},
	}
	for name, want := range wants {
		var got []string
		if err := poll(ctx, refresh+kubeletSync+30*time.Second, func() (bool, error) { got = logs(name); return slices.Equal(got, want), nil }); err != nil {
			t.Errorf("%s (%s): logs %q, want %q", name, pods[name], got, want)
			continue
		}
		t.Logf("%s (%s) saw the rotation in %s", name, pods[name], time.Since(start).Round(time.Second))
	}
	if rc := e.kubectl(t, ctx, "get", "pod", "-n", execNS, "reload-restart", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"); rc != "0" {
		t.Errorf("reload-restart's restart count is %s, want 0 (the wrapper re-executes the app inside the container)", rc)
	}
	e.kubectl(t, ctx, "delete", "pod", "-n", execNS, "reload-hup", "reload-restart", "reload-notify", "--wait=true", "--timeout=2m")
}
