package webhook

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (run with -update if intended):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// render is what a golden file holds: the outcome and the whole pod, or the
// denial message.
func render(t *testing.T, pod *corev1.Pod, out Outcome, err error) []byte {
	t.Helper()
	if err != nil {
		kind := "error"
		if errors.As(err, new(*DeniedError)) {
			kind = "denied"
		}
		return []byte("# " + kind + "\n" + err.Error() + "\n")
	}
	b, merr := yaml.Marshal(pod)
	if merr != nil {
		t.Fatal(merr)
	}
	return append([]byte("# "+string(out)+"\n"), b...)
}

// goldenCase is one row of TestMutateGolden.
type goldenCase struct {
	name string
	ns   string
	pod  *corev1.Pod
	cfg  func(*Config)
}

// goldenCases are the pods of TestMutateGolden.
func goldenCases() []goldenCase {
	withVolume := func(p *corev1.Pod, v corev1.Volume) *corev1.Pod {
		p.Spec.Volumes = append(p.Spec.Volumes, v)
		return p
	}
	ro := true
	ourVolume := corev1.Volume{Name: "mine", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
		Driver: DefaultDriverName, ReadOnly: &ro, VolumeAttributes: map[string]string{"secretProviderClass": "db"}}}}
	mirror := testPod(nil)
	mirror.Annotations[MirrorPodAnnotation] = "abc"
	collide := testPod(map[string]string{AnnotationMountPath: "/cache/"})

	// A case's name prefix says what it expects: csi-/init- mutated,
	// skip- unchanged, deny- a denial. Golden files: testdata/<name>.yaml.
	initAnn := func(ann map[string]string) map[string]string {
		a := map[string]string{AnnotationMode: "init"}
		for k, v := range ann {
			a[k] = v
		}
		return a
	}
	return []goldenCase{
		{"csi-default", "apps", testPod(nil), nil},
		{"csi-one-container", "apps", testPod(map[string]string{AnnotationContainers: "sidecar"}), nil},
		{"csi-mount-path", "apps", testPod(map[string]string{AnnotationMountPath: "/etc/app/secrets/", AnnotationMode: "csi"}), nil},
		{"csi-volume-name-taken", "apps", withVolume(testPod(nil), corev1.Volume{Name: "aws-secrets",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}), nil},
		{"csi-refresh", "apps", testPod(map[string]string{AnnotationRefresh: "true", AnnotationRefreshInterval: "1m"}), nil},
		{"init-default", "apps", testPod(initAnn(nil)), nil},
		{"init-default-mode", "apps", testPod(nil), func(c *Config) { c.DefaultMode = ModeInit }},
		{"init-no-init-containers", "apps", withoutInitContainers(testPod(initAnn(nil))), nil},
		{"init-first", "apps", testPod(initAnn(map[string]string{AnnotationInitFirst: "true"})), nil},
		{"init-refresh", "apps", testPod(initAnn(map[string]string{AnnotationRefresh: "true", AnnotationRefreshInterval: "1m"})), nil},
		{"init-refresh-default-interval-deadline", "apps", testPod(initAnn(map[string]string{AnnotationRefresh: "true", AnnotationInjectorDeadline: "30s"})), nil},
		{"init-one-container-mount-path", "apps", testPod(initAnn(map[string]string{AnnotationContainers: "sidecar", AnnotationMountPath: "/etc/app/secrets/"})), nil},
		{"init-irsa", "apps", withServiceAccount(testPod(initAnn(nil)), "irsa"), nil},
		{"init-irsa-custom", "apps", withServiceAccount(testPod(initAnn(map[string]string{IRSATokenExpirationAnnotation: "7200"})), "irsa-custom"), nil},
		{"init-irsa-webhook-ran-first", "apps", eksWebhook(withServiceAccount(testPod(initAnn(nil)), "irsa"), testRoleARN, "/var/run/secrets/eks.amazonaws.com/serviceaccount"), nil},
		{"init-irsa-webhook-ran-first-regional", "apps", eksWebhookRegional(withServiceAccount(testPod(initAnn(nil)), "irsa"), testRoleARN, IRSAMountPath, true, "eu-west-1"), nil},
		{"init-irsa-webhook-ran-first-custom-path", "apps", eksWebhook(withServiceAccount(testPod(initAnn(nil)), "irsa"), testRoleARN, "/var/run/irsa"), nil},
		{"init-pod-identity", "apps", withPodIdentity(testPod(initAnn(nil))), nil},
		{"init-run-as-user", "apps", withPodSecurity(testPod(initAnn(nil)), &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(3000)), FSGroup: ptr(int64(2000))}), nil},
		{"init-run-as-group", "apps", withPodSecurity(testPod(initAnn(nil)), &corev1.PodSecurityContext{RunAsGroup: ptr(int64(3000)), FSGroup: ptr(int64(2000))}), nil},
		{"init-run-as-root", "apps", withPodSecurity(testPod(initAnn(nil)), &corev1.PodSecurityContext{RunAsUser: ptr(int64(0))}), nil},
		{"init-resources", "apps", testPod(initAnn(map[string]string{AnnotationInjectorCPURequest: "50m", AnnotationInjectorCPULimit: "0.2",
			AnnotationInjectorMemoryRequest: "32Mi", AnnotationInjectorMemoryLimit: "96Mi"})), nil},
		{"init-aws-endpoint", "apps", withServiceAccount(testPod(initAnn(nil)), "irsa"), func(c *Config) {
			c.Init.Region, c.Init.Endpoint, c.Init.PullPolicy = "eu-west-1", "https://vpce-0abc.secretsmanager.eu-west-1.vpce.amazonaws.com", corev1.PullIfNotPresent
		}},
		{"init-name-taken", "apps", withInitContainer(withVolume(testPod(initAnn(nil)), corev1.Volume{Name: "aws-secrets",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}), InjectorContainerName), nil},
		{"deny-init-bad-cpu", "apps", testPod(initAnn(map[string]string{AnnotationInjectorCPURequest: "lots"})), nil},
		{"deny-init-zero-memory-limit", "apps", testPod(initAnn(map[string]string{AnnotationInjectorMemoryLimit: "0"})), nil},
		{"deny-init-request-over-limit", "apps", testPod(initAnn(map[string]string{AnnotationInjectorMemoryRequest: "256Mi"})), nil},
		{"deny-init-bad-deadline", "apps", testPod(initAnn(map[string]string{AnnotationInjectorDeadline: "soon"})), nil},
		{"deny-init-no-image", "apps", testPod(initAnn(nil)), func(c *Config) { c.InjectorImage = "" }},
		{"deny-init-mount-path-irsa", "apps", testPod(initAnn(map[string]string{AnnotationMountPath: IRSAMountPath})), nil},
		{"skip-not-annotated", "apps", testPod(map[string]string{AnnotationInject: "-"}), nil},
		{"skip-inject-false", "apps", testPod(map[string]string{AnnotationInject: "false"}), nil},
		{"skip-already-injected", "apps", testPod(map[string]string{AnnotationStatus: StatusInjected}), nil},
		{"skip-already-mounts", "apps", withVolume(testPod(nil), ourVolume), nil},
		{"skip-kube-system", "kube-system", testPod(nil), nil},
		{"skip-own-namespace", "aws-secrets-injector", testPod(nil), nil},
		{"skip-mirror-pod", "apps", mirror, nil},
		{"deny-missing-class", "apps", testPod(map[string]string{AnnotationSecretProviderClass: "nope"}), nil},
		{"deny-no-class-annotation", "apps", testPod(map[string]string{AnnotationSecretProviderClass: "-"}), nil},
		{"deny-invalid-class", "apps", testPod(map[string]string{AnnotationSecretProviderClass: "broken"}), nil},
		{"deny-other-provider", "apps", testPod(map[string]string{AnnotationSecretProviderClass: "vault"}), nil},
		{"deny-relative-mount-path", "apps", testPod(map[string]string{AnnotationMountPath: "secrets"}), nil},
		{"deny-mount-path-collision", "apps", collide, nil},
		{"deny-unknown-container", "apps", testPod(map[string]string{AnnotationContainers: "app,worker"}), nil},
		{"deny-init-container-name", "apps", testPod(map[string]string{AnnotationContainers: "migrate"}), nil},
		{"deny-bad-mode", "apps", testPod(map[string]string{AnnotationMode: "sidecar"}), nil},
		{"deny-bad-refresh", "apps", testPod(map[string]string{AnnotationRefresh: "yes"}), nil},
		// The exec wrapper (exec.go): withCommands gives both app containers a command.
		{"exec-csi", "apps", withCommands(testPod(map[string]string{AnnotationExec: "true"})), nil},
		{"exec-csi-restart-one-container", "apps", withCommands(testPod(map[string]string{AnnotationExecContainers: "app",
			AnnotationExecOnChange: "restart", AnnotationExecGracePeriod: "30s", AnnotationExecEnv: "db-password=PGPASSWORD, my-app_db-credentials=-"})), nil},
		{"exec-init-refresh-signal", "apps", withCommands(testPod(initAnn(map[string]string{AnnotationExec: "true", AnnotationRefresh: "true",
			AnnotationExecOnChange: "signal:HUP", AnnotationMountPath: "/etc/app/secrets"}))), nil},
		{"exec-init-first-names-taken", "apps", withInitContainer(withVolume(withCommands(testPod(initAnn(map[string]string{AnnotationExecContainers: "sidecar",
			AnnotationInitFirst: "true"}))), corev1.Volume{Name: ExecVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}),
			ExecInstallContainerName), nil},
		{"exec-all-keys-class", "apps", withCommands(testPod(map[string]string{AnnotationExec: "true", AnnotationSecretProviderClass: "all-keys",
			AnnotationExecEnv: "anything=ANYTHING"})), nil},
		{"deny-exec-no-command", "apps", testPod(map[string]string{AnnotationExec: "true"}), nil},
		{"deny-exec-two-files-one-name", "apps", withCommands(testPod(map[string]string{AnnotationExec: "true", AnnotationSecretProviderClass: "clash"})), nil},
		{"deny-exec-bad-signal", "apps", withCommands(testPod(map[string]string{AnnotationExec: "true", AnnotationExecOnChange: "signal:SIGRELOAD"})), nil},
		{"deny-exec-no-image", "apps", withCommands(testPod(map[string]string{AnnotationExec: "true"})), func(c *Config) { c.InjectorImage = "" }},
	}
}

// withCommands gives the app containers of testPod explicit commands: app a
// command and args, sidecar a command alone.
func withCommands(p *corev1.Pod) *corev1.Pod {
	p.Spec.Containers[0].Command = []string{"/app/server"}
	p.Spec.Containers[0].Args = []string{"--port", "8080"}
	p.Spec.Containers[1].Command = []string{"/bin/sidecar", "--watch"}
	return p
}

func TestMutateGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.pod.DeepCopy()
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			out, outcome, err := Mutate(context.Background(), tc.pod, tc.ns, cfg, testLookups())
			if !equality.Semantic.DeepEqual(in, tc.pod) {
				t.Fatal("Mutate changed its input pod")
			}
			prefix := strings.SplitN(tc.name, "-", 2)[0]
			switch {
			case prefix == "deny" && !errors.As(err, new(*DeniedError)):
				t.Fatalf("want a denial, got outcome %q, error %v", outcome, err)
			case prefix == "skip" && (err != nil || outcome != Skipped || !equality.Semantic.DeepEqual(out, in)):
				t.Fatalf("want the pod unchanged, got outcome %q, error %v", outcome, err)
			case (prefix == "csi" || prefix == "init" || prefix == "exec") && (err != nil || outcome != Mutated):
				t.Fatalf("want the pod mutated, got outcome %q, error %v", outcome, err)
			}
			golden(t, tc.name+".yaml", render(t, out, outcome, err))
		})
	}
}

func TestMutateDenialsNameTheAnnotation(t *testing.T) {
	cases := map[string]struct {
		ann  map[string]string
		want []string
	}{
		"missing class":   {map[string]string{AnnotationSecretProviderClass: "nope"}, []string{AnnotationSecretProviderClass, `"nope" not found in namespace "apps"`}},
		"invalid class":   {map[string]string{AnnotationSecretProviderClass: "broken"}, []string{AnnotationSecretProviderClass, "objects[0]", "invalid SecretProviderClass"}},
		"relative path":   {map[string]string{AnnotationMountPath: "x/y"}, []string{AnnotationMountPath, "relative"}},
		"dotdot":          {map[string]string{AnnotationMountPath: "/a/../b"}, []string{AnnotationMountPath, ".."}},
		"collision":       {map[string]string{AnnotationMountPath: "/cache"}, []string{AnnotationMountPath, "collides", `"app"`}},
		"unknown":         {map[string]string{AnnotationContainers: "nope"}, []string{AnnotationContainers, `"nope"`, "[app sidecar]"}},
		"empty entry":     {map[string]string{AnnotationContainers: "app,,sidecar"}, []string{AnnotationContainers, "empty entry"}},
		"twice":           {map[string]string{AnnotationContainers: "app, app"}, []string{AnnotationContainers, "twice"}},
		"short interval":  {map[string]string{AnnotationRefreshInterval: "1s"}, []string{AnnotationRefreshInterval, "too short"}},
		"bad interval":    {map[string]string{AnnotationRefreshInterval: "soon"}, []string{AnnotationRefreshInterval, "not a duration"}},
		"bad init-first":  {map[string]string{AnnotationInitFirst: "1"}, []string{AnnotationInitFirst, "boolean"}},
		"bad class name":  {map[string]string{AnnotationSecretProviderClass: "Not_A_Name"}, []string{AnnotationSecretProviderClass, "not a valid object name"}},
		"init cpu":        {map[string]string{AnnotationMode: "init", AnnotationInjectorCPULimit: "-1"}, []string{AnnotationInjectorCPULimit, `"-1" is not a positive quantity`}},
		"init memory":     {map[string]string{AnnotationMode: "init", AnnotationInjectorMemoryRequest: "64MB!"}, []string{AnnotationInjectorMemoryRequest, "not a positive quantity"}},
		"init over limit": {map[string]string{AnnotationMode: "init", AnnotationInjectorMemoryLimit: "32Mi"}, []string{AnnotationInjectorMemoryLimit, "exceeds its limit 32Mi"}},
		"init cpu order":  {map[string]string{AnnotationMode: "init", AnnotationInjectorCPURequest: "1", AnnotationInjectorCPULimit: "500m"}, []string{AnnotationInjectorCPURequest, "CPU request 1 exceeds its limit 500m"}},
		"init deadline":   {map[string]string{AnnotationMode: "init", AnnotationInjectorDeadline: "10ms"}, []string{AnnotationInjectorDeadline, "too short"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := Mutate(context.Background(), testPod(tc.ann), "apps", testConfig(), testLookups())
			if !errors.As(err, new(*DeniedError)) {
				t.Fatalf("want a denial, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("denial %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMutateLookupFailureIsInternal(t *testing.T) {
	lk := testLookups()
	lk.err = errors.New("connection refused")
	_, _, err := Mutate(context.Background(), testPod(nil), "apps", testConfig(), lk)
	if err == nil || errors.As(err, new(*DeniedError)) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("want an internal error, got %v", err)
	}
}

func TestMutateUsesPodNamespaceWhenRequestHasNone(t *testing.T) {
	p := testPod(nil)
	p.Namespace = "kube-system"
	out, outcome, err := Mutate(context.Background(), p, "", testConfig(), testLookups())
	if err != nil || outcome != Skipped || len(out.Spec.Volumes) != 1 {
		t.Fatalf("pod in kube-system: outcome %q, err %v", outcome, err)
	}
}

func TestMutateIdempotent(t *testing.T) {
	lk := testLookups()
	once, outcome, err := Mutate(context.Background(), testPod(nil), "apps", testConfig(), lk)
	if err != nil || outcome != Mutated {
		t.Fatalf("first pass: %q %v", outcome, err)
	}
	twice, outcome, err := Mutate(context.Background(), once, "apps", testConfig(), lk)
	if err != nil || outcome != Skipped || !equality.Semantic.DeepEqual(once, twice) {
		t.Fatalf("second pass changed the pod: %q %v", outcome, err)
	}
	// Without the status annotation the volume alone keeps it idempotent.
	delete(once.Annotations, AnnotationStatus)
	again, outcome, err := Mutate(context.Background(), once, "apps", testConfig(), lk)
	if err != nil || outcome != Skipped || len(again.Spec.Volumes) != len(once.Spec.Volumes) {
		t.Fatalf("pass without status: %q %v, %d volumes", outcome, err, len(again.Spec.Volumes))
	}
}

func TestSpecCache(t *testing.T) {
	cfg := testConfig()
	cfg.Specs = NewSpecCache(2)
	lk := testLookups()
	for range 3 {
		if _, outcome, err := Mutate(context.Background(), testPod(nil), "apps", cfg, lk); err != nil || outcome != Mutated {
			t.Fatalf("%q %v", outcome, err)
		}
	}
	if len(cfg.Specs.m) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(cfg.Specs.m))
	}
	// A changed class is parsed again: now invalid, so denied.
	lk.classes["apps/db"] = awsClass("apps", "db", "- objectName: \"\"\n")
	if _, _, err := Mutate(context.Background(), testPod(nil), "apps", cfg, lk); !errors.As(err, new(*DeniedError)) {
		t.Fatalf("changed class served from cache: %v", err)
	}
	// Bounded.
	for _, n := range []string{"x", "y", "z"} {
		lk.classes["apps/"+n] = awsClass("apps", n, seedObjects)
		if _, _, err := Mutate(context.Background(), testPod(map[string]string{AnnotationSecretProviderClass: n}), "apps", cfg, lk); err != nil {
			t.Fatal(err)
		}
	}
	if len(cfg.Specs.m) > 2 {
		t.Fatalf("cache grew to %d", len(cfg.Specs.m))
	}
}
