//go:build integration

package observe

import (
	"context"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sum adds the values of a counter or gauge family's series whose label
// name has value ("" for all).
func sum(f Families, metric, name, value string) float64 {
	fam, ok := f[metric]
	if !ok {
		return 0
	}
	var n float64
	for _, m := range fam.GetMetric() {
		if name != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == name && l.GetValue() == value
		}) {
			continue
		}
		n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return n
}

// TestQueriesMatchRealMetrics runs the real binary as webhook (called by the
// real API server) and mounter (real tmpfs, the fake AWS), drives a short
// bounded load that makes every series appear (publishes of each outcome,
// refused pods, throttling, rotations, denied admissions), scrapes both
// /metrics pages, and checks every query of the dashboard and every alert
// expression against them: each metric exported, each label there, each
// value selected one that the binaries produce.
func TestQueriesMatchRealMetrics(t *testing.T) {
	s := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := s.Run(ctx, Plan{Ticks: 20, Tick: 2 * time.Second, Volumes: 5, ThrottleAt: 8, ThrottleTicks: 4, RotateEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %s", st)
	wh, ms, err := s.ScrapeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]

	// 1. The load produced what the panels and alerts are about.
	for _, c := range []struct {
		what         string
		f            Families
		metric       string
		label, value string
	}{
		{"mutated admissions", wh, "aws_secrets_injector_webhook_admissions_total", "result", "mutated"},
		{"denied admissions", wh, "aws_secrets_injector_webhook_admissions_total", "result", "denied"},
		{"first publishes", m, "aws_secrets_injector_mounter_publishes_total", "outcome", "mounted"},
		{"refreshes", m, "aws_secrets_injector_mounter_publishes_total", "outcome", "refreshed"},
		{"fresh republishes", m, "aws_secrets_injector_mounter_publishes_total", "outcome", "fresh"},
		{"refused publishes", m, "aws_secrets_injector_mounter_publish_failures_total", "reason", "AccessDenied"},
		{"throttled calls", m, "aws_secrets_injector_mounter_aws_call_failures_total", "reason", "Throttled"},
		{"refresh failures", m, "aws_secrets_injector_mounter_refresh_failures_total", "", ""},
		{"rotations", m, "aws_secrets_injector_mounter_rotations_total", "", ""},
		{"cache hits", m, "aws_secrets_injector_mounter_cache_hits_total", "", ""},
		{"SSM calls", m, "aws_secrets_injector_mounter_aws_calls_total", "service", "SSM"},
		{"Secrets Manager calls", m, "aws_secrets_injector_mounter_aws_calls_total", "service", "Secrets Manager"},
		{"volumes", m, "aws_secrets_injector_mounter_volumes", "", ""},
		{"bytes", m, "aws_secrets_injector_mounter_mounted_bytes", "", ""},
	} {
		if sum(c.f, c.metric, c.label, c.value) <= 0 {
			t.Errorf("the load made no %s (%s{%s=%q})", c.what, c.metric, c.label, c.value)
		}
	}

	// 2. Every query names what the binaries export.
	all := Merge(wh, m)
	d, _, err := LoadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	var exprs []Query
	exprs = append(exprs, d.Queries()...)
	b, err := RenderRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseRules(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			exprs = append(exprs, Query{Panel: "alert " + r.Alert, Expr: r.Expr})
		}
	}
	metrics := map[string]bool{}
	for _, q := range exprs {
		p, err := Parse(Expand(q.Expr, map[string]string{"namespace": ".*"}))
		if err != nil {
			t.Fatalf("%s: %v", q.Panel, err)
		}
		for _, err := range Check(all, p) {
			t.Errorf("%s %s: %v", q.Panel, q.RefID, err)
		}
		for _, s := range p.Selectors {
			metrics[s.Metric] = true
		}
	}
	t.Logf("%d queries name %d metrics, all in the scrape of %d families", len(exprs), len(metrics), len(all))
}
