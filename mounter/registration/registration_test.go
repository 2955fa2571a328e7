package registration_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter/registration"
)

// TestKubeletRegistration plays the kubelet's plugin watcher: it finds the
// socket, calls GetInfo and reports the registration status.
func TestKubeletRegistration(t *testing.T) {
	dir, err := os.MkdirTemp("", "reg") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	opts := registration.Options{DriverName: "csi.example.io", Endpoint: "/var/lib/kubelet/plugins/csi.example.io/csi.sock",
		RegistryDir: filepath.Join(dir, "plugins_registry")}
	srv := registration.NewServer(opts, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	sock := filepath.Join(dir, "plugins_registry", "csi.example.io-reg.sock")
	if sock != opts.SocketPath() {
		t.Fatalf("socket path %s", opts.SocketPath())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("registration socket never appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	c := registerapi.NewRegistrationClient(conn)
	info, err := c.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != registerapi.CSIPlugin || info.Name != opts.DriverName || info.Endpoint != opts.Endpoint ||
		len(info.SupportedVersions) != 1 || info.SupportedVersions[0] != "1.0.0" {
		t.Errorf("GetInfo = %+v", info)
	}
	if ok, _ := srv.Registered(); ok {
		t.Error("registered before the kubelet said so")
	}
	if _, err := c.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := srv.Registered(); !ok {
		t.Error("not registered after the kubelet's notification")
	}
	if _, err := c.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: false, Error: "version mismatch"}); err != nil {
		t.Fatal(err)
	}
	if ok, msg := srv.Registered(); ok || msg != "version mismatch" {
		t.Errorf("after refusal: %v %q", ok, msg)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
