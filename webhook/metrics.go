package webhook

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook's own Prometheus metrics (controller-runtime adds
// its generic controller_runtime_webhook_* series beside them).
type Metrics struct {
	admissions *prometheus.CounterVec
	latency    prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "aws_secrets_injector",
			Subsystem: "webhook",
			Name:      "admissions_total",
			Help:      "Pod admission requests by result: mutated, skipped, denied or error.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "aws_secrets_injector",
			Subsystem: "webhook",
			Name:      "admission_duration_seconds",
			Help:      "Time to decide on one pod admission request, excluding HTTP and TLS.",
			Buckets:   []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1},
		}),
	}
	if err := reg.Register(m.admissions); err != nil {
		// A second webhook in the same process (tests) shares the series.
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.admissions = are.ExistingCollector.(*prometheus.CounterVec)
	}
	if err := reg.Register(m.latency); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.latency = are.ExistingCollector.(prometheus.Histogram)
	}
	for _, r := range []string{resultMutated, resultSkipped, resultDenied, resultError} {
		m.admissions.WithLabelValues(r)
	}
	return m, nil
}

func (m *Metrics) observe(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.admissions.WithLabelValues(result).Inc()
	m.latency.Observe(d.Seconds())
}
