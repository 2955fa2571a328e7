package mounter

import (
	"context"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
)

// The namespace and subsystem of every mounter metric (aws_secrets_injector_mounter_*).
const metricsNamespace, metricsSubsystem = "aws_secrets_injector", "mounter"

// Metrics are the mounter's Prometheus metrics (namespace aws_secrets_injector_mounter).
// Labels are from fixed small sets; no secret name or value is ever a label.
type Metrics struct {
	// Registry holds every metric below (and the Go/process collectors).
	Registry *prometheus.Registry

	publishes       *prometheus.CounterVec
	failures        *prometheus.CounterVec
	refreshFailures *prometheus.CounterVec
	fetchSeconds    prometheus.Histogram
	awsCalls        *prometheus.CounterVec
	awsFailures     *prometheus.CounterVec
	awsSeconds      *prometheus.HistogramVec
	cacheHits       prometheus.Counter
	cacheMisses     prometheus.Counter
	rotations       prometheus.Counter
	volumes         prometheus.Gauge
	bytesMounted    prometheus.Gauge
}

// NewMetrics registers the metrics in reg (a new registry with the Go and
// process collectors when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		Registry: reg,
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "publishes_total",
			Help: "NodePublishVolume calls that succeeded, by outcome: mounted (first publish), refreshed (re-fetched on republish), fresh (republish within the interval)."},
			[]string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "publish_failures_total",
			Help: "NodePublishVolume calls that failed, by reason."}, []string{"reason"}),
		refreshFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "refresh_failures_total",
			Help: "Refreshes that failed (the old files were kept), by reason."}, []string{"reason"}),
		fetchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "fetch_duration_seconds",
			Help: "Time to fetch and extract one volume's file set (cache hits included).", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}),
		awsCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "aws_calls_total",
			Help: "AWS API operations started, by service and operation."}, []string{"service", "operation"}),
		awsFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "aws_call_failures_total",
			Help: "Secrets Manager and SSM operations that failed after retries, by API and reason."}, []string{"api", "reason"}),
		awsSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "aws_call_duration_seconds",
			Help:    "Secrets Manager and SSM operations, retries included, by API and result (ok, or the failure reason).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}, []string{"api", "result"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "cache_hits_total",
			Help: "Secret values served from the node cache instead of AWS."}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "cache_misses_total",
			Help: "Secret values the node cache did not hold (read from AWS); hits / (hits + misses) is the hit ratio."}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "rotations_total",
			Help: "Refreshes that changed the files of a volume."}),
		volumes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "volumes",
			Help: "Volumes served."}),
		bytesMounted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "mounted_bytes",
			Help: "Bytes of secret files served over all volumes."}),
	}
	reg.MustRegister(m.publishes, m.failures, m.refreshFailures, m.fetchSeconds, m.awsCalls, m.awsFailures, m.awsSeconds,
		m.cacheHits, m.cacheMisses, m.rotations, m.volumes, m.bytesMounted)
	return m
}

// Cache implements awsfetch.Observer: it counts node-cache hits and misses.
func (m *Metrics) Cache(hit bool) {
	if hit {
		m.cacheHits.Inc()
	} else {
		m.cacheMisses.Inc()
	}
}

// AWSCall implements awsfetch.Observer. AWS calls are counted by the SDK
// middleware AWSCallCounter (which also sees STS); this records each
// Secrets Manager and SSM operation's duration by result, and failures by
// reason.
func (m *Metrics) AWSCall(api, _, reason string, d time.Duration) {
	result := "ok"
	if reason != "" {
		m.awsFailures.WithLabelValues(api, reason).Inc()
		result = reason
	}
	m.awsSeconds.WithLabelValues(api, result).Observe(d.Seconds())
}

// AWSCallCounter is an SDK middleware (for aws.Config.APIOptions) counting
// every operation by service and operation name.
func (m *Metrics) AWSCallCounter(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("AWSSecretsInjectorCallCounter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			m.awsCalls.WithLabelValues(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)).Inc()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// ObserveKubeCache exports the API object caches' figures (stats is
// KubeCluster.CacheStats), read at each scrape: kube_cache_objects and
// kube_cache_synced_objects by resource, and kube_reads_total by resource and
// source (cache: answered by a watch; api: a GET).
func (m *Metrics) ObserveKubeCache(stats func() map[string]objcache.Stats) {
	m.Registry.MustRegister(objcache.NewCollector(metricsNamespace, metricsSubsystem, stats))
}
