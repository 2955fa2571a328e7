//go:build integration

package webhook

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/test/envtest"
)

// The load benchmarks' anchor: vault-k8s's agent injector, built from the
// module proxy by `make tools-anchors` (hack/tools/vault-k8s), served the
// same kind of pod over the same loopback TLS, pinned to the same core, in
// the same run, so that the ratios issue #14 asks for are measured side by
// side rather than against figures from another day.
const (
	// WEBHOOK_BENCH_ANCHOR=none runs our webhook alone.
	benchAnchorEnv = "WEBHOOK_BENCH_ANCHOR"
	// WEBHOOK_BENCH_VAULT_K8S is the vault-k8s binary (default ../bin/vault-k8s).
	benchVaultK8sEnv = "WEBHOOK_BENCH_VAULT_K8S"
)

// A benchTarget is a webhook server the load benchmarks run.
type benchTarget string

const (
	targetOurs  benchTarget = "asi-webhook"
	targetVault benchTarget = "vault-k8s"
	// targetFloor is the transport alone (runFloorServer): what a Go
	// net/http server pays on this core and this loopback to read a review
	// and answer it, with no decode and no mutation. Both webhooks stand on
	// it, so a ratio of theirs cannot pass what is left above it.
	targetFloor benchTarget = "net-http-floor"
)

// benchTargets is ours, then the anchor and the floor unless
// WEBHOOK_BENCH_ANCHOR=none (or the run profiles our server, which only the
// in-process child can).
func benchTargets() []benchTarget {
	if os.Getenv(benchAnchorEnv) == "none" || os.Getenv(benchProfileEnv) != "" {
		return []benchTarget{targetOurs}
	}
	return []benchTarget{targetOurs, targetVault, targetFloor}
}

// vaultK8sBinary is the anchor's path; a missing one fails with the fix.
func vaultK8sBinary(b *testing.B) string {
	b.Helper()
	path := os.Getenv(benchVaultK8sEnv)
	if path == "" {
		path = filepath.Join("..", "bin", "vault-k8s")
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		b.Fatalf("the anchor vault-k8s: %v (build it with `make tools-anchors`, point %s at it, or set %s=none)",
			err, benchVaultK8sEnv, benchAnchorEnv)
	}
	return abs
}

// vaultK8sArgv is the command that runs vault-k8s's injector on 127.0.0.1:port
// with the serving certificate in certDir, against env's API server.
//
// vault-k8s only takes an in-cluster configuration: a service-account token
// and CA at /var/run/secrets/kubernetes.io/serviceaccount and
// KUBERNETES_SERVICE_HOST/PORT. It gets a token of its own service account
// (RBAC as its Helm chart grants: the webhook configurations it watches),
// shown at that path on a tmpfs in a mount namespace of its own, so the host's
// /run is left untouched (root: unshare needs CAP_SYS_ADMIN). Its other
// settings are its defaults, logging included (one line per request at info).
func vaultK8sArgv(b *testing.B, env *envtest.Env, certDir, port string) (argv, environ []string) {
	b.Helper()
	bin := vaultK8sBinary(b)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "" {
			b.Skipf("the anchor vault-k8s reads its API server token from a path only root can mount over (run as root, or set %s=none)", benchAnchorEnv)
		}
		b.Fatal("the anchor vault-k8s needs root (a mount namespace)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		b.Fatalf("the anchor vault-k8s runs in a mount namespace: %v (install util-linux, or set %s=none)", err, benchAnchorEnv)
	}
	ctx := context.Background()
	const ns, sa = "vault", "vault-agent-injector"
	if _, err := env.CreateNamespace(ctx, ns, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := env.CreateServiceAccount(ctx, ns, sa, nil); err != nil {
		b.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: sa}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"},
		Verbs: []string{"get", "list", "watch", "patch"},
	}}}
	if _, err := env.Clientset.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: sa},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}},
	}
	if _, err := env.Clientset.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	token, err := env.MintToken(ctx, ns, sa, env.Issuer)
	if err != nil {
		b.Fatal(err)
	}
	sadir := filepath.Join(b.TempDir(), "serviceaccount")
	if err := os.Mkdir(sadir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sadir, "token"), []byte(token), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sadir, "ca.crt"), env.Config.CAData, 0o600); err != nil {
		b.Fatal(err)
	}
	api, err := url.Parse(env.Config.Host)
	if err != nil {
		b.Fatal(err)
	}
	// The shell mounts the tmpfs, copies the two files and execs vault-k8s
	// (unshare and sh exec in turn: the pid is vault-k8s's).
	const script = `set -e
mount -t tmpfs -o size=1m,mode=0755 tmpfs /run
d=/var/run/secrets/kubernetes.io/serviceaccount
mkdir -p "$d"
cp "$1/token" "$1/ca.crt" "$d/"
shift
exec "$@"`
	argv = []string{unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", sadir,
		bin, "agent-inject", "-listen", "127.0.0.1:" + port,
		"-tls-cert-file", filepath.Join(certDir, "tls.crt"), "-tls-key-file", filepath.Join(certDir, "tls.key"),
		"-vault-address", "https://vault.vault.svc:8200"}
	environ = append(os.Environ(), "KUBERNETES_SERVICE_HOST="+api.Hostname(), "KUBERNETES_SERVICE_PORT="+api.Port(), "NAMESPACE="+ns)
	return argv, environ
}

// vaultPod is testPod annotated for vault-k8s instead of us: its agent as an
// init container and a sidecar, rendering the same two files.
func vaultPod() *corev1.Pod {
	return testPod(map[string]string{
		AnnotationInject: "-", AnnotationSecretProviderClass: "-",
		"vault.hashicorp.com/agent-inject":                    "true",
		"vault.hashicorp.com/role":                            "web",
		"vault.hashicorp.com/agent-inject-secret-db-user":     "secret/data/db",
		"vault.hashicorp.com/agent-inject-secret-db-password": "secret/data/db",
	})
}

// targetBody is the AdmissionReview the target mutates: its pod as webhooks
// see it, after the API server's ServiceAccount admission plugin (which runs
// before them) added the token volume to it and mounted it in every
// container (vault-k8s refuses a pod without that mount).
func targetBody(b *testing.B, t benchTarget) []byte {
	b.Helper()
	pod := testPod(nil)
	if t == targetVault {
		pod = vaultPod()
	}
	return review(b, admissionv1.Create, podKind, "apps", withTokenVolume(pod))
}

// withTokenVolume adds the projected token volume as the ServiceAccount
// admission plugin does.
func withTokenVolume(pod *corev1.Pod) *corev1.Pod {
	const name, path = "kube-api-access-7xq2k", "/var/run/secrets/kubernetes.io/serviceaccount"
	expiry, mode := int64(3607), int32(0o644)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiry, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		}},
	}})
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: path}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].VolumeMounts = append(pod.Spec.InitContainers[i].VolumeMounts, mount)
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, mount)
	}
	return pod
}
