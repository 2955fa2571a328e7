package observe

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// alertNames are the alerts the chart ships, in order.
var alertNames = []string{
	"AWSSecretsInjectorPublishesFailing", "AWSSecretsInjectorRefreshFailing", "AWSSecretsInjectorAWSThrottled",
	"AWSSecretsInjectorWebhookErrors", "AWSSecretsInjectorWebhookSlow", "AWSSecretsInjectorWebhookCertificateExpiring",
}

func renderRules(t *testing.T, values map[string]any) []rulefmt.Rule {
	t.Helper()
	b, err := RenderRules(values)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseRules(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var out []rulefmt.Rule
	for _, grp := range g.Groups {
		out = append(out, grp.Rules...)
	}
	return out
}

func alertsOf(rules []rulefmt.Rule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Alert)
	}
	return out
}

// readmeAnchors are the GitHub anchors of the chart README's headings.
func readmeAnchors(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ChartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		if h, ok := strings.CutPrefix(l, "#"); ok {
			h = strings.ToLower(strings.TrimSpace(strings.TrimLeft(h, "#")))
			h = regexp.MustCompile(`[^a-z0-9 _-]`).ReplaceAllString(h, "")
			out = append(out, strings.ReplaceAll(h, " ", "-"))
		}
	}
	return out
}

// TestRulesParse: the rendered PrometheusRule is a rules file Prometheus's
// own loader accepts (expressions and templates checked); each alert has a
// severity, a summary, a description and a runbook_url pointing at its
// runbook section in the chart README, reads only this project's metrics and
// names only reasons of the one vocabulary.
func TestRulesParse(t *testing.T) {
	rules := renderRules(t, nil)
	if got := alertsOf(rules); !slices.Equal(got, alertNames) {
		t.Fatalf("alerts %v, want %v", got, alertNames)
	}
	anchors := readmeAnchors(t)
	for _, r := range rules {
		if r.For <= 0 {
			t.Errorf("%s: no for", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s", r.Alert, a)
			}
		}
		base, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
		if base != "https://github.com/seed-ddac166a/aws-secrets-injector/blob/main/charts/aws-secrets-injector/README.md" ||
			anchor != strings.ToLower(r.Alert) || !slices.Contains(anchors, anchor) {
			t.Errorf("%s: runbook_url %s has no section in the chart README", r.Alert, r.Annotations["runbook_url"])
		}
		p, err := Parse(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", r.Alert, err)
		}
		for _, s := range p.Selectors {
			if !strings.HasPrefix(s.Metric, "aws_secrets_injector_") {
				t.Errorf("%s reads %s", r.Alert, s.Metric)
			}
			checkReasons(t, r.Alert, s)
		}
	}
}

// TestRulesFollowRefreshInterval: the refresh alert's window and for follow
// mounter.refreshInterval: two intervals, never less than the window plus a
// minute (one failure alone never fires), the window at least 3m (a
// republish a minute always lands in it).
func TestRulesFollowRefreshInterval(t *testing.T) {
	for _, tc := range []struct {
		interval      string
		window, after string
	}{
		{"5s", "180s", "4m"},
		{"2m", "180s", "4m"},
		{"90s", "180s", "4m"},
		{"10m", "900s", "20m"},
		{"1h30m", "8100s", "3h"},
		{"2.5m", "225s", "5m"},
	} {
		t.Run(tc.interval, func(t *testing.T) {
			rules := renderRules(t, map[string]any{"mounter": map[string]any{"refreshInterval": tc.interval}})
			r := rules[slices.Index(alertsOf(rules), "AWSSecretsInjectorRefreshFailing")]
			if !strings.Contains(r.Expr, "["+tc.window+"]") {
				t.Errorf("expr %s, want window %s", r.Expr, tc.window)
			}
			if model.Duration(r.For).String() != tc.after {
				t.Errorf("for %s, want %s", model.Duration(r.For), tc.after)
			}
			if !strings.Contains(r.Annotations["description"], "("+tc.interval+" each)") {
				t.Errorf("description does not name the interval: %s", r.Annotations["description"])
			}
		})
	}
}

// TestRulesValues: alertLabels reach every alert, the latency threshold its
// alert, and without the mounter only the webhook's alerts remain.
func TestRulesValues(t *testing.T) {
	rules := renderRules(t, map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{
		"alertLabels": map[string]any{"team": "platform"}, "webhookLatencySeconds": 2.5, "certificateExpiryDays": 30}}})
	for _, r := range rules {
		if r.Labels["team"] != "platform" || r.Labels["severity"] == "" {
			t.Errorf("%s labels %v", r.Alert, r.Labels)
		}
		if r.Alert == "AWSSecretsInjectorWebhookSlow" && !strings.HasSuffix(r.Expr, "> 2.5") {
			t.Errorf("threshold not in %s", r.Expr)
		}
		if r.Alert == "AWSSecretsInjectorWebhookCertificateExpiring" && !strings.HasSuffix(r.Expr, "< 30 * 86400") {
			t.Errorf("certificateExpiryDays not in %s", r.Expr)
		}
	}
	rules = renderRules(t, map[string]any{"mounter": map[string]any{"enabled": false}})
	if got := alertsOf(rules); !slices.Equal(got, []string{"AWSSecretsInjectorWebhookErrors", "AWSSecretsInjectorWebhookSlow", "AWSSecretsInjectorWebhookCertificateExpiring"}) {
		t.Errorf("without the mounter: %v", got)
	}
}
