package provider

import (
	"context"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seed-ddac166a/aws-secrets-injector/kube/objcache"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

const metricsNamespace, metricsSubsystem = "aws_secrets_injector", "provider"

// Metrics are the provider's Prometheus metrics (namespace
// aws_secrets_injector_provider). Labels come from fixed small sets: no
// secret, object, pod or class name is ever a label.
type Metrics struct {
	// Registry holds every metric below (and the Go/process collectors).
	Registry *prometheus.Registry

	mounts       *prometheus.CounterVec
	failures     *prometheus.CounterVec
	mountSeconds prometheus.Histogram
	awsCalls     *prometheus.CounterVec
	awsFailures  *prometheus.CounterVec
	cacheHits    prometheus.Counter
}

// Mount outcomes (label of mounts_total).
const (
	outcomeMounted   = "mounted"   // a first mount: no current versions
	outcomeRotated   = "rotated"   // a rotation whose versions changed
	outcomeUnchanged = "unchanged" // a rotation with the same versions
)

// NewMetrics registers the metrics in reg (a new registry with the Go and
// process collectors when nil). Every failure reason's label exists from the
// start, at zero.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	const ns, sub = metricsNamespace, metricsSubsystem
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		Registry: reg,
		mounts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "mounts_total",
			Help: "Mount calls answered with files, by outcome: mounted (first mount), rotated (versions changed), unchanged (a rotation call, same versions)."},
			[]string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "mount_failures_total",
			Help: "Mount calls that failed, by reason."}, []string{"reason"}),
		mountSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "mount_duration_seconds",
			Help: "Time to answer one Mount call (cache hits included).", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}),
		awsCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "aws_calls_total",
			Help: "AWS API operations started, by service and operation."}, []string{"service", "operation"}),
		awsFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "aws_call_failures_total",
			Help: "Secrets Manager and SSM operations that failed after retries, by API and reason."}, []string{"api", "reason"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "cache_hits_total",
			Help: "Secret values served from the node cache instead of AWS."}),
	}
	reg.MustRegister(m.mounts, m.failures, m.mountSeconds, m.awsCalls, m.awsFailures, m.cacheHits)
	for _, r := range reason.All {
		m.failures.WithLabelValues(string(r))
	}
	return m
}

// ObserveKubeCache exports the ServiceAccount cache's figures (stats is
// KubeServiceAccounts.CacheStats), read at each scrape: kube_cache_objects,
// kube_cache_synced_objects and kube_reads_total, as the mounter's.
func (m *Metrics) ObserveKubeCache(stats func() map[string]objcache.Stats) {
	m.Registry.MustRegister(objcache.NewCollector(metricsNamespace, metricsSubsystem, stats))
}

// Cache implements awsfetch.Observer: it counts node-cache hits.
func (m *Metrics) Cache(hit bool) {
	if hit {
		m.cacheHits.Inc()
	}
}

// AWSCall implements awsfetch.Observer: failures by reason (every call is
// counted by AWSCallCounter, which also sees STS).
func (m *Metrics) AWSCall(api, _, reason string, _ time.Duration) {
	if reason != "" {
		m.awsFailures.WithLabelValues(api, reason).Inc()
	}
}

// AWSCallCounter is an SDK middleware (for aws.Config.APIOptions) counting
// every operation by service and operation name.
func (m *Metrics) AWSCallCounter(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("AWSSecretsInjectorProviderCallCounter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			m.awsCalls.WithLabelValues(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)).Inc()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}
