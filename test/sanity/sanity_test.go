//go:build integration

// Package sanity runs the csi-test v5 sanity suite (pkg/sanity) against the
// real mounter: its gRPC server on a unix socket, real tmpfs mounts (root),
// the fake AWS behind it, and the user's example SecretProviderClass.
//
// The mounter is a node-only plugin for inline ephemeral volumes: there is no
// controller, the kubelet invents the volume ID and passes the pod's info and
// tokens in the volume context. To let the suite's node tests publish real
// volumes, this package serves a stand-in controller on a second socket
// (sanity's ControllerAddress) whose CreateVolume only hands out a volume ID
// and the volume context the kubelet would send for a pod of the my-app
// service account. A client interceptor plays the kubelet's part: it sets
// readonly on NodePublishVolume, as the kubelet does for a `readOnly: true`
// CSI volume (the mounter refuses read-write publishes), and moves the
// suite's target paths (<TargetPath>/target) to where the kubelet puts a
// pod's CSI volume, <kubelet-dir>/pods/<pod-uid>/volumes/kubernetes.io~csi/<volume>/mount,
// creating the volume's directory as the kubelet does: the mounter mounts
// nowhere else. The suite's CheckPath looks at the moved path. The suite's
// controller specs ("[Controller Server]") test controllers, not node
// plugins, and are skipped; every other spec runs.
package sanity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
	"github.com/seed-ddac166a/aws-secrets-injector/test/mountertest"
)

// volumeController is the stand-in controller: CreateVolume returns the
// volume context the kubelet would send for an inline volume.
type volumeController struct {
	csi.UnimplementedControllerServer
	env *mountertest.Env

	mu      sync.Mutex
	created map[string]string // name → volume ID
}

func (c *volumeController) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: []*csi.ControllerServiceCapability{{
		Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME}},
	}}}, nil
}

func (c *volumeController) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.created[req.GetName()]
	if !ok {
		id = "csi-" + strings.ReplaceAll(req.GetName(), "_", "-")
		c.created[req.GetName()] = id
	}
	pod := strings.ToLower(req.GetName())
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      id,
		CapacityBytes: req.GetCapacityRange().GetRequiredBytes(),
		VolumeContext: c.env.VolumeContext(mountertest.Namespace, pod, mountertest.SAApp, mountertest.SeedClass),
	}}, nil
}

func (c *volumeController) DeleteVolume(context.Context, *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	return &csi.DeleteVolumeResponse{}, nil
}

// kubelet rewrites the suite's node requests the way the kubelet sends them.
type kubelet struct {
	dir string // the mounter's --kubelet-dir

	mu sync.Mutex
	// moved maps (volume ID, suite path) to the kubelet path it was published
	// at; last maps a suite path to the kubelet path of its latest publish.
	moved     map[[2]string]string
	last      map[string]string
	published int
}

// interceptor sets readonly on NodePublishVolume, as the kubelet does for a
// csi volume with readOnly: true, and moves target paths (see the package doc).
func (k *kubelet) interceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	switch r := req.(type) {
	case *csi.NodePublishVolumeRequest:
		r.Readonly = true
		if r.TargetPath != "" {
			r.TargetPath = k.publishAt(r.VolumeId, r.TargetPath, r.GetVolumeContext()[mounter.CtxPodUID])
		}
	case *csi.NodeUnpublishVolumeRequest:
		if p, ok := k.lookup(r.VolumeId, r.TargetPath); ok {
			r.TargetPath = p
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// publishAt returns the kubelet's target for the suite's path of a volume of
// pod uid (a stand-in UID when the request carries none) and creates its
// parent, the volume's directory.
func (k *kubelet) publishAt(volumeID, suitePath, uid string) string {
	if uid == "" {
		uid = "sanity-no-pod"
	}
	volume := strings.ReplaceAll(filepath.Base(suitePath), "_", "-") // "target", "other-target"
	p := mountertest.KubeletTarget(k.dir, uid, volume)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.moved[[2]string{volumeID, suitePath}] = p
	k.last[suitePath] = p
	k.published++
	return p
}

// lookup returns where the kubelet published volumeID's suite path (or, for
// a volume never published there, the path's latest publish).
func (k *kubelet) lookup(volumeID, suitePath string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p, ok := k.moved[[2]string{volumeID, suitePath}]; ok {
		return p, true
	}
	p, ok := k.last[suitePath]
	return p, ok
}

// checkPath is the suite's CheckPath on the moved path.
func (k *kubelet) checkPath(p string) (sanity.PathKind, error) {
	if moved, ok := k.lookup("", p); ok {
		p = moved
	}
	fi, err := os.Stat(p)
	switch {
	case os.IsNotExist(err):
		return sanity.PathIsNotFound, nil
	case err != nil:
		return "", err
	case fi.IsDir():
		return sanity.PathIsDir, nil
	case fi.Mode().IsRegular():
		return sanity.PathIsFile, nil
	}
	return sanity.PathIsOther, nil
}

func TestSanity(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the sanity suite mounts tmpfs for real and needs root; CI runs as root")
		}
		t.Skip("needs root to mount tmpfs (run `sudo make sanity`)")
	}
	env := mountertest.Start(t, mountertest.Options{CacheTTL: time.Minute})

	ctrlSock := filepath.Join(env.Dir, "controller.sock")
	lis, err := mounter.ListenUnix(context.Background(), ctrlSock)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := &volumeController{env: env, created: map[string]string{}}
	gs := grpc.NewServer()
	csi.RegisterControllerServer(gs, ctrl)
	// The suite also asks the controller socket for the identity service: the mounter's own.
	csi.RegisterIdentityServer(gs, env.Driver.Identity())
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	cfg := sanity.NewTestConfig()
	cfg.Address = env.Socket
	cfg.ControllerAddress = ctrlSock
	cfg.TargetPath = filepath.Join(env.Dir, "sanity-target")
	cfg.StagingPath = filepath.Join(env.Dir, "sanity-staging")
	kl := &kubelet{dir: env.KubeletDir, moved: map[[2]string]string{}, last: map[string]string{}}
	cfg.DialOptions = append(cfg.DialOptions, grpc.WithUnaryInterceptor(kl.interceptor))
	cfg.CheckPath = kl.checkPath
	cfg.ControllerDialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	cfg.IdempotentCount = 3

	sanity.GinkgoTest(&cfg)
	gomega.RegisterFailHandler(ginkgo.Fail)
	suite, reporter := ginkgo.GinkgoConfiguration()
	suite.SkipStrings = append(suite.SkipStrings, `\[Controller Server\]`) // a regular expression
	suite.Timeout = 5 * time.Minute
	reporter.Verbose = testing.Verbose()
	if !ginkgo.RunSpecs(t, "CSI sanity: aws-secrets-injector mounter", suite, reporter) {
		return
	}

	// The suite must have exercised a real publish: the node service's "should
	// remove target path" spec publishes the seed class and unpublishes it.
	calls := env.SecretCalls()
	if calls == 0 {
		t.Errorf("the suite never fetched a secret: no real publish ran")
	}
	if n := env.Driver.Volumes(); n != 0 {
		t.Errorf("%d volumes still served after the suite", n)
	}
	if kl.published == 0 {
		t.Errorf("no publish went through the kubelet's layout")
	}
	// Every target the suite published at is gone (the spec checks one).
	for _, p := range kl.last {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("target %s left after the suite: %v", p, err)
		}
	}
	// Without the kubelet's layout the mounter publishes nothing: the suite's
	// own path is refused before any work.
	ctx := context.Background()
	vol, err := ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "raw-path"})
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(cfg.TargetPath, "target")
	_, err = env.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: vol.Volume.VolumeId, TargetPath: raw, Readonly: true, VolumeContext: vol.Volume.VolumeContext,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY}},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("publish at the suite's own path %s: %v, want InvalidArgument", raw, err)
	}
	t.Logf("sanity: %d Secrets Manager calls, %s", calls, fmt.Sprint(env.AWS.Calls().ByAPI))
}
