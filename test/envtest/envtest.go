// Package envtest starts a real kube-apiserver and etcd for tests, through
// controller-runtime's envtest, with the SecretProviderClass CRD installed and
// a service-account token issuer whose keys the tests know, so that a fake STS
// can verify tokens minted by the TokenRequest API the way IAM verifies an EKS
// cluster's tokens.
//
// The binaries come from bin/ (built by `make tools-apiserver`), or from the
// directory named by KUBEBUILDER_ASSETS. When they are missing a test is
// skipped, except under CI=true, where it fails: CI must build them.
package envtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// AssetsEnv names the environment variable that points at a directory holding
// kube-apiserver and etcd; it overrides <repo root>/bin.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// BuildHint is what a test that cannot find the binaries says to do.
const BuildHint = "run `make tools-apiserver` to build kube-apiserver and etcd into bin/"

// SecretProviderClassGVK is the group, version and kind of the
// SecretProviderClass objects this package creates (as unstructured objects).
var SecretProviderClassGVK = schema.GroupVersionKind{
	Group:   "secrets-store.csi.x-k8s.io",
	Version: "v1",
	Kind:    "SecretProviderClass",
}

// crdFile is the chart's SecretProviderClass CRD, relative to the repo root.
var crdFile = filepath.Join("charts", "aws-secrets-injector", "crds", "secretproviderclass.yaml")

// Env is a running API server with its clients. Start returns it; t.Cleanup
// stops it.
type Env struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Client is a controller-runtime client whose scheme knows client-go's
	// built-in types (core/v1, admissionregistration/v1, storage/v1, ...);
	// SecretProviderClasses go through it as unstructured objects.
	Client client.Client
	// Clientset is a typed client-go clientset for the same server.
	Clientset kubernetes.Interface
	// Scheme is Client's scheme.
	Scheme *runtime.Scheme
	// KubeConfig is Config as kubeconfig YAML; KubeConfigFile holds it on disk
	// (for kubectl or helm).
	KubeConfig     []byte
	KubeConfigFile string
	// Issuer is the service-account token issuer (the iss claim), by default
	// the API server's own URL, https://127.0.0.1:PORT.
	Issuer string
	// SigningKey is the public half of the key the API server signs
	// service-account tokens with (an *rsa.PublicKey, RS256).
	SigningKey crypto.PublicKey
	// JWKS is the API server's key set as served at /openid/v1/jwks, the
	// document an OIDC verifier (IAM, a fake STS) fetches.
	JWKS []byte
	// Webhook is the webhook install options in effect: after Start it holds
	// LocalServingHost, LocalServingPort and LocalServingCertDir, where the
	// test's webhook server must listen with the certificate found there.
	Webhook *crenvtest.WebhookInstallOptions
	// Environment is the underlying controller-runtime environment.
	Environment *crenvtest.Environment
}

type options struct {
	webhook       crenvtest.WebhookInstallOptions
	crdPaths      []string
	issuer        string
	flags         map[string][]string
	schemeAdders  []func(*runtime.Scheme) error
	attachOutputs bool
}

// Option changes how Start sets the environment up.
type Option func(*options)

// WithWebhookInstallOptions registers webhooks (for example a
// MutatingWebhookConfiguration in MutatingWebhooks) that the API server calls
// over TLS on LocalServingHost:LocalServingPort; envtest rewrites their client
// config to point there and generates the serving certificate.
func WithWebhookInstallOptions(o crenvtest.WebhookInstallOptions) Option {
	return func(opts *options) { opts.webhook = o }
}

// WithCRDPaths installs more CRDs (files or directories) besides
// SecretProviderClass.
func WithCRDPaths(paths ...string) Option {
	return func(opts *options) { opts.crdPaths = append(opts.crdPaths, paths...) }
}

// WithIssuer sets the service-account issuer URL instead of the API server's
// own URL.
func WithIssuer(url string) Option {
	return func(opts *options) { opts.issuer = url }
}

// WithAPIServerFlag sets a kube-apiserver flag (name without dashes),
// replacing envtest's default for it.
func WithAPIServerFlag(name string, values ...string) Option {
	return func(opts *options) { opts.flags[name] = values }
}

// WithScheme adds types to Client's scheme (for example a typed
// SecretProviderClass).
func WithScheme(add func(*runtime.Scheme) error) Option {
	return func(opts *options) { opts.schemeAdders = append(opts.schemeAdders, add) }
}

// WithControlPlaneOutput copies the API server's and etcd's output to the
// test's stdout and stderr (also KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT=true).
func WithControlPlaneOutput() Option {
	return func(opts *options) { opts.attachOutputs = true }
}

// Start brings up etcd and kube-apiserver, installs the SecretProviderClass
// CRD and any webhooks, and stops everything when the test ends. Without the
// binaries it skips the test, or fails it when CI=true.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{flags: map[string][]string{}}
	for _, opt := range opts {
		opt(&o)
	}

	root, rootErr := repoRoot()
	assets, err := findAssets(os.Getenv(AssetsEnv), root)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real API server tests need kube-apiserver and etcd: %v; %s", err, BuildHint)
		}
		t.Skipf("real API server tests need kube-apiserver and etcd: %v; %s", err, BuildHint)
	}
	if rootErr != nil {
		t.Fatalf("find repository root: %v", rootErr)
	}

	env, err := start(t, o, root, assets)
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	return env
}

func start(t testing.TB, o options, root, assets string) (*Env, error) {
	dir := t.TempDir()

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	pubFile, keyFile, err := writeKeyPair(dir, key)
	if err != nil {
		return nil, err
	}

	port, err := freePort(context.Background())
	if err != nil {
		return nil, err
	}
	issuer := o.issuer
	if issuer == "" {
		issuer = "https://127.0.0.1:" + strconv.Itoa(port)
	}

	env := &crenvtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        append([]string{filepath.Join(root, crdFile)}, o.crdPaths...),
		ErrorIfCRDPathMissing:    true,
		WebhookInstallOptions:    o.webhook,
		AttachControlPlaneOutput: o.attachOutputs,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	api := env.ControlPlane.GetAPIServer()
	api.Path = filepath.Join(assets, "kube-apiserver")
	// The secure serving address (APIServer.SecureServing.ListenAddr).
	api.Address = "127.0.0.1"
	api.Port = strconv.Itoa(port)
	args := api.Configure()
	args.Set("service-account-issuer", issuer)
	args.Set("service-account-key-file", pubFile)
	args.Set("service-account-signing-key-file", keyFile)
	for name, values := range o.flags {
		args.Set(name, values...)
	}

	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		return nil, fmt.Errorf("build scheme: %w", err)
	}
	for _, add := range o.schemeAdders {
		if err := add(sch); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	env.Scheme = sch

	cfg, err := env.Start()
	if err != nil {
		// Start may fail half way: stop whatever came up.
		_ = env.Stop()
		return nil, err
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop kube-apiserver and etcd: %v", err)
		}
	})

	e := &Env{
		Config:      cfg,
		Scheme:      sch,
		KubeConfig:  env.KubeConfig,
		Issuer:      issuer,
		SigningKey:  &key.PublicKey,
		Webhook:     &env.WebhookInstallOptions,
		Environment: env,
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: sch}); err != nil {
		return nil, fmt.Errorf("build client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build clientset: %w", err)
	}
	e.Clientset = cs
	e.KubeConfigFile = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(e.KubeConfigFile, env.KubeConfig, 0o600); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if e.JWKS, err = cs.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx); err != nil {
		return nil, fmt.Errorf("get service-account issuer keys: %w", err)
	}
	return e, nil
}

// findAssets returns the directory holding kube-apiserver and etcd: dir when
// set, else <root>/bin.
func findAssets(dir, root string) (string, error) {
	if dir == "" {
		if root == "" {
			return "", errors.New("no " + AssetsEnv + " and no repository root (go.mod) above the working directory")
		}
		dir = filepath.Join(root, "bin")
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%s not found in %s", name, dir)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not an executable file", p)
		}
	}
	return dir, nil
}

// rootModuleLine starts the repository's go.mod.
const rootModuleLine = "module github.com/seed-ddac166a/aws-secrets-injector\n"

// repoRoot walks up from the working directory to the directory holding the
// repository's go.mod (go test runs a package's tests in its own directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}
	for {
		// The repository's own go.mod: nested test modules (test/chart) have theirs.
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte(rootModuleLine)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func writeKeyPair(dir string, key *rsa.PrivateKey) (pubFile, keyFile string, err error) {
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("encode service-account public key: %w", err)
	}
	pubFile = filepath.Join(dir, "sa.pub")
	keyFile = filepath.Join(dir, "sa.key")
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(pubFile, pub, 0o600); err != nil {
		return "", "", fmt.Errorf("write service-account public key: %w", err)
	}
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		return "", "", fmt.Errorf("write service-account signing key: %w", err)
	}
	return pubFile, keyFile, nil
}

// freePort asks the kernel for a free loopback port. Another process may take
// it before the API server binds it; envtest then retries the start.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}

// TokenOption changes a TokenRequest made by MintToken.
type TokenOption func(*authenticationv1.TokenRequestSpec)

// BoundToPod binds the token to a pod, as the kubelet does for a pod's
// projected token: the pod must exist with that UID, and the token carries
// the pod's name and UID in its kubernetes.io claim.
func BoundToPod(name string, uid types.UID) TokenOption {
	return func(s *authenticationv1.TokenRequestSpec) {
		s.BoundObjectRef = &authenticationv1.BoundObjectReference{
			Kind: "Pod", APIVersion: "v1", Name: name, UID: uid,
		}
	}
}

// ExpiresIn sets the token's lifetime (the API server's minimum is 10 minutes;
// the default here is one hour).
func ExpiresIn(d time.Duration) TokenOption {
	return func(s *authenticationv1.TokenRequestSpec) {
		secs := int64(d / time.Second)
		s.ExpirationSeconds = &secs
	}
}

// MintToken asks the API server's TokenRequest API for a token of the
// service account namespace/serviceAccount with the given audience. The
// service account must exist (see CreateServiceAccount).
func (e *Env) MintToken(ctx context.Context, namespace, serviceAccount, audience string, opts ...TokenOption) (string, error) {
	hour := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		ExpirationSeconds: &hour,
	}}
	for _, opt := range opts {
		opt(&tr.Spec)
	}
	out, err := e.Clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token for service account %s/%s: %w", namespace, serviceAccount, err)
	}
	return out.Status.Token, nil
}

// CreateNamespace creates a namespace with the given labels, or updates the
// labels of an existing one.
func (e *Env) CreateNamespace(ctx context.Context, name string, labels map[string]string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	out, err := e.Clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err := e.Clientset.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get namespace %s: %w", name, err)
		}
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		for k, v := range labels {
			cur.Labels[k] = v
		}
		if out, err = e.Clientset.CoreV1().Namespaces().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("update namespace %s: %w", name, err)
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	return out, nil
}

// CreateServiceAccount creates namespace (when missing) and a service account
// in it with the given annotations (for example eks.amazonaws.com/role-arn).
func (e *Env) CreateServiceAccount(ctx context.Context, namespace, name string, annotations map[string]string) (*corev1.ServiceAccount, error) {
	if _, err := e.CreateNamespace(ctx, namespace, nil); err != nil {
		return nil, err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: namespace, Annotations: annotations,
	}}
	out, err := e.Clientset.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create service account %s/%s: %w", namespace, name, err)
	}
	return out, nil
}

// CreateSecretProviderClass creates the SecretProviderClass in manifest (YAML
// or JSON, the whole object as users apply it). A non-empty namespace
// replaces the manifest's; with neither, "default" is used.
func (e *Env) CreateSecretProviderClass(ctx context.Context, namespace string, manifest []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		return nil, fmt.Errorf("parse secretproviderclass manifest: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("parse secretproviderclass manifest: %w", err)
	}
	if gk := u.GroupVersionKind().GroupKind(); gk != SecretProviderClassGVK.GroupKind() {
		return nil, fmt.Errorf("manifest is a %s, not a %s", gk, SecretProviderClassGVK.GroupKind())
	}
	switch {
	case namespace != "":
		u.SetNamespace(namespace)
	case u.GetNamespace() == "":
		u.SetNamespace(metav1.NamespaceDefault)
	}
	if err := e.Client.Create(ctx, u); err != nil {
		return nil, fmt.Errorf("create secretproviderclass %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return u, nil
}
