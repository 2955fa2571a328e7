package mounter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/seed-ddac166a/aws-secrets-injector/kube"
	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/mounter/registration"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/awsfetch"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/identity"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/pipeline"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/region"
)

// Run serves the mounter until ctx is done: the CSI socket, the kubelet
// registration socket and the health/metrics endpoint.
func Run(ctx context.Context, o *Options) error {
	log := logr.FromContextOrDiscard(ctx).WithName("mounter")
	defer leanGC()()
	metrics := NewMetrics(nil)

	base, err := LoadAWSConfig(ctx, o.Region, o.AWSEndpoint, metrics)
	if err != nil {
		return err
	}
	restCfg, err := kube.Config(o.Kubeconfig)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	restCfg.UserAgent = "aws-secrets-injector-mounter"
	cluster, err := NewKubeCluster(restCfg)
	if err != nil {
		return err
	}
	if o.KubeCacheIdle > 0 {
		// Refreshes read classes and ServiceAccounts from watches (stopped
		// when Run returns, whatever the reason).
		cctx, stopCache := context.WithCancel(logr.NewContext(ctx, log.WithName("kube-cache")))
		defer stopCache()
		cluster.StartCache(cctx, objcache.Options{Idle: o.KubeCacheIdle, MaxObjects: o.KubeCacheMaxObjects})
		metrics.ObserveKubeCache(cluster.CacheStats)
	}
	events, stopEvents := cluster.NewEventRecorder(o.NodeName)
	defer stopEvents()

	// The default region of classes without one: the chart's aws.region (or
	// AWS_REGION), else this node's topology.kubernetes.io/region label (what
	// EKS sets, and what AWS's provider reads), else IMDS when allowed.
	found := region.Resolve(ctx, region.Fixed("the chart's aws.region (--region, AWS_REGION)", base.Region),
		cluster.NodeRegion(o.NodeName), imdsRegion(o.RegionFromIMDS, base))
	if found.Region != "" {
		base.Region = found.Region
	} else {
		log.Info("no default AWS region: classes must set parameters.region", "looked", found.Looked)
	}
	policy, _ := identity.ParsePolicy(o.NodeIdentity)
	fetcher := awsfetch.New(base, awsfetch.Options{CacheTTL: o.CacheTTL, Revalidate: o.Revalidate, Observer: metrics})
	d, err := NewDriver(Config{
		DriverName: o.DriverName, NodeID: o.NodeName, PluginDir: o.PluginDir, KubeletDir: o.KubeletDir,
		TmpfsSize: o.tmpfsBytes, RefreshInterval: o.RefreshInterval, DefaultRegion: base.Region, RegionLooked: found.Looked,
		StrictClasses: o.StrictClasses,
		SyncSecrets:   o.SyncSecrets,
		FetchTimeout:  o.FetchTimeout,
		Cluster:       cluster,
		Pipeline: pipeline.New(identity.NewResolver(base, identity.Options{NodeIdentity: policy, PodIdentityEndpoint: o.PodIdentityEndpoint}),
			fetcher),
		Mounter: NewSyscallMounter(),
		Events:  events,
		Metrics: metrics,
		Log:     log,
	})
	if err != nil {
		return err
	}
	if err := d.Restore(); err != nil {
		return err
	}
	log.Info("starting", "driver", o.DriverName, "node", o.NodeName, "endpoint", o.Endpoint, "pluginDir", o.PluginDir,
		"nodeIdentity", o.NodeIdentity, "syncSecrets", o.SyncSecrets, "region", base.Region, "regionFrom", found.From, "restoredVolumes", d.Volumes(),
		"kubeCacheIdle", o.KubeCacheIdle)

	sock, _ := ParseEndpoint(o.Endpoint)
	lis, err := ListenUnix(ctx, sock)
	if err != nil {
		return err
	}
	gs := d.NewGRPCServer()
	if o.Settled != nil {
		o.Settled()
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := gs.Serve(lis); err != nil {
			return fmt.Errorf("serve CSI: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		gs.GracefulStop()
		return nil
	})
	if o.Register {
		reg := registration.NewServer(registration.Options{
			DriverName: o.DriverName, Endpoint: o.RegistrationEndpoint,
			RegistryDir: o.KubeletDir + "/plugins_registry",
		}, log)
		g.Go(func() error { return reg.Serve(ctx) })
	}
	if o.HTTPAddress != "" {
		srv := &http.Server{Addr: o.HTTPAddress, Handler: HTTPHandler(sock, metrics, d), ReadHeaderTimeout: 5 * time.Second,
			BaseContext: func(net.Listener) context.Context { return ctx }}
		g.Go(func() error {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	err = g.Wait()
	log.Info("stopped", "volumes", d.Volumes())
	return err
}

// HTTPHandler serves /healthz (a CSI Probe over the socket), /metrics and,
// when d is not nil, /status/pods/{uid} (StatusHandler).
func HTTPHandler(sock string, m *Metrics, d *Driver) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ProbeSocket(ctx, sock); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	if d != nil {
		mux.Handle("GET /status/pods/{uid}", StatusHandler(d))
	}
	return mux
}

// LoadAWSConfig loads the SDK's default configuration (region and node
// credentials from the environment/IMDS), applies the region and endpoint
// overrides and counts every AWS call in m.
func LoadAWSConfig(ctx context.Context, region, endpoint string, m *Metrics) (aws.Config, error) {
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
	if m != nil {
		cfg.APIOptions = append(cfg.APIOptions, m.AWSCallCounter)
	}
	return cfg, nil
}

// imdsRegion is the instance metadata service as a region source when the
// operator allows it (--region-from-imds).
func imdsRegion(allowed bool, cfg aws.Config) region.Source {
	if !allowed {
		return region.IMDS(nil)
	}
	return region.IMDS(imds.NewFromConfig(cfg))
}
