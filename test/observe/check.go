package observe

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// literalAlternation is a matcher value that lists values ("a|b|c") rather
// than a pattern.
var literalAlternation = regexp.MustCompile(`^[A-Za-z0-9 _./-]+(\|[A-Za-z0-9 _./-]+)*$`)

// Values returns the values an equality or literal-alternation matcher
// selects, nil for other matchers.
func Values(m *labels.Matcher) []string {
	switch m.Type {
	case labels.MatchEqual:
		if m.Value == "" {
			return nil
		}
		return []string{m.Value}
	case labels.MatchRegexp:
		if literalAlternation.MatchString(m.Value) {
			return strings.Split(m.Value, "|")
		}
	}
	return nil
}

// ReasonValues are the values a reason label can take: the one reason
// vocabulary (secrets/reason). A scrape shows only the reasons that
// happened, so a query's reasons are checked against this list.
func ReasonValues() []string {
	out := make([]string, 0, len(reason.All))
	for _, r := range reason.All {
		out = append(out, string(r))
	}
	return out
}

// Check reports what a parsed query names that the scrape does not have: a
// metric (a histogram's _bucket/_sum/_count count as the histogram), a label
// a matcher or a by clause names (target labels aside), or a label value an
// equality or alternation matcher selects (reason values are checked against
// the reason vocabulary instead, since a scrape holds only those that
// happened).
func Check(f Families, p *Parsed) []error {
	var errs []error
	for _, s := range p.Selectors {
		fam, bucket := f.Family(s.Metric)
		if fam == nil {
			errs = append(errs, fmt.Errorf("metric %s is not exported by the binaries", s.Metric))
			continue
		}
		names := LabelNames(fam)
		for _, m := range s.Matchers {
			if slices.Contains(TargetLabels, m.Name) {
				continue
			}
			if m.Name == "le" {
				if !bucket {
					errs = append(errs, fmt.Errorf("%s: le on a series that is not a histogram's _bucket", s.Metric))
				}
				continue
			}
			if !slices.Contains(names, m.Name) {
				errs = append(errs, fmt.Errorf("%s has no label %s (it has %v)", s.Metric, m.Name, names))
				continue
			}
			have := LabelValues(fam, m.Name)
			if m.Name == "reason" {
				have = ReasonValues()
			}
			for _, v := range Values(m) {
				if !slices.Contains(have, v) {
					errs = append(errs, fmt.Errorf("%s{%s=%q}: no such value (have %v)", s.Metric, m.Name, v, have))
				}
			}
		}
	}
	for _, g := range p.Groupings {
		for _, l := range g.Labels {
			if slices.Contains(TargetLabels, l) {
				continue
			}
			found := false
			for _, s := range g.Selectors {
				fam, bucket := f.Family(s.Metric)
				if fam == nil {
					continue
				}
				if (l == "le" && bucket) || slices.Contains(LabelNames(fam), l) {
					found = true
				}
			}
			if !found {
				errs = append(errs, fmt.Errorf("by (%s): no metric aggregated there has label %s", strings.Join(g.Labels, ", "), l))
			}
		}
	}
	return errs
}
