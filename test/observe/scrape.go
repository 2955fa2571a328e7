package observe

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TargetLabels are the labels Prometheus (and the chart's ServiceMonitors)
// put on every series of a target: no binary exports them, so a query may
// match or group by them freely.
var TargetLabels = []string{"namespace", "pod", "node", "instance", "job", "service", "endpoint", "container"}

// Families is a scrape: metric families by name.
type Families map[string]*dto.MetricFamily

// Scrape reads the /metrics page at url.
func Scrape(ctx context.Context, url string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return ParseFamilies(io.LimitReader(resp.Body, 16<<20))
}

// ParseFamilies reads the Prometheus text format.
func ParseFamilies(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	f, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return f, nil
}

// Merge returns the union of scrapes (the mounter's and the webhook's).
func Merge(all ...Families) Families {
	out := Families{}
	for _, f := range all {
		maps.Copy(out, f)
	}
	return out
}

// Family returns the family a query's metric name reads: the family of that
// name, or the histogram or summary whose _bucket, _sum or _count it is.
// Bucket tells whether the name is a histogram's _bucket (which has le).
func (f Families) Family(name string) (fam *dto.MetricFamily, bucket bool) {
	if fam, ok := f[name]; ok {
		return fam, false
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		fam, ok := f[base]
		if !ok {
			continue
		}
		switch fam.GetType() {
		case dto.MetricType_HISTOGRAM:
			return fam, suffix == "_bucket"
		case dto.MetricType_SUMMARY:
			if suffix != "_bucket" {
				return fam, false
			}
		}
	}
	return nil, false
}

// LabelNames returns the label names a family's series carry.
func LabelNames(fam *dto.MetricFamily) []string {
	set := map[string]bool{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// LabelValues returns the values of label name over a family's series.
func LabelValues(fam *dto.MetricFamily, name string) []string {
	set := map[string]bool{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				set[l.GetValue()] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Names returns the family names, sorted.
func (f Families) Names() []string { return slices.Sorted(maps.Keys(f)) }
