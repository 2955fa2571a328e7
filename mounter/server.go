package mounter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seed-ddac166a/aws-secrets-injector/version"
)

// IdentityServer is the CSI identity service of a Driver.
type IdentityServer struct {
	csi.UnimplementedIdentityServer
	d *Driver
}

// Identity returns the driver's CSI identity service.
func (d *Driver) Identity() *IdentityServer { return &IdentityServer{d: d} }

// GetPluginInfo reports the driver name and version.
func (s *IdentityServer) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: s.d.cfg.DriverName, VendorVersion: version.Version}, nil
}

// GetPluginCapabilities reports none: a node-only plugin (no controller service, no topology).
func (s *IdentityServer) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil
}

// Probe reports ready: a Driver serves only after Restore.
func (s *IdentityServer) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	s.d.mu.Lock()
	ready := s.d.ready
	s.d.mu.Unlock()
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(ready)}, nil
}

// NewGRPCServer returns a gRPC server with the driver's identity and node
// services and a logging interceptor that never logs secrets.
func (d *Driver) NewGRPCServer() *grpc.Server {
	gs := grpc.NewServer(grpc.UnaryInterceptor(logInterceptor(d.cfg.Log)))
	csi.RegisterIdentityServer(gs, d.Identity())
	csi.RegisterNodeServer(gs, d.Node())
	return gs
}

// logInterceptor logs each call (method, redacted request, duration, code) at
// V(2), and failures at V(0).
func logInterceptor(log logr.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		kv := []any{"method", info.FullMethod, "duration", time.Since(start).String()}
		if err != nil {
			log.Info("gRPC call failed", append(kv, "code", status.Code(err).String(), "request", Redact(req), "error", err.Error())...)
		} else if log.V(2).Enabled() {
			log.V(2).Info("gRPC call", append(kv, "request", Redact(req))...)
		}
		return resp, err
	}
}

// redactedKeys are volume context keys whose values never reach a log.
var redactedKeys = map[string]bool{CtxTokens: true}

// Redact renders a CSI request for logs: the secrets field and the
// service-account tokens in the volume context are replaced by "<redacted>".
func Redact(req any) string {
	m, ok := req.(proto.Message)
	if !ok {
		return fmt.Sprintf("%T", req)
	}
	m = proto.Clone(m)
	type withCtx interface{ GetVolumeContext() map[string]string }
	if r, ok := m.(withCtx); ok {
		for k := range r.GetVolumeContext() {
			if redactedKeys[k] || strings.Contains(strings.ToLower(k), "token") {
				r.GetVolumeContext()[k] = "<redacted>"
			}
		}
	}
	type withSecrets interface{ GetSecrets() map[string]string }
	if r, ok := m.(withSecrets); ok {
		for k := range r.GetSecrets() {
			r.GetSecrets()[k] = "<redacted>"
		}
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Sprintf("%T", req)
	}
	return string(b)
}

// ParseEndpoint turns unix:///path (or a plain path) into a socket path.
func ParseEndpoint(ep string) (string, error) {
	if strings.HasPrefix(ep, "/") {
		return ep, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", fmt.Errorf("parse endpoint %q: %w", ep, err)
	}
	if u.Scheme != "unix" {
		return "", fmt.Errorf("endpoint %q: only unix:// endpoints are supported", ep)
	}
	p := u.Path
	if u.Host != "" {
		p = filepath.Join(u.Host, p)
	}
	if p == "" {
		return "", fmt.Errorf("endpoint %q has no path", ep)
	}
	return p, nil
}

// ListenUnix removes a stale socket at path and listens on it.
func ListenUnix(ctx context.Context, path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return lis, nil
}

// ProbeSocket calls the CSI Probe over the unix socket at path: the health check.
func ProbeSocket(ctx context.Context, path string) error {
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", path, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{})
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if r := resp.GetReady(); r != nil && !r.GetValue() {
		return errors.New("probe: not ready")
	}
	return nil
}
