package chart_test

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

const (
	releaseName = "aws-secrets-injector"
	releaseNS   = "secrets-system"
	kubeVersion = "v1.37.2"
)

// valueSet is one way of installing the chart.
type valueSet struct {
	name   string
	values map[string]any
}

// valueSets are the installations every invariant is checked for: the
// defaults and each non-default mode, from ci/*-values.yaml (the files
// `make helm-lint` lints with).
func valueSets(t testing.TB) []valueSet {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sets := []valueSet{{"defaults", nil}}
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sets = append(sets, valueSet{strings.TrimSuffix(filepath.Base(f), "-values.yaml"), v.AsMap()})
	}
	return sets
}

// vals builds a values map from key, value pairs.
func vals(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

// renderValues merges user values the way `helm install -f` does and
// validates them against values.schema.json, for a cluster of kubeVersion.
func renderValues(c *chart.Chart, user map[string]any) (chartutil.Values, error) {
	return renderValuesAt(c, kubeVersion, user)
}

// renderValuesAt is renderValues for a cluster of version kv.
func renderValuesAt(c *chart.Chart, version string, user map[string]any) (chartutil.Values, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(version)
	if err != nil {
		return nil, err
	}
	caps.KubeVersion = *kv
	if user == nil {
		user = map[string]any{}
	}
	return chartutil.ToRenderValues(c, user, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: releaseNS, Revision: 1, IsInstall: true,
	}, caps)
}

// rendered is one rendering of the chart.
type rendered struct {
	// Objects are the decoded manifests, typed where client-go knows the kind,
	// else *unstructured.Unstructured.
	Objects []client.Object
	// Notes is NOTES.txt.
	Notes string
	// Values are the effective values.
	Values chartutil.Values
}

// renderChart renders the chart and decodes every manifest strictly (unknown
// or duplicate fields fail).
func renderChart(t testing.TB, user map[string]any) *rendered {
	t.Helper()
	return renderChartAt(t, kubeVersion, user)
}

// renderChartAt is renderChart for a cluster of version kv (.Capabilities.KubeVersion).
func renderChartAt(t testing.TB, kv string, user map[string]any) *rendered {
	t.Helper()
	c := loadChart(t)
	v, err := renderValuesAt(c, kv, user)
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	files, err := renderFiles(c, v)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	r := &rendered{Values: v}
	decoder := serializer.NewCodecFactory(clientgoscheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		base := path.Base(name)
		switch {
		case base == "NOTES.txt":
			r.Notes = files[name]
			continue
		case strings.HasPrefix(base, "_"):
			continue
		case !strings.HasSuffix(base, ".yaml"):
			t.Fatalf("unexpected template %s", name)
		}
		for _, doc := range releaseutil.SplitManifests(files[name]) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			obj, err := decode(decoder, []byte(doc))
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			r.Objects = append(r.Objects, obj)
		}
	}
	return r
}

// renderFiles runs Helm's template engine.
func renderFiles(c *chart.Chart, v chartutil.Values) (map[string]string, error) {
	return engine.Render(c, v)
}

func stripComments(doc string) string {
	var b strings.Builder
	for l := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// decode decodes a manifest into a typed object when client-go's scheme knows
// its kind, else into an unstructured object.
func decode(d runtime.Decoder, doc []byte) (client.Object, error) {
	obj, gvk, err := d.Decode(doc, nil, nil)
	if err == nil {
		co, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s is not an object", gvk)
		}
		co.GetObjectKind().SetGroupVersionKind(*gvk)
		return co, nil
	}
	if !runtime.IsNotRegisteredError(err) {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.UnmarshalStrict(doc, &u.Object); err != nil {
		return nil, err
	}
	return u, nil
}

// one returns the only object of type T named name (any name when empty).
func one[T client.Object](t testing.TB, r *rendered, name string) T {
	t.Helper()
	all := all[T](r)
	var found []T
	for _, o := range all {
		if name == "" || o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("want one %T named %q, found %d (of %d)", zero, name, len(found), len(all))
	}
	return found[0]
}

// all returns every object of type T.
func all[T client.Object](r *rendered) []T {
	var out []T
	for _, o := range r.Objects {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// kinds returns the sorted "Kind/name" list of r's objects.
func kinds(r *rendered) []string {
	var out []string
	for _, o := range r.Objects {
		out = append(out, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// value reads a dotted path from the effective values (a leaf or a table).
func value(t testing.TB, r *rendered, p string) any {
	t.Helper()
	cur := r.Values["Values"]
	for _, k := range strings.Split(p, ".") {
		m, ok := cur.(chartutil.Values)
		if !ok {
			mm, ok2 := cur.(map[string]any)
			if !ok2 {
				t.Fatalf("value %s: %s is not a table", p, k)
			}
			m = mm
		}
		if cur, ok = m[k]; !ok {
			t.Fatalf("value %s: no key %s", p, k)
		}
	}
	return cur
}
