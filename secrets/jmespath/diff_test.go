package jmespath

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	gojmespath "github.com/jmespath/go-jmespath"
)

// The differential check: our Search against go-jmespath's on the same
// expression and document. Deliberate divergences (doc.go) are recognised
// here, each by a rule that names it.

// marker stands for a value that has no JSON equal (an expression reference, NaN).
type marker string

// normalize maps go-jmespath's and our values to comparable ones.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, string:
		return x
	case float64:
		if math.IsNaN(x) {
			return marker("NaN")
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = normalize(el)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = normalize(el)
		}
		return out
	case expref:
		return marker("expref")
	case marker:
		return x
	}
	if t := reflect.TypeOf(v); t.Name() == "expRef" && t.PkgPath() == "github.com/jmespath/go-jmespath" {
		return marker("expref")
	}
	return marker(fmt.Sprintf("unexpected %T", v))
}

// unordered sorts every list (recursively) by its elements' JSON, for
// results whose order follows go-jmespath's randomised map iteration.
func unordered(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		keys := make([]string, len(x))
		for i, el := range x {
			out[i] = unordered(el)
		}
		idx := make([]int, len(x))
		for i := range idx {
			idx[i] = i
			b, _ := json.Marshal(out[i])
			keys[i] = string(b)
		}
		sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
		sorted := make([]any, len(x))
		for i, j := range idx {
			sorted[i] = out[j]
		}
		return sorted
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = unordered(el)
		}
		return out
	}
	return v
}

func decode(t testing.TB, doc string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("document %q: %v", doc, err)
	}
	return v
}

// goSearch runs go-jmespath on a fresh copy of doc (its sort_by sorts in
// place); panicked reports a panic of go-jmespath.
func goSearch(t testing.TB, expr, doc string) (res any, err error, panicked bool) {
	data := decode(t, doc)
	defer func() {
		if r := recover(); r != nil {
			res, err, panicked = nil, nil, true
		}
	}()
	res, err = gojmespath.Search(expr, data)
	return res, err, false
}

// walk visits every node of our tree.
func walk(n *node, f func(*node)) {
	f(n)
	for _, k := range n.kids {
		walk(k, f)
	}
}

// orderSensitive reports whether the result may follow object iteration
// order (keys, values, "*") or go-jmespath's in-place sort_by.
func orderSensitive(x *Expression) bool {
	found := false
	walk(x.root, func(n *node) {
		if n.kind == kValueProjection || n.fn == fnKeys || n.fn == fnValues || n.fn == fnSortBy {
			found = true
		}
	})
	return found
}

// paddedProjection reports a "*" projection whose right side calls a
// function: go-jmespath evaluates it against one null per key first.
func paddedProjection(x *Expression) bool {
	found := false
	walk(x.root, func(n *node) {
		if n.kind == kValueProjection {
			walk(n.kids[1], func(m *node) {
				if m.kind == kFunction {
					found = true
				}
			})
		}
	})
	return found
}

// verdict is how one pair compared.
type verdict int

const (
	same          verdict = iota // equal results
	bothFail                     // both fail (syntax, or evaluation)
	sameUnordered                // equal once object-order effects are removed
	goPanicked                   // go-jmespath panicked: nothing to compare
	compileOnly                  // we reject at Compile what go-jmespath accepts (doc.go)
	padded                       // the "*" null padding of go-jmespath (doc.go)
	overGuard                    // over the guard budget: not given to go-jmespath
)

// guard is the budget of our run in a differential check. Our counts bound
// what go-jmespath does too, so a pair within it cannot blow go-jmespath up;
// a pair over it is not given to go-jmespath at all.
var guard = Budget{Steps: 1 << 22, Bytes: 64 << 20}

// differential compares our Search with go-jmespath's for one pair and
// fails t on any difference that is not a documented divergence.
func differential(t testing.TB, expr, doc string) verdict {
	t.Helper()
	x, err := Compile(expr)
	if err != nil {
		if _, perr := gojmespath.Compile(expr); perr != nil {
			return bothFail // both reject the syntax
		}
		var ce *Error
		if !errors.As(err, &ce) || !compileDivergence(err) {
			t.Fatalf("%s: Compile: %v (%T); go-jmespath compiles it", expr, err, err)
		}
		return compileOnly
	}
	ours, ourErr := x.Search(decode(t, doc), guard)
	if isLimit(ourErr) {
		return overGuard
	}
	goRes, goErr, panicked := goSearch(t, expr, doc)
	if panicked {
		return goPanicked
	}
	// Any difference under a "*" whose right side calls a function may be
	// go-jmespath's null padding: excused (doc.go), counted apart.
	pad := paddedProjection(x)
	switch {
	case goErr != nil && ourErr != nil:
		return bothFail
	case (goErr != nil || ourErr != nil) && pad:
		return padded
	case goErr != nil:
		t.Fatalf("%s on %s: go-jmespath fails (%v), we return %s", expr, doc, goErr, show(ours))
	case ourErr != nil:
		t.Fatalf("%s on %s: we fail (%v), go-jmespath returns %s", expr, doc, ourErr, show(goRes))
	}
	want, got := normalize(goRes), normalize(ours)
	if reflect.DeepEqual(want, got) {
		return same
	}
	if orderSensitive(x) {
		// go-jmespath's order is random: accept ours if any of its runs
		// gives it, or if the two agree up to the order of lists.
		for range 32 {
			r, e, _ := goSearch(t, expr, doc)
			if e == nil && reflect.DeepEqual(normalize(r), got) {
				return sameUnordered
			}
		}
		if reflect.DeepEqual(unordered(want), unordered(got)) {
			return sameUnordered
		}
	}
	if pad {
		return padded
	}
	t.Fatalf("%s on %s:\n ours %s\n go   %s", expr, doc, show(ours), show(goRes))
	return same
}

// compileDivergence reports the Compile errors doc.go lists as deliberate.
func compileDivergence(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown JMESPath function", "argument(s), not", "the step cannot be 0",
		"a malformed index or slice", "only a name can be called"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func show(v any) string {
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// complianceCase is one case of go-jmespath's compliance suite.
type complianceCase struct {
	file, expr string
	given      json.RawMessage
	result     json.RawMessage
	isError    bool
}

// complianceCases reads the JMESPath compliance suite that ships with the
// go-jmespath module (in the module cache; read, not copied).
func complianceCases(t testing.TB) []complianceCase {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/jmespath/go-jmespath").Output()
	if err != nil {
		t.Fatalf("locate go-jmespath: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "compliance", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no compliance files: %v", err)
	}
	var cases []complianceCase
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var suites []struct {
			Given json.RawMessage `json:"given"`
			Cases []struct {
				Expression string          `json:"expression"`
				Result     json.RawMessage `json:"result"`
				Error      string          `json:"error"`
			} `json:"cases"`
		}
		if err := json.Unmarshal(raw, &suites); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range suites {
			for _, c := range s.Cases {
				cases = append(cases, complianceCase{file: filepath.Base(f), expr: c.Expression, given: s.Given,
					result: c.Result, isError: c.Error != ""})
			}
		}
	}
	return cases
}

func goSearchData(expr string, data any) (any, error) { return gojmespath.Search(expr, data) }
