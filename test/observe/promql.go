package observe

import (
	"fmt"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Selector is one vector selector of a query: a metric name and its label
// matchers (the __name__ matcher left out).
type Selector struct {
	Metric   string
	Matchers []*labels.Matcher
}

// Grouping is the label list of one aggregation's by clause, with the
// selectors it aggregates over.
type Grouping struct {
	Labels    []string
	Selectors []Selector
}

// Parsed is what a query names.
type Parsed struct {
	Selectors []Selector
	Groupings []Grouping
}

// Parse parses expr with the Prometheus parser and lists its selectors and
// the by clauses of its aggregations. A selector without a metric name is an
// error: every query here names the metric it reads.
func Parse(expr string) (*Parsed, error) {
	e, err := promQL.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	out := &Parsed{}
	out.Selectors, err = selectorsOf(e)
	if err != nil {
		return nil, err
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		a, ok := n.(*parser.AggregateExpr)
		if !ok || a.Without || len(a.Grouping) == 0 {
			return nil
		}
		sels, serr := selectorsOf(a.Expr)
		if serr != nil {
			err = serr
			return serr
		}
		out.Groupings = append(out.Groupings, Grouping{Labels: slices.Clone(a.Grouping), Selectors: sels})
		return nil
	})
	return out, err
}

func selectorsOf(e parser.Node) ([]Selector, error) {
	var out []Selector
	var err error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := Selector{Metric: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				continue
			}
			s.Matchers = append(s.Matchers, m)
		}
		if s.Metric == "" {
			err = fmt.Errorf("selector %s names no metric", vs)
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}
