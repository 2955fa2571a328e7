// Package mountertest runs the real mounter (real tmpfs mounts: needs root)
// against the fake AWS, for the mounter's own tests, the csi-test sanity
// suite and the benchmarks. The API server is replaced by StaticCluster; the
// integration test in package mounter uses a real one.
//
// The fake AWS trusts a test token issuer for audience sts.amazonaws.com and
// pods.eks.amazonaws.com; Env.VolumeContext mints the pod's tokens the way the
// kubelet passes them (csi.storage.k8s.io/serviceAccount.tokens).
package mountertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/test/examples"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/record"
	mount "k8s.io/mount-utils"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// Fixture names.
const (
	Region    = "us-east-1"
	Account   = "111122223333"
	Namespace = "default"
	// RoleApp may read my-app/*; RoleOther may read other/*.
	RoleApp   = "arn:aws:iam::111122223333:role/my-app"
	RoleOther = "arn:aws:iam::111122223333:role/other"
	// SAApp is annotated with RoleApp, SAOther with RoleOther, SAPlain with nothing.
	SAApp   = "my-app"
	SAOther = "other"
	SAPlain = "plain"
	// SeedClass is the user's example SecretProviderClass (db-user, db-password).
	SeedClass = "aws-secretsmanager-reader"
	// SeedSecret and its value.
	SeedSecret = "my-app/db-credentials"
	SeedValue  = `{"username":"admin","password":"supersecretpassword"}`
	// NodeKey / NodeSecretKey are the node's static credentials (a fake user allowed my-app/*).
	NodeKey       = "AKIDNODEEXAMPLE"
	NodeSecretKey = "node-secret"
	// Issuer is the token issuer the fake STS trusts.
	Issuer = "https://issuer.test.local"
)

// SeedClassYAML is the user's SecretProviderClass (shared/examples/seed-secretproviderclass.yaml).
var SeedClassYAML = string(examples.SeedClass)

// StaticCluster is an in-memory mounter.Cluster. Its Secrets keep what the
// API server's optimistic concurrency needs and no more: a create of an
// existing name is AlreadyExists, an update of a missing one NotFound, an
// update whose resourceVersion is not the stored one Conflict. It validates
// nothing else (a real API server does: the integration tests use one).
type StaticCluster struct {
	mu      sync.Mutex
	classes map[string]*spc.Class
	sas     map[string]map[string]string
	secrets map[string]*corev1.Secret
	version int
}

// NewStaticCluster returns an empty cluster.
func NewStaticCluster() *StaticCluster {
	return &StaticCluster{classes: map[string]*spc.Class{}, sas: map[string]map[string]string{}, secrets: map[string]*corev1.Secret{}}
}

var secretsResource = schema.GroupResource{Resource: "secrets"}

// GetSecret implements mounter.SecretStore: a copy of the stored Secret.
func (c *StaticCluster) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.secrets[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(secretsResource, name)
	}
	return s.DeepCopy(), nil
}

// CreateSecret implements mounter.SecretStore.
func (c *StaticCluster) CreateSecret(_ context.Context, s *corev1.Secret) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := s.Namespace + "/" + s.Name
	if _, ok := c.secrets[k]; ok {
		return apierrors.NewAlreadyExists(secretsResource, s.Name)
	}
	c.secrets[k] = c.stamp(s)
	return nil
}

// UpdateSecret implements mounter.SecretStore.
func (c *StaticCluster) UpdateSecret(_ context.Context, s *corev1.Secret) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := s.Namespace + "/" + s.Name
	cur, ok := c.secrets[k]
	if !ok {
		return apierrors.NewNotFound(secretsResource, s.Name)
	}
	if s.ResourceVersion != cur.ResourceVersion {
		return apierrors.NewConflict(secretsResource, s.Name, fmt.Errorf("resourceVersion %s is not the stored %s", s.ResourceVersion, cur.ResourceVersion))
	}
	c.secrets[k] = c.stamp(s)
	return nil
}

// stamp returns a copy of s with the next resourceVersion (c.mu held).
func (c *StaticCluster) stamp(s *corev1.Secret) *corev1.Secret {
	c.version++
	out := s.DeepCopy()
	out.ResourceVersion = strconv.Itoa(c.version)
	return out
}

// AddClassYAML adds a SecretProviderClass in namespace from YAML.
func (c *StaticCluster) AddClassYAML(namespace, doc string) error {
	cl, err := spc.DecodeClass([]byte(doc))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.classes[namespace+"/"+cl.Name] = cl
	c.mu.Unlock()
	return nil
}

// AddClass adds a class with the given parameters.
func (c *StaticCluster) AddClass(namespace, name string, params map[string]string) {
	c.mu.Lock()
	c.classes[namespace+"/"+name] = &spc.Class{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: spc.Kind, Name: name,
		Namespace: namespace, Provider: spc.Provider, Parameters: params}
	c.mu.Unlock()
}

// AddServiceAccount adds (or replaces) a ServiceAccount with annotations.
func (c *StaticCluster) AddServiceAccount(namespace, name string, ann map[string]string) {
	c.mu.Lock()
	c.sas[namespace+"/"+name] = ann
	c.mu.Unlock()
}

// SecretProviderClass implements mounter.Cluster.
func (c *StaticCluster) SecretProviderClass(_ context.Context, namespace, name string) (*spc.Class, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.classes[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: spc.Group, Resource: "secretproviderclasses"}, name)
	}
	return cl, nil
}

// ServiceAccountAnnotations implements mounter.Cluster.
func (c *StaticCluster) ServiceAccountAnnotations(_ context.Context, namespace, name string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ann, ok := c.sas[namespace+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, name)
	}
	return ann, nil
}

// Options tune Start.
type Options struct {
	// CacheTTL of the node cache (0: no cache).
	CacheTTL time.Duration
	// Revalidate is the mounter's --revalidate (refreshes check versions with DescribeSecret).
	Revalidate bool
	// NodeIdentity policy (default never).
	NodeIdentity identity.Policy
	// RefreshInterval (default 2m).
	RefreshInterval time.Duration
	// StrictClasses is the mounter's --strict-classes.
	StrictClasses bool
	// SyncSecrets is the mounter's --sync-secrets (through the Cluster: the
	// StaticCluster's Secrets, or a real API server's).
	SyncSecrets bool
	// Now is the clock of the driver and of the node cache.
	Now func() time.Time
	// Mounter replaces the real mounter (nil: real tmpfs mounts).
	Mounter mount.Interface
	// Dir is the working directory (default t.TempDir()).
	Dir string
	// Log receives the driver's logs.
	Log logr.Logger
	// Cluster replaces the StaticCluster (e.g. a mounter.KubeCluster on a real API server).
	Cluster mounter.Cluster
	// Events replaces the fake event recorder.
	Events mounter.EventRecorder
}

// Env is a running mounter with the fake AWS behind it.
type Env struct {
	AWS     *fakeaws.Server
	Issuer  *fakeaws.TokenIssuer
	Cluster *StaticCluster
	Driver  *mounter.Driver
	Events  *record.FakeRecorder
	// Dir holds the plugin dir (Dir/plugin) and targets (Dir/pods): Dir is
	// the driver's kubelet dir (KubeletDir).
	Dir        string
	PluginDir  string
	KubeletDir string
	// Socket is the CSI unix socket; Node and Identity are clients on it.
	Socket   string
	Conn     *grpc.ClientConn
	Node     csi.NodeClient
	Identity csi.IdentityClient

	cfg  mounter.Config
	stop func()
}

// Start starts the fake AWS and a mounter serving on a unix socket in a
// temporary directory. Cleanup unmounts everything under that directory.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	e, err := StartEnv(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// StartEnv is Start without a testing.TB (for tools); call Close.
func StartEnv(o Options) (*Env, error) {
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "mountertest-")
		if err != nil {
			return nil, err
		}
		o.Dir = d
	}
	iss, err := fakeaws.NewTokenIssuer(Issuer)
	if err != nil {
		return nil, err
	}
	srv, err := fakeaws.New(fakeaws.State{
		Region: Region, AccountID: Account,
		Users: []fakeaws.User{{Name: "node", AccessKeyID: NodeKey, SecretAccessKey: NodeSecretKey, Allow: []string{"my-app/*", "other/*"}}},
		Roles: []fakeaws.Role{
			{ARN: RoleApp, Allow: []string{"my-app/*"}},
			{ARN: RoleOther, Allow: []string{"other/*"}},
		},
		Secrets: []fakeaws.Secret{
			{Name: SeedSecret, Value: SeedValue},
			{Name: "other/token", Value: "other-token-value"},
		},
		PodIdentityAssociations: []fakeaws.PodIdentityAssociation{{Namespace: Namespace, ServiceAccount: SAApp, RoleARN: RoleApp}},
	})
	if err != nil {
		return nil, err
	}
	for _, aud := range []string{identity.STSAudience, identity.PodIdentityAudience} {
		if err := srv.TrustIssuer(Issuer, aud, iss.PublicKey()); err != nil {
			return nil, err
		}
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	e := &Env{AWS: srv, Issuer: iss, Cluster: NewStaticCluster(), Dir: o.Dir, PluginDir: filepath.Join(o.Dir, "plugin"),
		KubeletDir: o.Dir, Events: record.NewFakeRecorder(1000)}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	if err := e.Cluster.AddClassYAML(Namespace, SeedClassYAML); err != nil {
		return nil, err
	}
	e.Cluster.AddServiceAccount(Namespace, SAApp, map[string]string{identity.AnnotationRoleARN: RoleApp})
	e.Cluster.AddServiceAccount(Namespace, SAOther, map[string]string{identity.AnnotationRoleARN: RoleOther})
	e.Cluster.AddServiceAccount(Namespace, SAPlain, nil)

	metrics := mounter.NewMetrics(nil)
	base, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(Region), config.WithBaseEndpoint(srv.URL()),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(NodeKey, NodeSecretKey, "")))
	if err != nil {
		return nil, err
	}
	base.APIOptions = append(base.APIOptions, metrics.AWSCallCounter)
	if o.NodeIdentity == "" {
		o.NodeIdentity = identity.NodeNever
	}
	var cluster mounter.Cluster = e.Cluster
	if o.Cluster != nil {
		cluster = o.Cluster
	}
	var events mounter.EventRecorder = e.Events
	if o.Events != nil {
		events = o.Events
	}
	m := o.Mounter
	if m == nil {
		m = mounter.NewSyscallMounter()
	}
	e.cfg = mounter.Config{
		DriverName: mounter.DefaultDriverName, NodeID: "test-node", PluginDir: e.PluginDir, KubeletDir: e.KubeletDir,
		RefreshInterval: o.RefreshInterval, DefaultRegion: Region, StrictClasses: o.StrictClasses,
		SyncSecrets: o.SyncSecrets, Cluster: cluster,
		Pipeline: pipeline.New(identity.NewResolver(base, identity.Options{NodeIdentity: o.NodeIdentity, PodIdentityEndpoint: srv.PodIdentityURL()}),
			awsfetch.New(base, awsfetch.Options{CacheTTL: o.CacheTTL, Revalidate: o.Revalidate, Observer: metrics, MaxAttempts: 2, Now: o.Now})),
		Mounter: m, Events: events, Metrics: metrics, Log: o.Log, Now: o.Now,
	}
	if err := e.serve(); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// serve creates a driver from e.cfg, restores its volumes and serves it.
func (e *Env) serve() error {
	d, err := mounter.NewDriver(e.cfg)
	if err != nil {
		return err
	}
	if err := d.Restore(); err != nil {
		return err
	}
	e.Driver = d
	e.Socket = filepath.Join(e.Dir, "csi.sock")
	lis, err := mounter.ListenUnix(context.Background(), e.Socket)
	if err != nil {
		return err
	}
	gs := d.NewGRPCServer()
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("unix://"+e.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		return err
	}
	e.Conn, e.Node, e.Identity = conn, csi.NewNodeClient(conn), csi.NewIdentityClient(conn)
	e.stop = func() { _ = conn.Close(); gs.Stop() }
	return nil
}

// Restart stops the driver and starts a new one on the same directory, as
// after a crash: the mounts stay, the in-memory state is lost.
func (e *Env) Restart() error {
	e.stop()
	return e.serve()
}

// RestartWith is Restart with the driver's configuration changed by change
// first (a mounter restarted with other flags).
func (e *Env) RestartWith(change func(*mounter.Config)) error {
	change(&e.cfg)
	return e.Restart()
}

// Close stops the mounter and the fake AWS and unmounts and removes everything under Dir.
func (e *Env) Close() {
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
	if e.AWS != nil {
		_ = e.AWS.Close()
	}
	UnmountUnder(e.Dir)
	_ = os.RemoveAll(e.Dir)
}

// UnmountUnder unmounts every mount point below dir, deepest first.
func UnmountUnder(dir string) {
	mnts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return
	}
	sort.Slice(mnts, func(i, j int) bool { return len(mnts[i].Mountpoint) > len(mnts[j].Mountpoint) })
	for _, m := range mnts {
		_ = unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
	}
}

// Token mints a service-account token of ns/sa for audience.
func (e *Env) Token(ns, sa, aud string) string {
	tok, err := e.Issuer.ServiceAccountToken(ns, sa, aud, time.Hour)
	if err != nil {
		panic(err)
	}
	return tok
}

// VolumeContext is what the kubelet sends for pod ns/pod with service account
// sa and the class: pod info plus tokens for both audiences, minted by the
// test issuer.
func (e *Env) VolumeContext(ns, pod, sa, class string) map[string]string {
	toks := map[string]string{}
	for _, aud := range []string{identity.STSAudience, identity.PodIdentityAudience} {
		toks[aud] = e.Token(ns, sa, aud)
	}
	return VolumeContext(ns, pod, sa, class, toks)
}

// VolumeContext builds a kubelet volume context with the given tokens (audience → token).
func VolumeContext(ns, pod, sa, class string, tokens map[string]string) map[string]string {
	toks := map[string]identity.Token{}
	for aud, t := range tokens {
		toks[aud] = identity.Token{Token: t, ExpirationTimestamp: time.Now().Add(time.Hour)}
	}
	b, err := identity.EncodeTokens(toks)
	if err != nil {
		panic(err)
	}
	return map[string]string{
		mounter.CtxPodName: pod, mounter.CtxPodNamespace: ns, mounter.CtxPodUID: PodUID(pod),
		mounter.CtxServiceAccount: sa, mounter.CtxEphemeral: "true", mounter.CtxTokens: b,
		mounter.AttrSecretProviderClass: class,
	}
}

// PodUID is the UID the test pod named pod has (in VolumeContext and Target).
func PodUID(pod string) string { return "uid-" + pod }

// Target returns the target path of a pod's volume, with its parent created (as the kubelet does).
func (e *Env) Target(pod string) string { return KubeletTarget(e.KubeletDir, PodUID(pod), "secrets") }

// KubeletTarget returns the kubelet's target path of a pod's CSI volume,
// <kubeletDir>/pods/<podUID>/volumes/kubernetes.io~csi/<volume>/mount, and
// creates its parent, as the kubelet does before NodePublishVolume.
func KubeletTarget(kubeletDir, podUID, volume string) string {
	p := filepath.Join(kubeletDir, "pods", podUID, "volumes", "kubernetes.io~csi", volume, "mount")
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		panic(err)
	}
	return p
}

// PublishRequest builds the kubelet's NodePublishVolume for pod (service account sa, class).
func (e *Env) PublishRequest(pod, sa, class string) *csi.NodePublishVolumeRequest {
	return &csi.NodePublishVolumeRequest{
		VolumeId:   "csi-" + pod,
		TargetPath: e.Target(pod),
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY},
		},
		Readonly:      true,
		VolumeContext: e.VolumeContext(Namespace, pod, sa, class),
	}
}

// Publish calls NodePublishVolume for pod.
func (e *Env) Publish(ctx context.Context, pod, sa, class string) error {
	_, err := e.Node.NodePublishVolume(ctx, e.PublishRequest(pod, sa, class))
	return err
}

// Unpublish calls NodeUnpublishVolume for pod.
func (e *Env) Unpublish(ctx context.Context, pod string) error {
	_, err := e.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-" + pod, TargetPath: e.Target(pod)})
	return err
}

// SecretCalls is the number of Secrets Manager read calls the fake AWS served.
func (e *Env) SecretCalls() int {
	c := e.AWS.Calls()
	return c.Count("secretsmanager:GetSecretValue", "") + c.Count("secretsmanager:BatchGetSecretValue", "")
}

// STSCalls is the number of AssumeRoleWithWebIdentity calls.
func (e *Env) STSCalls() int { return e.AWS.Calls().Count("sts:AssumeRoleWithWebIdentity", "") }

// DrainEvents returns the events recorded so far ("Warning Reason message").
func (e *Env) DrainEvents() []string {
	var out []string
	for {
		select {
		case ev := <-e.Events.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// HasEvent reports whether an event with reason was recorded (and drains the events).
func (e *Env) HasEvent(reason string) (bool, []string) {
	evs := e.DrainEvents()
	for _, ev := range evs {
		if strings.Contains(ev, " "+reason+" ") {
			return true, evs
		}
	}
	return false, evs
}

// String describes the env for logs.
func (e *Env) String() string {
	return fmt.Sprintf("mounter on %s, fake AWS at %s", e.Socket, e.AWS.URL())
}
