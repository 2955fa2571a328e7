package observe

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// nsMarker stands for the $namespace variable, so that a test can tell the
// queries that filter by it.
const nsMarker = "NAMESPACE_VARIABLE"

func loadDashboard(t *testing.T) *Dashboard {
	t.Helper()
	d, raw, err := LoadDashboard()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatal("dashboard is not valid JSON")
	}
	return d
}

// TestDashboardIsGrafanaDashboard: the file is a Grafana dashboard model a
// Grafana loads as it is: a uid and title, a Prometheus data-source variable
// every panel and target uses, panels of known types with targets, laid out
// on the 24-column grid without overlaps.
func TestDashboardIsGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]Variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" {
		t.Errorf("no datasource variable: %+v", d.Templating.List)
	}
	if v, ok := vars["namespace"]; !ok || v.Type != "query" || v.AllValue != ".*" {
		t.Errorf("namespace variable %+v", v)
	}
	ids := map[int]bool{}
	type rect struct {
		title string
		g     GridPos
	}
	var placed []rect
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
			t.Errorf("panel %q gridPos %+v off the 24-column grid", p.Title, g)
		}
		for _, o := range placed {
			if g.X < o.g.X+o.g.W && o.g.X < g.X+g.W && g.Y < o.g.Y+o.g.H && o.g.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", p.Title, o.title)
			}
		}
		placed = append(placed, rect{p.Title, g})
		if p.Type == "row" {
			continue
		}
		if !slices.Contains([]string{"timeseries", "stat"}, p.Type) {
			t.Errorf("panel %q type %q", p.Title, p.Type)
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q datasource %+v", p.Title, p.Datasource)
		}
		if p.Description == "" || p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q lacks a description or a unit", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q refId %q empty or twice", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Expr == "" || tg.LegendFormat == "" {
				t.Errorf("panel %q target %s has no expr or legend", p.Title, tg.RefID)
			}
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s datasource %+v", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
}

// TestDashboardQueriesParse: every query parses with the Prometheus parser
// once Grafana's variables are filled in, reads only this project's metrics
// (and the process collector's), filters by the namespace variable, and
// names only reasons of the one vocabulary.
func TestDashboardQueriesParse(t *testing.T) {
	d := loadDashboard(t)
	qs := d.Queries()
	if len(qs) < 15 {
		t.Fatalf("%d queries", len(qs))
	}
	for _, q := range qs {
		expr := Expand(q.Expr, map[string]string{"namespace": nsMarker})
		if strings.Contains(expr, "$") {
			t.Errorf("%s/%s: variable left after expansion: %s", q.Panel, q.RefID, expr)
			continue
		}
		p, err := Parse(expr)
		if err != nil {
			t.Errorf("%s/%s: %v\n%s", q.Panel, q.RefID, err, expr)
			continue
		}
		for _, s := range p.Selectors {
			if !strings.HasPrefix(s.Metric, "aws_secrets_injector_") && !strings.HasPrefix(s.Metric, "process_") {
				t.Errorf("%s/%s reads %s, not a metric of this project", q.Panel, q.RefID, s.Metric)
			}
			if !slices.ContainsFunc(s.Matchers, func(m *labels.Matcher) bool {
				return m.Name == "namespace" && m.Type == labels.MatchRegexp && m.Value == nsMarker
			}) {
				t.Errorf("%s/%s: %s does not filter by namespace=~\"$namespace\"", q.Panel, q.RefID, s.Metric)
			}
			checkReasons(t, q.Panel, s)
		}
	}
}

func checkReasons(t *testing.T, where string, s Selector) {
	t.Helper()
	for _, m := range s.Matchers {
		if m.Name != "reason" {
			continue
		}
		vs := Values(m)
		if len(vs) == 0 {
			t.Errorf("%s: reason matcher %s lists no values", where, m)
		}
		for _, v := range vs {
			if !slices.Contains(ReasonValues(), v) {
				t.Errorf("%s: reason %q is not in secrets/reason", where, v)
			}
		}
	}
}

// TestDashboardCoversIssue: the panels issue 18 asks for are there, each
// reading its metric (and grouping as asked).
func TestDashboardCoversIssue(t *testing.T) {
	d := loadDashboard(t)
	type use struct{ metric, by string }
	var uses []use
	for _, q := range d.Queries() {
		p, err := Parse(Expand(q.Expr, nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Selectors {
			uses = append(uses, use{s.Metric, ""})
		}
		for _, g := range p.Groupings {
			for _, s := range g.Selectors {
				uses = append(uses, use{s.Metric, strings.Join(g.Labels, ",")})
			}
		}
	}
	for _, want := range []use{
		{"aws_secrets_injector_webhook_admissions_total", "result"},
		{"aws_secrets_injector_webhook_admission_duration_seconds_bucket", "le"},
		{"aws_secrets_injector_mounter_publishes_total", "outcome"},
		{"aws_secrets_injector_mounter_publish_failures_total", "reason"},
		{"aws_secrets_injector_mounter_aws_calls_total", "service,operation"},
		{"aws_secrets_injector_mounter_aws_call_failures_total", "api,reason"},
		{"aws_secrets_injector_mounter_cache_hits_total", ""},
		{"aws_secrets_injector_mounter_rotations_total", ""},
		{"aws_secrets_injector_mounter_refresh_failures_total", "reason"},
		{"aws_secrets_injector_mounter_volumes", "node"},
		{"aws_secrets_injector_mounter_mounted_bytes", "node"},
	} {
		if !slices.Contains(uses, want) {
			t.Errorf("no panel reads %s grouped by (%s)", want.metric, want.by)
		}
	}
}

func TestExpand(t *testing.T) {
	got := Expand(`rate(x{namespace=~"$namespace",a="${namespace_x}"}[$__rate_interval])`,
		map[string]string{"namespace": "ns", "namespace_x": "long"})
	if want := `rate(x{namespace=~"ns",a="long"}[2m])`; got != want {
		t.Errorf("Expand = %s, want %s", got, want)
	}
}
