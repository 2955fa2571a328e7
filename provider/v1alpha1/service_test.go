package v1alpha1_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
)

// echoServer is a stub CSIDriverProvider that sends back what it was given,
// so a round trip shows every field crossing the wire. It is no provider: it
// fetches nothing.
type echoServer struct {
	v1alpha1.UnimplementedCSIDriverProviderServer
	// big, when set, makes Mount return one file of this many bytes.
	big int
}

// authority is the :authority the client sent, as the server saw it.
func authority(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(":authority"); len(v) == 1 {
		return v[0]
	}
	return "<none>"
}

func (echoServer) Version(ctx context.Context, req *v1alpha1.VersionRequest) (*v1alpha1.VersionResponse, error) {
	return &v1alpha1.VersionResponse{
		Version:        req.GetVersion(),
		RuntimeName:    "echo",
		RuntimeVersion: authority(ctx),
	}, nil
}

// Mount answers with one file named by the "file" attribute, holding the
// secrets JSON, with the mode the permission field encodes; it returns each
// current object version with "+1" appended, and reports the authority it saw
// as the error code (a stub's shortcut: a real provider sets no code on
// success).
func (s echoServer) Mount(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, error) {
	var attrs map[string]string
	if err := json.Unmarshal([]byte(req.GetAttributes()), &attrs); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "attributes: %v", err)
	}
	var mode os.FileMode
	if err := json.Unmarshal([]byte(req.GetPermission()), &mode); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "permission: %v", err)
	}
	resp := &v1alpha1.MountResponse{
		Error: &v1alpha1.Error{Code: authority(ctx)},
		Files: []*v1alpha1.File{{
			Path:     filepath.Join(attrs["file"], filepath.Base(req.GetTargetPath())),
			Mode:     int32(mode),
			Contents: []byte(req.GetSecrets()),
		}},
	}
	for _, ov := range req.GetCurrentObjectVersion() {
		resp.ObjectVersion = append(resp.ObjectVersion, &v1alpha1.ObjectVersion{Id: ov.GetId(), Version: ov.GetVersion() + "+1"})
	}
	if s.big > 0 {
		resp.Files = []*v1alpha1.File{{Path: "big", Mode: 0o444, Contents: make([]byte, s.big)}}
	}
	return resp, nil
}

// serve starts srv on a unix socket named provider.SocketName in a fresh directory, the
// way a provider listens in the providers directory, and returns the socket's
// path. The server stops when the test ends.
func serve(t *testing.T, srv v1alpha1.CSIDriverProviderServer) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), provider.SocketName)
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", sock)
	if err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	gs := grpc.NewServer()
	v1alpha1.RegisterCSIDriverProviderServer(gs, srv)
	done := make(chan error, 1)
	go func() { done <- gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return sock
}

// driverServiceConfig is the retry policy the driver (v1.6,
// pkg/secrets-store/provider_client.go) sets on its provider connections:
// calls wait for the socket and retry UNAVAILABLE up to three times.
const driverServiceConfig = `{"methodConfig": [{
  "name": [{"service": "v1alpha1.CSIDriverProvider"}],
  "waitForReady": true,
  "retryPolicy": {"MaxAttempts": 3, "InitialBackoff": "1s", "MaxBackoff": "10s",
    "BackoffMultiplier": 1.1, "RetryableStatusCodes": ["UNAVAILABLE"]}}]}`

// dialUnix connects to the socket whatever address gRPC hands it.
func dialUnix(sock string) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	})
}

// dialShapes are the two ways a client reaches a provider: exactly as the
// v1.6 driver does (the socket path as a passthrough target, so the path
// itself goes out as :authority; grpc-go 1.85 percent-encodes its slashes),
// and as the kubelet dials its plugins (authority "localhost"), which is what
// the driver would send once it overrides the authority
// (kubernetes-sigs/secrets-store-csi-driver#1862). A grpc-go server accepts
// both; the provider must never depend on the authority.
var dialShapes = []struct {
	name      string
	opts      func(sock string) []grpc.DialOption
	authority func(sock string) string
}{
	{
		name: "driver v1.6",
		opts: func(sock string) []grpc.DialOption {
			return []grpc.DialOption{
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(provider.DriverMaxRecvMsgSize)),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				dialUnix(sock),
				grpc.WithDefaultServiceConfig(driverServiceConfig),
			}
		},
		authority: func(sock string) string { return strings.ReplaceAll(sock, "/", "%2F") },
	},
	{
		name: "authority localhost",
		opts: func(sock string) []grpc.DialOption {
			return []grpc.DialOption{
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(provider.DriverMaxRecvMsgSize)),
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithAuthority("localhost"),
				dialUnix(sock),
				grpc.WithDefaultServiceConfig(driverServiceConfig),
			}
		},
		authority: func(string) string { return "localhost" },
	},
}

// connect dials sock with one dial shape. The driver's grpc.Dial(path)
// resolves through passthrough; grpc.NewClient needs the scheme spelled out
// to do the same.
func connect(t *testing.T, sock string, opts []grpc.DialOption) v1alpha1.CSIDriverProviderClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+sock, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", sock, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return v1alpha1.NewCSIDriverProviderClient(conn)
}

func TestRoundTrip(t *testing.T) {
	sock := serve(t, echoServer{})
	for _, shape := range dialShapes {
		t.Run(shape.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := connect(t, sock, shape.opts(sock))
			wantAuthority := shape.authority(sock)

			ver, err := client.Version(ctx, &v1alpha1.VersionRequest{Version: provider.APIVersion})
			if err != nil {
				t.Fatalf("Version: %v", err)
			}
			if ver.GetVersion() != "v1alpha1" || ver.GetRuntimeName() != "echo" || ver.GetRuntimeVersion() != wantAuthority {
				t.Errorf("Version = (%q, %q, %q), want (v1alpha1, echo, %q)",
					ver.GetVersion(), ver.GetRuntimeName(), ver.GetRuntimeVersion(), wantAuthority)
			}

			// The request the driver builds: attributes and secrets as JSON
			// objects, the permission as the JSON of os.FileMode(0644).
			perm, err := json.Marshal(os.FileMode(0o644))
			if err != nil {
				t.Fatal(err)
			}
			if string(perm) != provider.DriverPermission {
				t.Fatalf("permission encodes as %s, want %s", perm, provider.DriverPermission)
			}
			req := &v1alpha1.MountRequest{
				Attributes: `{"file":"dir","csi.storage.k8s.io/pod.name":"p"}`,
				Secrets:    `{"key":"s3cr3t"}`,
				TargetPath: "/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/vol/mount",
				Permission: string(perm),
				CurrentObjectVersion: []*v1alpha1.ObjectVersion{
					{Id: "db-password", Version: "v1"},
					{Id: "api/key", Version: "7"},
				},
			}
			resp, err := client.Mount(ctx, req)
			if err != nil {
				t.Fatalf("Mount: %v", err)
			}
			if got := resp.GetError().GetCode(); got != wantAuthority {
				t.Errorf("server saw :authority %q, want %q", got, wantAuthority)
			}
			if n := len(resp.GetFiles()); n != 1 {
				t.Fatalf("got %d files, want 1", n)
			}
			f := resp.GetFiles()[0]
			if f.GetPath() != "dir/mount" || f.GetMode() != 0o644 || string(f.GetContents()) != req.GetSecrets() {
				t.Errorf("file = (%q, %o, %q), want (dir/mount, 644, %q)", f.GetPath(), f.GetMode(), f.GetContents(), req.GetSecrets())
			}
			var got []string
			for _, ov := range resp.GetObjectVersion() {
				got = append(got, ov.GetId()+"="+ov.GetVersion())
			}
			if want := "db-password=v1+1 api/key=7+1"; strings.Join(got, " ") != want {
				t.Errorf("object versions = %q, want %q", strings.Join(got, " "), want)
			}
		})
	}
}

// TestDriverReceiveLimit: a response over the driver's 4 MiB receive limit
// fails on the driver's side with RESOURCE_EXHAUSTED, and one just under it
// arrives. The provider must keep a response (files and all) under the limit.
func TestDriverReceiveLimit(t *testing.T) {
	shape := dialShapes[0]
	for _, tc := range []struct {
		name string
		size int
		want codes.Code
	}{
		{"just under", provider.DriverMaxRecvMsgSize - 1024, codes.OK},
		{"over", provider.DriverMaxRecvMsgSize + 1, codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := serve(t, echoServer{big: tc.size})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := connect(t, sock, shape.opts(sock))
			_, err := client.Mount(ctx, &v1alpha1.MountRequest{Attributes: "{}", Permission: provider.DriverPermission})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Mount of a %d-byte file: code %v (%v), want %v", tc.size, got, err, tc.want)
			}
		})
	}
}
