package observe

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
)

// RuleTemplate is the chart's PrometheusRule template.
const RuleTemplate = "templates/monitoring-prometheusrule.yaml"

// promQL is the parser every check here uses: Prometheus's defaults.
var promQL = parser.NewParser(parser.Options{})

// RenderRules renders the chart with values (merged over the chart's own,
// validated against its schema, metrics.prometheusRule.enabled set) and
// returns the PrometheusRule's spec as a Prometheus rules file: the groups a
// prometheus-operator hands its Prometheus, which promtool and rulefmt read.
func RenderRules(values map[string]any) ([]byte, error) {
	c, err := loader.Load(ChartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	user := map[string]any{}
	for k, v := range values {
		user[k] = v
	}
	metrics, _ := user["metrics"].(map[string]any)
	if metrics == nil {
		metrics = map[string]any{}
	}
	rule, _ := metrics["prometheusRule"].(map[string]any)
	if rule == nil {
		rule = map[string]any{}
	}
	rule["enabled"] = true
	metrics["prometheusRule"] = rule
	user["metrics"] = metrics
	v, err := chartutil.ToRenderValues(c, user, chartutil.ReleaseOptions{
		Name: "aws-secrets-injector", Namespace: "aws-secrets-injector", Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(c, v)
	if err != nil {
		return nil, fmt.Errorf("render chart: %w", err)
	}
	doc, ok := files[c.Name()+"/"+RuleTemplate]
	if !ok {
		return nil, fmt.Errorf("chart has no %s", RuleTemplate)
	}
	var obj struct {
		Kind string    `yaml:"kind"`
		Spec yaml.Node `yaml:"spec"`
	}
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", RuleTemplate, err)
	}
	if obj.Kind != "PrometheusRule" {
		return nil, fmt.Errorf("%s renders kind %q, want PrometheusRule", RuleTemplate, obj.Kind)
	}
	out, err := yaml.Marshal(&obj.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode rules: %w", err)
	}
	return out, nil
}

// ParseRules parses and validates a rules file with Prometheus's own rule
// loader (unknown fields refused, every expression and template checked).
func ParseRules(b []byte) (*rulefmt.RuleGroups, error) {
	g, errs := rulefmt.Parse(b, false, model.LegacyValidation, promQL, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules: %v", errs)
	}
	return g, nil
}
