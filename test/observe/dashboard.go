package observe

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ChartDir is the chart, relative to this package.
const ChartDir = "../../charts/aws-secrets-injector"

// DashboardFile is the dashboard the chart ships, relative to ChartDir.
const DashboardFile = "dashboards/aws-secrets-injector.json"

// Dashboard is the part of a Grafana dashboard model these checks read.
type Dashboard struct {
	Title         string     `json:"title"`
	UID           string     `json:"uid"`
	SchemaVersion int        `json:"schemaVersion"`
	Templating    Templating `json:"templating"`
	Panels        []Panel    `json:"panels"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is one dashboard variable ($name in queries).
type Variable struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	AllValue string `json:"allValue"`
}

// Panel is one panel; a row's Panels hold its collapsed children.
type Panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	GridPos     GridPos     `json:"gridPos"`
	Datasource  *Datasource `json:"datasource"`
	Targets     []Target    `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Panels []Panel `json:"panels"`
}

// GridPos places a panel on Grafana's 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Datasource names a panel's or a target's data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is one query of a panel.
type Target struct {
	RefID        string      `json:"refId"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Datasource   *Datasource `json:"datasource"`
}

// Query is one PromQL expression of the dashboard, with where it is.
type Query struct {
	Panel string
	RefID string
	Expr  string
}

// LoadDashboard reads and decodes the chart's dashboard.
func LoadDashboard() (*Dashboard, []byte, error) {
	raw, err := os.ReadFile(filepath.Join(ChartDir, DashboardFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read dashboard: %w", err)
	}
	d := &Dashboard{}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, nil, fmt.Errorf("decode dashboard %s: %w", DashboardFile, err)
	}
	return d, raw, nil
}

// AllPanels returns every panel, rows' children included, rows excluded.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// Queries returns every target's expression.
func (d *Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
		}
	}
	return out
}

// RateInterval is what Expand puts for $__rate_interval: Grafana's value for
// a 30s scrape interval at a one-hour view (4 scrapes).
const RateInterval = "2m"

// Expand replaces the dashboard variables a Grafana would fill in: vars maps
// a variable name to its value ($name and ${name} forms); $__rate_interval,
// $__interval and $__range get fixed durations unless vars sets them.
func Expand(expr string, vars map[string]string) string {
	all := map[string]string{"__rate_interval": RateInterval, "__interval": "30s", "__range": "1h"}
	for k, v := range vars {
		all[k] = v
	}
	// Longest names first, so $namespace_x is never cut at $namespace.
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, k := range names {
		expr = strings.ReplaceAll(expr, "${"+k+"}", all[k])
		expr = strings.ReplaceAll(expr, "$"+k, all[k])
	}
	return expr
}
