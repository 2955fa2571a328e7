package objcache

import "github.com/prometheus/client_golang/prometheus"

// NewCollector exports the figures of a role's caches (stats returns them by
// resource), read at each scrape, as <namespace>_<subsystem>_ metrics:
// kube_cache_objects and kube_cache_synced_objects by resource, and
// kube_reads_total by resource and source (cache: answered by a watch; api:
// a GET).
func NewCollector(namespace, subsystem string, stats func() map[string]Stats) prometheus.Collector {
	return &collector{stats: stats,
		objects: prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, "kube_cache_objects"),
			"API objects watched for what this process serves, by resource.", []string{"resource"}, nil),
		synced: prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, "kube_cache_synced_objects"),
			"Watched objects whose watch has listed them, so that reads of them make no API call, by resource.", []string{"resource"}, nil),
		reads: prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, "kube_reads_total"),
			"Reads of API objects, by resource and source: cache (a watch answered) or api (a GET).",
			[]string{"resource", "source"}, nil),
	}
}

type collector struct {
	stats                  func() map[string]Stats
	objects, synced, reads *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.objects
	ch <- c.synced
	ch <- c.reads
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for res, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, float64(s.Watched), res)
		ch <- prometheus.MustNewConstMetric(c.synced, prometheus.GaugeValue, float64(s.Synced), res)
		ch <- prometheus.MustNewConstMetric(c.reads, prometheus.CounterValue, float64(s.CacheReads), res, "cache")
		ch <- prometheus.MustNewConstMetric(c.reads, prometheus.CounterValue, float64(s.APIReads), res, "api")
	}
}
