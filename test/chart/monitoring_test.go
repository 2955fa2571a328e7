package chart_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func prometheusRules(r *rendered) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range all[*unstructured.Unstructured](r) {
		if u.GetKind() == "PrometheusRule" {
			out = append(out, u)
		}
	}
	return out
}

func dashboards(r *rendered) []*corev1.ConfigMap {
	var out []*corev1.ConfigMap
	for _, cm := range all[*corev1.ConfigMap](r) {
		if _, ok := cm.Labels["grafana_dashboard"]; ok {
			out = append(out, cm)
		}
	}
	return out
}

// checkMonitoring (every value set): the dashboard ConfigMap and the
// PrometheusRule exist exactly when their values ask for them.
func checkMonitoring(t *testing.T, r *rendered, n names) {
	t.Helper()
	wantDash := value(t, r, "metrics.dashboard.enabled").(bool)
	if got := len(dashboards(r)); got != map[bool]int{false: 0, true: 1}[wantDash] {
		t.Errorf("%d dashboard ConfigMaps with metrics.dashboard.enabled %v", got, wantDash)
	}
	wantRule := value(t, r, "metrics.prometheusRule.enabled").(bool)
	rules := prometheusRules(r)
	if got := len(rules); got != map[bool]int{false: 0, true: 1}[wantRule] {
		t.Errorf("%d PrometheusRules with metrics.prometheusRule.enabled %v", got, wantRule)
	}
	for _, u := range rules {
		if u.GetName() != n.full || u.GetNamespace() != releaseNS {
			t.Errorf("PrometheusRule %s/%s", u.GetNamespace(), u.GetName())
		}
		for k, v := range toStringMap(value(t, r, "metrics.prometheusRule.labels")) {
			if u.GetLabels()[k] != v {
				t.Errorf("PrometheusRule lacks label %s=%s", k, v)
			}
		}
	}
}

// TestDashboardConfigMap: the ConfigMap carries the chart's dashboard file
// byte for byte under the sidecar's label, in the namespace asked for, with
// the extra labels and annotations; a value for grafana_dashboard wins.
func TestDashboardConfigMap(t *testing.T) {
	file, err := os.ReadFile(filepath.Join(chartDir, "dashboards", "aws-secrets-injector.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := renderChart(t, vals("metrics", vals("dashboard", vals("enabled", true, "namespace", "grafana",
		"labels", vals("team", "platform"), "annotations", vals("grafana_folder", "Security")))))
	cms := dashboards(r)
	if len(cms) != 1 {
		t.Fatalf("%d dashboard ConfigMaps", len(cms))
	}
	cm := cms[0]
	if cm.Name != releaseName+"-dashboard" || cm.Namespace != "grafana" {
		t.Errorf("ConfigMap %s/%s", cm.Namespace, cm.Name)
	}
	if cm.Labels["grafana_dashboard"] != "1" || cm.Labels["team"] != "platform" || cm.Annotations["grafana_folder"] != "Security" {
		t.Errorf("labels %v annotations %v", cm.Labels, cm.Annotations)
	}
	got := cm.Data["aws-secrets-injector.json"]
	if got != strings.TrimRight(string(file), "\n") {
		t.Errorf("ConfigMap data differs from dashboards/aws-secrets-injector.json (%d vs %d bytes)", len(got), len(file))
	}
	var d struct {
		UID    string           `json:"uid"`
		Panels []map[string]any `json:"panels"`
	}
	if err := json.Unmarshal([]byte(got), &d); err != nil || d.UID == "" || len(d.Panels) == 0 {
		t.Errorf("ConfigMap data is no dashboard: %v", err)
	}

	r = renderChart(t, vals("metrics", vals("dashboard", vals("enabled", true, "labels", vals("grafana_dashboard", "aws")))))
	if cm := dashboards(r)[0]; cm.Labels["grafana_dashboard"] != "aws" || cm.Namespace != releaseNS {
		t.Errorf("label override: %v in %s", cm.Labels, cm.Namespace)
	}
}

// TestPrometheusRuleObject: the object prometheus-operator reads (its
// expressions are checked by test/observe with the Prometheus library and
// promtool): alerts with the chart's alert labels, the refresh alert's for
// following mounter.refreshInterval.
func TestPrometheusRuleObject(t *testing.T) {
	r := renderChart(t, vals("mounter", vals("refreshInterval", "10m"),
		"metrics", vals("prometheusRule", vals("enabled", true, "labels", vals("release", "prom"), "alertLabels", vals("team", "platform")))))
	rules := prometheusRules(r)
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules", len(rules))
	}
	groups, _, _ := unstructured.NestedSlice(rules[0].Object, "spec", "groups")
	if len(groups) != 1 {
		t.Fatalf("groups %v", groups)
	}
	var alerts []string
	for _, x := range groups[0].(map[string]any)["rules"].([]any) {
		rule := x.(map[string]any)
		alerts = append(alerts, rule["alert"].(string))
		if toStringMap(rule["labels"])["team"] != "platform" {
			t.Errorf("%s labels %v", rule["alert"], rule["labels"])
		}
		if rule["alert"] == "AWSSecretsInjectorRefreshFailing" && (rule["for"] != "1200s" || !strings.Contains(rule["expr"].(string), "[900s]")) {
			t.Errorf("refresh alert for %v expr %v with a 10m interval", rule["for"], rule["expr"])
		}
	}
	if !slices.Contains(alerts, "AWSSecretsInjectorRefreshFailing") || !slices.Contains(alerts, "AWSSecretsInjectorWebhookCertificateExpiring") || len(alerts) != 6 {
		t.Errorf("alerts %v", alerts)
	}
}

func TestRenderRefusesMonitoringWithoutMetrics(t *testing.T) {
	c := loadChart(t)
	for _, key := range []string{"dashboard", "prometheusRule"} {
		v, err := renderValues(c, vals("metrics", vals("enabled", false, key, vals("enabled", true))))
		if err != nil {
			t.Fatalf("values: %v", err)
		}
		if _, err := renderFiles(c, v); err == nil || !strings.Contains(err.Error(), "metrics."+key+".enabled needs metrics.enabled") {
			t.Errorf("render error %v, want the %s/metrics message", err, key)
		}
	}
}
