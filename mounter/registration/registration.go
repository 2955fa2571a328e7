// Package registration registers the mounter with the kubelet through the
// kubelet's plugin-registration API (k8s.io/kubelet pluginregistration v1),
// the job the node-driver-registrar sidecar does elsewhere: it serves GetInfo
// and NotifyRegistrationStatus on <kubelet-dir>/plugins_registry/<driver>-reg.sock.
// The kubelet's plugin watcher finds the socket, asks for the driver name and
// the CSI endpoint, and then talks CSI to that endpoint.
package registration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// SupportedVersions are the CSI versions announced to the kubelet.
var SupportedVersions = []string{"1.0.0"}

// Options configure the registration server.
type Options struct {
	// DriverName is the CSI driver name (the CSIDriver object's name).
	DriverName string
	// Endpoint is the CSI socket's path as the kubelet sees it on the host.
	Endpoint string
	// RegistryDir is the kubelet's plugins_registry directory.
	RegistryDir string
}

// SocketPath is where the registration socket for opts lives.
func (o Options) SocketPath() string {
	return filepath.Join(o.RegistryDir, o.DriverName+"-reg.sock")
}

// Server answers the kubelet's registration calls.
type Server struct {
	registerapi.UnimplementedRegistrationServer
	opts Options
	log  logr.Logger

	mu         sync.Mutex
	registered bool
	lastErr    string
}

// NewServer returns a registration server for opts.
func NewServer(opts Options, log logr.Logger) *Server {
	return &Server{opts: opts, log: log}
}

// GetInfo tells the kubelet the plugin type, name, endpoint and versions.
func (s *Server) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.opts.DriverName,
		Endpoint:          s.opts.Endpoint,
		SupportedVersions: SupportedVersions,
	}, nil
}

// NotifyRegistrationStatus records whether the kubelet accepted the plugin.
func (s *Server) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	s.mu.Lock()
	s.registered = st.GetPluginRegistered()
	s.lastErr = st.GetError()
	s.mu.Unlock()
	if st.GetPluginRegistered() {
		s.log.Info("registered with the kubelet", "driver", s.opts.DriverName, "endpoint", s.opts.Endpoint)
	} else {
		s.log.Error(errors.New(st.GetError()), "the kubelet refused the registration", "driver", s.opts.DriverName)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Registered reports whether the kubelet last said the plugin is registered,
// and the kubelet's error otherwise.
func (s *Server) Registered() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registered, s.lastErr
}

// Serve listens on the registration socket until ctx is done, then removes it.
func (s *Server) Serve(ctx context.Context) error {
	path := s.opts.SocketPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create registration dir: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale registration socket: %w", err)
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("listen on registration socket %s: %w", path, err)
	}
	gs := grpc.NewServer()
	registerapi.RegisterRegistrationServer(gs, s)
	s.log.Info("serving kubelet plugin registration", "socket", path)
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	select {
	case <-ctx.Done():
		gs.GracefulStop()
		err = <-errc
	case err = <-errc:
	}
	_ = os.Remove(path)
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve registration: %w", err)
	}
	return nil
}
