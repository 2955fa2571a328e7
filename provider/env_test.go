package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/syncbuf"
)

// Fixtures of the fake AWS and the cluster.
const (
	region    = "us-east-1"
	namespace = "team-a"
	issuerURL = "https://issuer.test.local"
	// roleApp may read app/* and /app/*; roleOther other/*.
	roleApp   = "arn:aws:iam::111122223333:role/app"
	roleOther = "arn:aws:iam::111122223333:role/other"
	// saApp is annotated with roleApp, saOther with roleOther, saPlain with nothing.
	saApp   = "app"
	saOther = "other"
	saPlain = "plain"
	// The node's own credentials (a fake user): never used unless the policy says so.
	nodeKey, nodeSecret = "AKIDNODE", "node-secret"

	dbSecret   = "app/db"
	dbValue    = `{"username":"admin","password":"s3cr3t-passw0rd"}`
	dbVersion  = "v-db-1"
	portParam  = "/app/port"
	portValue  = "5432"
	otherValue = "other-token-value"
)

// seedParams are the class parameters of the tests' SecretProviderClass:
// one Secrets Manager secret split by jmesPath, an SSM parameter with its own
// filePermission.
var seedParams = map[string]string{
	"region": region,
	"objects": `
- objectName: "app/db"
  objectType: secretsmanager
  objectAlias: db
  jmesPath:
    - {path: username, objectAlias: db-user}
    - {path: password, objectAlias: db-password, filePermission: "0400"}
- objectName: "/app/port"
  objectType: ssmparameter
  filePermission: "0440"
`,
}

// staticSAs is an in-memory ServiceAccounts that counts its reads.
type staticSAs struct {
	mu    sync.Mutex
	sas   map[string]map[string]string
	reads atomic.Int64
}

func (s *staticSAs) set(ns, name string, ann map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sas[ns+"/"+name] = ann
}

func (s *staticSAs) Annotations(_ context.Context, ns, name string) (map[string]string, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	ann, ok := s.sas[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, name)
	}
	return ann, nil
}

// envOptions tune startEnv.
type envOptions struct {
	cacheTTL time.Duration
	now      func() time.Time
	maxResp  int
	// fetchTimeout bounds one Mount (default the server's).
	fetchTimeout time.Duration
	// latency is added by the fake to every Secrets Manager and SSM call.
	latency time.Duration
	// observer receives the fetcher's events.
	observer awsfetch.Observer
	// serviceAccounts replaces the in-memory reader (e.g. the REST one on a real API server).
	serviceAccounts provider.ServiceAccounts
	// strict is the server's StrictClasses (--strict-classes).
	strict bool
	// noDefaultRegion starts the server without a default region, as Run does
	// when neither --region, AWS_REGION nor an allowed IMDS names one.
	noDefaultRegion bool
	// trust is called with the fake before it starts (e.g. to trust a real API server's issuer).
	trust func(*fakeaws.Server) error
}

// env is a provider served on a unix socket in a short temporary directory,
// with the fake AWS behind it and a client dialled as the driver dials.
type env struct {
	AWS    *fakeaws.Server
	Issuer *fakeaws.TokenIssuer
	SAs    *staticSAs
	Server *provider.Server
	Socket string
	Client v1alpha1.CSIDriverProviderClient
	Logs   *syncbuf.Buffer
}

func startEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	iss, err := fakeaws.NewTokenIssuer(issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	aws, err := fakeaws.New(fakeaws.State{
		Region: region,
		Users:  []fakeaws.User{{Name: "node", AccessKeyID: nodeKey, SecretAccessKey: nodeSecret, Allow: []string{"app/*", "/app/*", "other/*"}}},
		Roles: []fakeaws.Role{
			{ARN: roleApp, Allow: []string{"app/*", "/app/*"}},
			{ARN: roleOther, Allow: []string{"other/*"}},
		},
		Secrets:    []fakeaws.Secret{{Name: dbSecret, Value: dbValue, VersionID: dbVersion}, {Name: "other/token", Value: otherValue}},
		Parameters: []fakeaws.Parameter{{Name: portParam, Value: portValue}},
		PodIdentityAssociations: []fakeaws.PodIdentityAssociation{
			{Namespace: namespace, ServiceAccount: saApp, RoleARN: roleApp},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, aud := range []string{identity.STSAudience, identity.PodIdentityAudience} {
		if err := aws.TrustIssuer(issuerURL, aud, iss.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	if o.trust != nil {
		if err := o.trust(aws); err != nil {
			t.Fatal(err)
		}
	}
	if err := aws.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = aws.Close() })
	if o.latency > 0 {
		ms := int(o.latency / time.Millisecond)
		aws.SetFault(fakeaws.Fault{API: "secretsmanager:*", LatencyMS: ms})
		aws.SetFault(fakeaws.Fault{API: "ssm:*", LatencyMS: ms})
	}

	base, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region), config.WithBaseEndpoint(aws.URL()),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(nodeKey, nodeSecret, "")))
	if err != nil {
		t.Fatal(err)
	}
	sas := &staticSAs{sas: map[string]map[string]string{}}
	sas.set(namespace, saApp, map[string]string{identity.AnnotationRoleARN: roleApp})
	sas.set(namespace, saOther, map[string]string{identity.AnnotationRoleARN: roleOther})
	sas.set(namespace, saPlain, nil)

	logs := &syncbuf.Buffer{}
	// The most verbose logger there is: every V level is printed.
	log := logr.FromSlogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.Level(-127)}))
	var reader provider.ServiceAccounts = sas
	if o.serviceAccounts != nil {
		reader = o.serviceAccounts
	}
	defaultRegion, looked := region, []string(nil)
	if o.noDefaultRegion {
		defaultRegion, looked = "", []string{"the chart's aws.region (--region, AWS_REGION)", "the instance metadata service (not allowed)"}
	}
	srv, err := provider.NewServer(provider.Config{
		Pipeline: pipeline.New(identity.NewResolver(base, identity.Options{PodIdentityEndpoint: aws.PodIdentityURL()}),
			awsfetch.New(base, awsfetch.Options{CacheTTL: o.cacheTTL, Now: o.now, MaxAttempts: 2, Observer: o.observer})),
		ServiceAccounts:  reader,
		DefaultRegion:    defaultRegion,
		StrictClasses:    o.strict,
		RegionLooked:     looked,
		MaxResponseBytes: o.maxResp,
		FetchTimeout:     o.fetchTimeout,
		Log:              log,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are limited to 108 bytes: a short directory.
	dir, err := os.MkdirTemp("", "prov")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, provider.SocketName)
	lis, err := provider.Listen(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	gs := srv.NewGRPCServer()
	done := make(chan error, 1)
	go func() { done <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return &env{AWS: aws, Issuer: iss, SAs: sas, Server: srv, Socket: sock, Client: dialDriver(t, sock), Logs: logs}
}

// driverServiceConfig is the service config the driver sets on its provider
// connections (contract.go): wait for the socket, retry UNAVAILABLE three times.
const driverServiceConfig = `{"methodConfig": [{
  "name": [{"service": "v1alpha1.CSIDriverProvider"}],
  "waitForReady": true,
  "retryPolicy": {"MaxAttempts": 3, "InitialBackoff": "1s", "MaxBackoff": "10s",
    "BackoffMultiplier": 1.1, "RetryableStatusCodes": ["UNAVAILABLE"]}}]}`

// dialDriver connects to sock exactly as the driver does (contract.go): the
// bare socket path as a passthrough target (so the path goes out as
// :authority), insecure transport, a context dialer that dials "unix" whatever
// it is given, the driver's service config and its 4 MiB receive limit.
func dialDriver(t testing.TB, sock string) v1alpha1.CSIDriverProviderClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+sock,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(provider.DriverMaxRecvMsgSize)),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}),
		grpc.WithDefaultServiceConfig(driverServiceConfig))
	if err != nil {
		t.Fatalf("dial %s: %v", sock, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return v1alpha1.NewCSIDriverProviderClient(conn)
}

// tokens mints the pod's tokens for both audiences, as the kubelet passes
// them: a JSON object of audience to {token, expirationTimestamp}.
func (e *env) tokens(t testing.TB, iss *fakeaws.TokenIssuer, ns, sa string) string {
	t.Helper()
	toks := map[string]identity.Token{}
	for _, aud := range []string{identity.STSAudience, identity.PodIdentityAudience} {
		tok, err := iss.ServiceAccountToken(ns, sa, aud, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		toks[aud] = identity.Token{Token: tok, ExpirationTimestamp: time.Now().Add(time.Hour)}
	}
	b, err := identity.EncodeTokens(toks)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pod describes the pod a request is for.
type pod struct {
	name, sa, class string
	params          map[string]string
	// tokensInSecrets puts the tokens in secrets, as the kubelet does when
	// the CSIDriver sets serviceAccountTokenInSecrets.
	tokensInSecrets bool
	// tokenJSON replaces the minted tokens.
	tokenJSON string
}

// firstMount builds the MountRequest the driver sends on NodePublishVolume:
// the class parameters with the volume context laid over them (pod info,
// secretProviderClass, ephemeral, tokens), secrets "null" (no
// nodePublishSecretRef), permission "420", no current versions.
func (e *env) firstMount(t testing.TB, p pod) *v1alpha1.MountRequest {
	t.Helper()
	attrs := map[string]string{}
	for k, v := range p.params {
		attrs[k] = v
	}
	attrs[provider.AttrSecretProviderClass] = p.class
	attrs[provider.AttrPodName] = p.name
	attrs[provider.AttrPodNamespace] = namespace
	attrs[provider.AttrPodUID] = "uid-" + p.name
	attrs[provider.AttrServiceAccount] = p.sa
	attrs[provider.AttrEphemeral] = "true"
	toks := p.tokenJSON
	if toks == "" {
		toks = e.tokens(t, e.Issuer, namespace, p.sa)
	}
	secretsJSON := "null"
	if p.tokensInSecrets {
		b, err := json.Marshal(map[string]string{provider.AttrTokens: toks})
		if err != nil {
			t.Fatal(err)
		}
		secretsJSON = string(b)
	} else {
		attrs[provider.AttrTokens] = toks
	}
	return &v1alpha1.MountRequest{
		Attributes: mustJSON(t, attrs), Secrets: secretsJSON,
		TargetPath: "/var/lib/kubelet/pods/uid-" + p.name + "/volumes/kubernetes.io~csi/secrets/mount",
		Permission: provider.DriverPermission,
	}
}

// rotationMount builds what the driver's rotation sends for a mounted
// volume (contract.go): the class parameters plus pod name, namespace, uid,
// service account and tokens, without the pod's volumeAttributes (no
// secretProviderClass, no ephemeral); secrets "{}"; the current versions.
func (e *env) rotationMount(t testing.TB, p pod, current []*v1alpha1.ObjectVersion) *v1alpha1.MountRequest {
	t.Helper()
	attrs := map[string]string{}
	for k, v := range p.params {
		attrs[k] = v
	}
	attrs[provider.AttrPodName] = p.name
	attrs[provider.AttrPodNamespace] = namespace
	attrs[provider.AttrPodUID] = "uid-" + p.name
	attrs[provider.AttrServiceAccount] = p.sa
	attrs[provider.AttrTokens] = e.tokens(t, e.Issuer, namespace, p.sa)
	return &v1alpha1.MountRequest{
		Attributes: mustJSON(t, attrs), Secrets: "{}",
		TargetPath:           "/var/lib/kubelet/pods/uid-" + p.name + "/volumes/kubernetes.io~csi/secrets/mount",
		Permission:           provider.DriverPermission,
		CurrentObjectVersion: current,
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// awsCalls is every call the fake AWS answered (STS included).
func (e *env) awsCalls() int { return e.AWS.Calls().Total }

// ctx is a test's deadline: the kubelet's, in effect.
func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// files maps a response's files by path.
func files(resp *v1alpha1.MountResponse) map[string]*v1alpha1.File {
	out := map[string]*v1alpha1.File{}
	for _, f := range resp.GetFiles() {
		out[f.GetPath()] = f
	}
	return out
}

// versions renders a response's object versions as "id=version" in order.
func versions(resp *v1alpha1.MountResponse) string {
	var out []string
	for _, v := range resp.GetObjectVersion() {
		out = append(out, v.GetId()+"="+v.GetVersion())
	}
	return strings.Join(out, " ")
}
