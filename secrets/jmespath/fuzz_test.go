package jmespath

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Fuzz inputs stay small, so go-jmespath (which has no budget) cannot blow
// up on them; differential also gives it only pairs within our guard budget.
const (
	maxFuzzExpr = 128
	maxFuzzDoc  = 1024
)

// seedPairs are the hand-written cases and the compliance suite.
func seedPairs(t testing.TB) [][2]string {
	var out [][2]string
	for _, c := range complianceCases(t) {
		out = append(out, [2]string{c.expr, string(c.given)})
	}
	for _, e := range seedExpressions {
		out = append(out, [2]string{e, doc1})
	}
	return out
}

// seedExpressions cover each node type and function (the table tests add theirs).
var seedExpressions = []string{
	"a.b.c", "list[1:3]", "list[::-1]", "people[*].name", "obj.*", "nested[][]", "people[?age > `30`].name",
	"a || b && !c", "[username, port]", "{u: username}", "`[1,{\"a\":2}]`", "'x'", "@", "map(&name, people)",
	"abs(`-1`)", "avg(list)", "ceil(`1.5`)", "contains(names, 'bob')", "ends_with(username, 'n')", "floor(`1.5`)",
	"join(', ', names)", "keys(obj)", "length(list)", "max(list)", "max_by(people, &age)", "merge(obj, obj)",
	"min(names)", "min_by(people, &age)", "not_null(nul, port)", "reverse(names)", "sort(nums)",
	"sort_by(people, &name)", "starts_with(username, 'a')", "sum(list)", "to_array(port)", "to_number('1')",
	"to_string(obj)", "type(@)", "values(obj)", "people[*].{n: name, t: tags[0]}", "list[?@ == `2`] | [0]",
	"to_string(people[].tags)", "sort_by(people, &to_string(age))", "max_by(people, &name).name",
	"[@, @] | [@, @] | length(to_string(@))", "{a: @, b: @} | keys(@)", "join('', map(&to_string(@), list))",
}

// FuzzDifferential compares our Search with go-jmespath's on an arbitrary
// expression and JSON document.
func FuzzDifferential(f *testing.F) {
	for _, p := range seedPairs(f) {
		if len(p[0]) <= maxFuzzExpr && len(p[1]) <= maxFuzzDoc {
			f.Add(p[0], p[1])
		}
	}
	f.Fuzz(func(t *testing.T, expr, doc string) {
		var v any
		if len(expr) > maxFuzzExpr || len(doc) > maxFuzzDoc || json.Unmarshal([]byte(doc), &v) != nil {
			return // not a document (json.Valid also accepts numbers out of float64's range)
		}
		differential(t, expr, doc)
	})
}

// FuzzGenerated compares our Search with go-jmespath's on an expression and
// a document built from the fuzz input by a grammar, so that most inputs are
// well-formed and reach the interpreter.
func FuzzGenerated(f *testing.F) {
	for i := range 64 {
		f.Add([]byte(fmt.Sprintf("%c%c%c%c%c%c%c%c", i, i*7, i*13, i*31, i*5, i*3, i*11, i*17)))
	}
	f.Add([]byte("sort_by people age filter pipe or and not join keys values merge"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{b: data}
		expr := g.expr(4)
		doc, err := json.Marshal(g.value(3))
		if err != nil {
			t.Fatal(err)
		}
		if len(expr) > 4*maxFuzzExpr {
			return
		}
		differential(t, expr, string(doc))
	})
}

// TestGeneratedSample runs a fixed sample of generated pairs through the
// differential check and requires most to compare values (not both fail).
func TestGeneratedSample(t *testing.T) {
	counts := map[verdict]int{}
	const n = 3000
	for i := range n {
		b := make([]byte, 96)
		for j := range b {
			b[j] = byte((i*197 + j*(i%23+3)*41 + j*j*7) % 253)
		}
		g := &gen{b: b}
		expr := g.expr(4)
		doc, _ := json.Marshal(g.value(3))
		counts[differential(t, expr, string(doc))]++
	}
	t.Logf("%d pairs: %d same, %d both fail, %d same up to object order, %d go-jmespath panics, %d rejected at compile, %d null-padded projections, %d over the guard",
		n, counts[same], counts[bothFail], counts[sameUnordered], counts[goPanicked], counts[compileOnly], counts[padded], counts[overGuard])
	if counts[same]+counts[sameUnordered] < n/2 {
		t.Fatalf("only %d of %d pairs compared values", counts[same]+counts[sameUnordered], n)
	}
}

// TestGeneratorCoverage checks that the generator reaches every node type
// and every function over a few thousand inputs, and that most of what it
// writes compiles.
func TestGeneratorCoverage(t *testing.T) {
	kinds := map[kind]bool{}
	fns := map[fnID]bool{}
	compiled := 0
	const n = 4000
	for i := range n {
		b := make([]byte, 64)
		for j := range b {
			b[j] = byte((i*131 + j*(i%17+1)*29 + j*j) % 251)
		}
		g := &gen{b: b}
		x, err := Compile(g.expr(4))
		if err != nil {
			continue
		}
		compiled++
		walk(x.root, func(n *node) {
			kinds[n.kind] = true
			if n.kind == kFunction {
				fns[n.fn] = true
			}
		})
	}
	if compiled < n*8/10 {
		t.Errorf("only %d of %d generated expressions compile", compiled, n)
	}
	for k := kField; k <= kExpRef; k++ {
		if !kinds[k] {
			t.Errorf("node kind %d never generated", k)
		}
	}
	var missing []string
	for name, f := range functions {
		if !fns[f.id] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("functions never generated: %v", missing)
	}
}

// gen writes expressions and documents from a byte string (zeros after its end).
type gen struct {
	b []byte
	i int
}

func (g *gen) next() int {
	if g.i >= len(g.b) {
		g.i++
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

func (g *gen) pick(n int) int { return g.next() % n }

func (g *gen) oneOf(s ...string) string { return s[g.pick(len(s))] }

var genKeys = []string{"a", "b", "c", "foo", "bar"}

func (g *gen) value(depth int) any {
	k := g.pick(10)
	if depth <= 0 && k >= 8 {
		k = g.pick(8)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return g.pick(2) == 0
	case 2, 3:
		return []float64{0, 1, -1, 2.5, 3, 1e3, -0.5, 42, 7, 1e-7}[g.pick(10)]
	case 4, 5, 6, 7:
		return []string{"", "a", "b", "abc", "foo", "<&>", "é", "\u2028", "a,b", "1.5"}[g.pick(10)]
	case 8:
		out := make([]any, g.pick(4))
		for i := range out {
			out[i] = g.value(depth - 1)
		}
		return out
	default:
		out := map[string]any{}
		for range g.pick(4) {
			out[genKeys[g.pick(len(genKeys))]] = g.value(depth - 1)
		}
		return out
	}
}

func (g *gen) literal() string {
	return g.oneOf("`1`", "`-2.5`", "`0`", "`\"a\"`", "`null`", "`true`", "`false`", "`[]`", "`{}`",
		"`[1, \"a\", null]`", "`{\"a\": 1, \"b\": [2]}`", "'a'", "'abc'", "''", "'1.5'", "`[3, 1, 2]`", "`[\"b\", \"a\"]`")
}

func (g *gen) leaf() string {
	switch g.pick(6) {
	case 0, 1, 2:
		return genKeys[g.pick(len(genKeys))]
	case 3:
		return "@"
	case 4:
		return `"a"`
	}
	return g.literal()
}

func (g *gen) rhs(depth int) string {
	switch g.pick(5) {
	case 0:
		return "." + genKeys[g.pick(len(genKeys))]
	case 1:
		return "[" + fmt.Sprint(g.pick(5)-2) + "]"
	case 2:
		return "." + g.multi(depth-1)
	case 3:
		return "[?" + g.cond(depth-1) + "]"
	}
	return ""
}

func (g *gen) multi(depth int) string {
	if g.pick(2) == 0 {
		return "[" + g.expr(depth) + ", " + g.expr(depth) + "]"
	}
	return "{" + genKeys[g.pick(len(genKeys))] + ": " + g.expr(depth) + ", " + genKeys[g.pick(len(genKeys))] + ": " + g.expr(depth) + "}"
}

func (g *gen) cond(depth int) string {
	return g.expr(depth) + " " + g.oneOf("==", "!=", "<", "<=", ">", ">=") + " " + g.expr(depth)
}

func (g *gen) slice() string {
	part := func() string {
		if g.pick(3) == 0 {
			return ""
		}
		return fmt.Sprint(g.pick(9) - 4)
	}
	s := part() + ":" + part()
	if g.pick(2) == 0 {
		st := g.pick(7) - 3
		if st == 0 && g.pick(4) != 0 {
			st = 1
		}
		s += ":" + fmt.Sprint(st)
	}
	return "[" + s + "]"
}

func (g *gen) function(depth int) string {
	names := make([]string, 0, len(functions))
	for name := range functions {
		names = append(names, name)
	}
	sort.Strings(names)
	name := names[g.pick(len(names))]
	e := func() string { return g.expr(depth - 1) }
	ref := func() string { return "&" + g.expr(depth-1) }
	switch name {
	case "map":
		return "map(" + ref() + ", " + e() + ")"
	case "sort_by", "max_by", "min_by":
		return name + "(" + e() + ", " + ref() + ")"
	case "merge", "not_null":
		args := []string{e()}
		for range g.pick(3) {
			args = append(args, e())
		}
		return name + "(" + strings.Join(args, ", ") + ")"
	}
	args := make([]string, functions[name].arity)
	for i := range args {
		args[i] = e()
	}
	return name + "(" + strings.Join(args, ", ") + ")"
}

func (g *gen) expr(depth int) string {
	if depth <= 0 {
		return g.leaf()
	}
	d := depth - 1
	switch g.pick(22) {
	case 0, 1:
		return g.leaf()
	case 2:
		return g.expr(d) + "." + genKeys[g.pick(len(genKeys))]
	case 3:
		return g.expr(d) + "[" + fmt.Sprint(g.pick(7)-3) + "]"
	case 4:
		return g.expr(d) + g.slice() + g.rhs(d)
	case 5:
		return g.expr(d) + "[*]" + g.rhs(d)
	case 6:
		return g.expr(d) + ".*" + g.rhs(d)
	case 7:
		return g.expr(d) + "[]" + g.rhs(d)
	case 8:
		return g.expr(d) + "[?" + g.cond(d) + "]" + g.rhs(d)
	case 9:
		return g.cond(d)
	case 10:
		return g.expr(d) + " | " + g.expr(d)
	case 11:
		return g.expr(d) + " || " + g.expr(d)
	case 12:
		return g.expr(d) + " && " + g.expr(d)
	case 13:
		return "!" + g.expr(d)
	case 14:
		return "(" + g.expr(d) + ")"
	case 15:
		return g.multi(d)
	case 16:
		return "&" + g.expr(d)
	case 17:
		return "*" + g.rhs(d)
	case 18:
		return "[*]" + g.rhs(d)
	}
	return g.function(depth)
}
