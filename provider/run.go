package provider

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed-ddac166a/aws-secrets-injector/kube"
	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/region"
)

// Run serves the provider until ctx is done: the driver's API on
// <providers dir>/aws.sock and, when set, /healthz and /metrics.
func Run(ctx context.Context, o *Options) error {
	log := logr.FromContextOrDiscard(ctx).WithName("provider")
	metrics := NewMetrics(nil)

	base, err := loadAWSConfig(ctx, o.Region, o.AWSEndpoint, metrics)
	if err != nil {
		return err
	}
	restCfg, err := kube.Config(o.Kubeconfig)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	restCfg.UserAgent = "aws-secrets-injector-provider"
	sas, err := NewKubeServiceAccounts(restCfg)
	if err != nil {
		return err
	}
	if o.KubeCacheIdle > 0 {
		// Rotation polls read ServiceAccounts from watches (stopped when Run
		// returns, whatever the reason).
		cctx, stopCache := context.WithCancel(logr.NewContext(ctx, log.WithName("kube-cache")))
		defer stopCache()
		sas.StartCache(cctx, objcache.Options{Idle: o.KubeCacheIdle, MaxObjects: o.KubeCacheMaxObjects})
		metrics.ObserveKubeCache(sas.CacheStats)
	}
	// The default region of classes without one: --region (the chart's
	// aws.region) or AWS_REGION, else IMDS when allowed. The node's label,
	// the mounter's second source, needs get nodes: not granted here.
	found := region.Resolve(ctx, region.Fixed("the chart's aws.region (--region, AWS_REGION)", base.Region), imdsRegion(o.RegionFromIMDS, base))
	if found.Region != "" {
		base.Region = found.Region
	} else {
		log.Info("no default AWS region: classes must set parameters.region", "looked", found.Looked)
	}
	policy, _ := identity.ParsePolicy(o.NodeIdentity)
	srv, err := NewServer(Config{
		Pipeline: pipeline.New(identity.NewResolver(base, identity.Options{NodeIdentity: policy, PodIdentityEndpoint: o.PodIdentityEndpoint}),
			awsfetch.New(base, awsfetch.Options{CacheTTL: o.CacheTTL, Revalidate: o.Revalidate, Observer: metrics})),
		ServiceAccounts: sas, DefaultRegion: base.Region, StrictClasses: o.StrictClasses, RegionLooked: found.Looked, FetchTimeout: o.FetchTimeout,
		MaxResponseBytes: o.DriverMaxRecvMsgSize, Metrics: metrics, Log: log,
	})
	if err != nil {
		return err
	}
	sock := o.SocketPath()
	lis, err := Listen(ctx, sock)
	if err != nil {
		return err
	}
	if o.ShadowDir != "" && filepath.Clean(o.ShadowDir) != filepath.Clean(o.ProvidersDir) {
		checkShadow(ctx, log, filepath.Join(o.ShadowDir, SocketName))
	}
	log.Info("starting", "socket", sock, "nodeIdentity", o.NodeIdentity, "region", base.Region, "regionFrom", found.From, "cacheTTL", o.CacheTTL.String(),
		"driverMaxRecvMsgSize", o.DriverMaxRecvMsgSize)

	gs := srv.NewGRPCServer()
	if o.Settled != nil {
		o.Settled()
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := gs.Serve(lis); err != nil {
			return fmt.Errorf("serve %s: %w", sock, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		gs.GracefulStop() // closing the listener removes the socket
		return nil
	})
	if o.HTTPAddress != "" {
		hs := &http.Server{Addr: o.HTTPAddress, Handler: HTTPHandler(sock, metrics), ReadHeaderTimeout: 5 * time.Second,
			BaseContext: func(net.Listener) context.Context { return ctx }}
		g.Go(func() error {
			if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		})
	}
	err = g.Wait()
	log.Info("stopped")
	return err
}

// Listen listens on the unix socket at path, as only the driver (root) may
// dial it. A socket left there is removed first, as ASCP does, when nothing
// answers on it or when it is an older instance of this provider; a live
// provider of another build (ASCP still installed) is an error: both would
// claim aws.sock.
func Listen(ctx context.Context, path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { //nolint:gosec // the providers dir is shared with the driver and other providers
		return nil, fmt.Errorf("create providers dir: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if name, live := probe(ctx, path); live && name != RuntimeName {
			return nil, fmt.Errorf("%s is served by another provider (%q): uninstall it first (ASCP's DaemonSet), "+
				"the driver talks to one aws.sock", path, name)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = lis.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return lis, nil
}

// checkShadow reports an aws.sock in a directory the driver searches before
// ours: whatever it is, the driver dials it instead of us.
func checkShadow(ctx context.Context, log logr.Logger, path string) {
	if _, err := os.Lstat(path); err != nil {
		return
	}
	name, live := probe(ctx, path)
	if live {
		log.Error(nil, "another provider serves aws.sock in a directory the driver searches first: the driver talks to it, not to this provider; uninstall it",
			"socket", path, "runtimeName", name)
		return
	}
	log.Error(nil, "a stale aws.sock in a directory the driver searches first makes the driver's mounts fail: remove it on the node",
		"socket", path)
}

// probe calls Version on the socket at path as the driver's health check
// does, and reports the runtime name of whatever answers.
func probe(ctx context.Context, path string) (runtimeName string, live bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := Version(ctx, path)
	if err != nil {
		return "", false
	}
	return resp.GetRuntimeName(), true
}

// Version dials the provider socket at path and calls Version (the health check).
func Version(ctx context.Context, path string) (*v1alpha1.VersionResponse, error) {
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := v1alpha1.NewCSIDriverProviderClient(conn).Version(ctx, &v1alpha1.VersionRequest{Version: APIVersion})
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	return resp, nil
}

// HTTPHandler serves /healthz (Version over the socket, as the driver's
// health check calls it) and /metrics.
func HTTPHandler(sock string, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if _, err := Version(ctx, sock); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}

// imdsRegion is the instance metadata service as a region source when the
// operator allows it (--region-from-imds).
func imdsRegion(allowed bool, cfg aws.Config) region.Source {
	if !allowed {
		return region.IMDS(nil)
	}
	return region.IMDS(imds.NewFromConfig(cfg))
}

// loadAWSConfig loads the SDK's default configuration (region; the node's
// credentials, used only under --node-identity), applies the region and
// endpoint overrides and counts every AWS call in m.
func loadAWSConfig(ctx context.Context, region, endpoint string, m *Metrics) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	cfg.APIOptions = append(cfg.APIOptions, m.AWSCallCounter)
	return cfg, nil
}
