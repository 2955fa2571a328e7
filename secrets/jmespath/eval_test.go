package jmespath

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

const doc1 = `{"a":{"b":{"c":"deep"}},"username":"admin","port":5432,"on":true,"off":false,"nul":null,"empty":"",
"list":[0,1,2,3,4,5],"names":["carol","alice","bob"],"nested":[[1,2],[3,[4,5]],6],
"people":[{"name":"ann","age":31,"tags":["x","y"]},{"name":"bo","age":25,"tags":[]},{"name":"cy","age":40}],
"obj":{"x":1,"y":"two","z":[3]},"nums":[3,-1.5,2e3,0],"mixed":[1,"a",null,true],"ea":[],"eo":{},
"html":"<a href=\"x\">&amp;</a>","uni":"héllo wörld","sep":", "}`

// evalCase is one expression on doc1 and its result as JSON, or an error
// (wantErr is a substring of the message).
type evalCase struct {
	expr, want, wantErr string
}

func runCases(t *testing.T, cases []evalCase) {
	t.Helper()
	data := decode(t, doc1)
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			x, err := Compile(c.expr)
			var got any
			if err == nil {
				got, err = x.Search(data, Budget{})
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "admin") || strings.Contains(err.Error(), "5432") {
					t.Fatalf("error shows data: %v", err)
				}
			} else {
				if err != nil {
					t.Fatalf("error %v, want %s", err, c.want)
				}
				var want any = marker("NaN")
				if c.want != "NaN" {
					if err := json.Unmarshal([]byte(c.want), &want); err != nil {
						t.Fatalf("bad want %s: %v", c.want, err)
					}
				}
				if !reflect.DeepEqual(normalize(got), normalize(want)) {
					t.Fatalf("got %s, want %s", show(got), c.want)
				}
			}
			if v := differential(t, c.expr, doc1); v != same && v != sameUnordered && v != bothFail {
				t.Fatalf("not compared with go-jmespath (verdict %d)", v)
			}
		})
	}
}

func TestNodeTypes(t *testing.T) {
	runCases(t, []evalCase{
		// field and subexpression
		{expr: "username", want: `"admin"`},
		{expr: "a.b.c", want: `"deep"`},
		{expr: `"username"`, want: `"admin"`},
		{expr: "missing", want: `null`},
		{expr: "a.missing.c", want: `null`},
		{expr: "username.length", want: `null`},
		{expr: "list.a", want: `null`},
		// index
		{expr: "list[0]", want: `0`},
		{expr: "list[-1]", want: `5`},
		{expr: "list[-6]", want: `0`},
		{expr: "list[6]", want: `null`},
		{expr: "list[-7]", want: `null`},
		{expr: "obj[0]", want: `null`},
		{expr: "[0]", want: `null`},
		{expr: "nested[1][1][0]", want: `4`},
		// slice
		{expr: "list[1:3]", want: `[1,2]`},
		{expr: "list[:2]", want: `[0,1]`},
		{expr: "list[4:]", want: `[4,5]`},
		{expr: "list[::2]", want: `[0,2,4]`},
		{expr: "list[::-1]", want: `[5,4,3,2,1,0]`},
		{expr: "list[-2:]", want: `[4,5]`},
		{expr: "list[5:1:-2]", want: `[5,3]`},
		{expr: "list[100:]", want: `[]`},
		{expr: "list[-100:2]", want: `[0,1]`},
		{expr: "list[:-100:-1]", want: `[5,4,3,2,1,0]`},
		{expr: "list[3:1]", want: `[]`},
		{expr: "obj[1:2]", want: `null`},
		{expr: "list[1:3].x", want: `[]`},
		// projection over a list
		{expr: "people[*].name", want: `["ann","bo","cy"]`},
		{expr: "people[*].tags[0]", want: `["x"]`},
		{expr: "people[*]", want: `[{"name":"ann","age":31,"tags":["x","y"]},{"name":"bo","age":25,"tags":[]},{"name":"cy","age":40}]`},
		{expr: "obj[*]", want: `null`},
		{expr: "[*].a", want: `null`},
		{expr: "people[*].[name, age]", want: `[["ann",31],["bo",25],["cy",40]]`},
		// projection over an object's values
		{expr: "obj.*", want: `[1,"two",[3]]`},
		{expr: "a.*.c", want: `["deep"]`},
		{expr: "list.*", want: `null`},
		{expr: "*.b", want: `[{"c":"deep"}]`},
		// flatten
		{expr: "nested[]", want: `[1,2,3,[4,5],6]`},
		{expr: "nested[][]", want: `[1,2,3,4,5,6]`},
		{expr: "people[].tags[]", want: `["x","y"]`},
		{expr: "obj[]", want: `null`},
		// filter and comparators
		{expr: "people[?age > `30`].name", want: `["ann","cy"]`},
		{expr: "people[?age >= `31`].name", want: `["ann","cy"]`},
		{expr: "people[?age < `31`].name", want: `["bo"]`},
		{expr: "people[?age <= `31`].name", want: `["ann","bo"]`},
		{expr: "people[?name == 'bo'].age", want: `[25]`},
		{expr: "people[?name != 'bo'].age", want: `[31,40]`},
		{expr: "people[?tags].name", want: `["ann"]`},
		{expr: "people[?name > 'a']", want: `[]`},
		{expr: "people[?tags == `[]`].name", want: `["bo"]`},
		{expr: "mixed[?@]", want: `[1,"a",true]`},
		{expr: "obj[?x]", want: `null`},
		{expr: "list[?@ > `2`] | [0]", want: `3`},
		// comparisons alone
		{expr: "port == `5432`", want: `true`},
		{expr: "obj == obj", want: `true`},
		{expr: "obj == {x: obj.x, y: obj.y, z: obj.z}", want: `true`},
		{expr: "names == reverse(reverse(names))", want: `true`},
		{expr: "username < `1`", want: `null`},
		{expr: "nul == missing", want: `true`},
		{expr: "`1` == `1.0`", want: `true`},
		{expr: "`1` == '1'", want: `false`},
		// pipe
		{expr: "people | [0].name", want: `"ann"`},
		{expr: "people[*].name | [1]", want: `"bo"`},
		{expr: "people[*].name[1]", want: `[]`},
		// or, and, not
		{expr: "missing || username", want: `"admin"`},
		{expr: "empty || ea || eo || off || port", want: `5432`},
		{expr: "username || port", want: `"admin"`},
		{expr: "username && port", want: `5432`},
		{expr: "ea && port", want: `[]`},
		{expr: "!on", want: `false`},
		{expr: "!empty", want: `true`},
		{expr: "!port", want: `false`},
		{expr: "!(on && off)", want: `true`},
		// multiselect list and hash
		{expr: "[username, port]", want: `["admin",5432]`},
		{expr: "[missing, port]", want: `[null,5432]`},
		{expr: "{u: username, p: port}", want: `{"u":"admin","p":5432}`},
		{expr: "{u: username, u: port}", want: `{"u":5432}`},
		{expr: "missing.[a]", want: `null`},
		{expr: "missing.{a: a}", want: `null`},
		{expr: "on.[@]", want: `[true]`},
		{expr: "people[*].{n: name}", want: `[{"n":"ann"},{"n":"bo"},{"n":"cy"}]`},
		// literals
		{expr: "`\"lit\"`", want: `"lit"`},
		{expr: "'raw'", want: `"raw"`},
		{expr: "'it\\'s'", want: `"it's"`},
		{expr: "`[1, {\"a\": null}]`", want: `[1,{"a":null}]`},
		{expr: "`null`", want: `null`},
		{expr: "`-0.5e1`", want: `-5`},
		// current node and identity
		{expr: "@.username", want: `"admin"`},
		{expr: "list | @[1]", want: `1`},
		{expr: "@ | port", want: `5432`},
		// expression references, evaluated by functions
		{expr: "map(&name, people)", want: `["ann","bo","cy"]`},
		{expr: "map(&tags[0], people)", want: `["x",null,null]`},
		{expr: "to_string(&name)", want: `"{}"`},
		{expr: "type(not_null(missing, 'x'))", want: `"string"`},
	})
}

func TestFunctions(t *testing.T) {
	runCases(t, []evalCase{
		{expr: "abs(`-3.5`)", want: `3.5`},
		{expr: "abs(username)", wantErr: "abs(): argument 1 has the wrong type: string, expected number"},
		{expr: "avg(list)", want: `2.5`},
		{expr: "avg(ea)", want: `NaN`},
		{expr: "avg(mixed)", wantErr: "wrong type"},
		{expr: "ceil(`1.2`)", want: `2`},
		{expr: "ceil(`-1.2`)", want: `-1`},
		{expr: "ceil('1')", wantErr: "wrong type"},
		{expr: "contains(names, 'bob')", want: `true`},
		{expr: "contains(names, 'dan')", want: `false`},
		{expr: "contains(username, 'dmi')", want: `true`},
		{expr: "contains(username, `1`)", want: `false`},
		{expr: "contains(list, `2`)", want: `true`},
		{expr: "contains(mixed, `null`)", want: `true`},
		{expr: "contains(port, `1`)", wantErr: "wrong type"},
		{expr: "ends_with(username, 'min')", want: `true`},
		{expr: "ends_with(username, port)", wantErr: "argument 2 has the wrong type"},
		{expr: "floor(`1.8`)", want: `1`},
		{expr: "floor(on)", wantErr: "wrong type"},
		{expr: "join(sep, names)", want: `"carol, alice, bob"`},
		{expr: "join('', ea)", want: `""`},
		{expr: "join(',', list)", wantErr: "argument 2 has the wrong type"},
		{expr: "join(`1`, names)", wantErr: "argument 1 has the wrong type"},
		{expr: "keys(obj)", want: `["x","y","z"]`},
		{expr: "keys(eo)", want: `[]`},
		{expr: "keys(list)", wantErr: "wrong type"},
		{expr: "length(uni)", want: `11`},
		{expr: "length(list)", want: `6`},
		{expr: "length(obj)", want: `3`},
		{expr: "length(port)", wantErr: "wrong type"},
		{expr: "length(nul)", wantErr: "wrong type"},
		{expr: "map(&@, list)", want: `[0,1,2,3,4,5]`},
		{expr: "map(&age, people)", want: `[31,25,40]`},
		{expr: "map(name, people)", wantErr: "argument 1 has the wrong type"},
		{expr: "map(&a, obj)", wantErr: "argument 2 has the wrong type"},
		{expr: "max(list)", want: `5`},
		{expr: "max(names)", want: `"carol"`},
		{expr: "max(ea)", want: `null`},
		{expr: "max(mixed)", wantErr: "wrong type"},
		{expr: "max_by(people, &age).name", want: `"cy"`},
		{expr: "max_by(people, &name).name", want: `"cy"`},
		{expr: "max_by(ea, &age)", want: `null`},
		{expr: "max_by(people, &tags)", wantErr: "max_by()"},
		{expr: "max_by([people[0], `{\"age\": \"x\"}`], &age)", wantErr: "max_by()"},
		{expr: "merge(obj, `{\"x\": 9, \"w\": 0}`)", want: `{"x":9,"y":"two","z":[3],"w":0}`},
		{expr: "merge(eo)", want: `{}`},
		{expr: "min(nums)", want: `-1.5`},
		{expr: "min(names)", want: `"alice"`},
		{expr: "min_by(people, &age).name", want: `"bo"`},
		{expr: "min_by(people, &name).name", want: `"ann"`},
		{expr: "min_by(list, &@)", want: `0`},
		{expr: "not_null(missing, nul, port)", want: `5432`},
		{expr: "not_null(missing)", want: `null`},
		{expr: "reverse(names)", want: `["bob","alice","carol"]`},
		{expr: "reverse(uni)", want: `"dlröw olléh"`},
		{expr: "reverse(port)", wantErr: "wrong type"},
		{expr: "sort(names)", want: `["alice","bob","carol"]`},
		{expr: "sort(nums)", want: `[-1.5,0,3,2000]`},
		{expr: "sort(ea)", want: `[]`},
		{expr: "sort(mixed)", wantErr: "wrong type"},
		{expr: "sort_by(people, &age)[*].name", want: `["bo","ann","cy"]`},
		{expr: "sort_by(people, &name)[*].name", want: `["ann","bo","cy"]`},
		{expr: "sort_by(people[:1], &missing)[*].name", want: `["ann"]`},
		{expr: "sort_by(people, &tags)", wantErr: "sort_by()"},
		{expr: "sort_by(people, &to_string(age))[*].age", want: `[25,31,40]`},
		{expr: "starts_with(username, 'ad')", want: `true`},
		{expr: "starts_with(port, 'ad')", wantErr: "wrong type"},
		{expr: "sum(list)", want: `15`},
		{expr: "sum(ea)", want: `0`},
		{expr: "sum(names)", wantErr: "wrong type"},
		{expr: "to_array(port)", want: `[5432]`},
		{expr: "to_array(list)", want: `[0,1,2,3,4,5]`},
		{expr: "to_array(nul)", want: `[null]`},
		{expr: "to_number('12.5')", want: `12.5`},
		{expr: "to_number('x')", want: `null`},
		{expr: "to_number(port)", want: `5432`},
		{expr: "to_number(list)", want: `null`},
		{expr: "to_number(on)", want: `null`},
		{expr: "to_number(&a)", wantErr: "to_number()"},
		{expr: "to_string(port)", want: `"5432"`},
		{expr: "to_string(username)", want: `"admin"`},
		{expr: "to_string(obj)", want: `"{\"x\":1,\"y\":\"two\",\"z\":[3]}"`},
		{expr: "to_string(html)", want: `"<a href=\"x\">&amp;</a>"`},
		{expr: "to_string([html])", want: `"[\"\\u003ca href=\\\"x\\\"\\u003e\\u0026amp;\\u003c/a\\u003e\"]"`},
		{expr: "to_string(`1e21`)", want: `"1e+21"`},
		{expr: "to_string(`0.0000001`)", want: `"1e-7"`},
		{expr: "to_string(to_number('nan'))", wantErr: "to_string()"},
		{expr: "type(port)", want: `"number"`},
		{expr: "type(username)", want: `"string"`},
		{expr: "type(on)", want: `"boolean"`},
		{expr: "type(nul)", want: `"null"`},
		{expr: "type(list)", want: `"array"`},
		{expr: "type(obj)", want: `"object"`},
		{expr: "type(&a)", wantErr: "type()"},
		{expr: "values(obj)", want: `[1,"two",[3]]`},
		{expr: "values(list)", wantErr: "wrong type"},
	})
}

// TestDivergences pins what differs from go-jmespath on purpose (doc.go).
func TestDivergences(t *testing.T) {
	data := decode(t, `{"b":2,"a":1,"c":3,"list":[3,1,2]}`)
	for _, c := range []struct{ expr, want string }{
		{"keys(@)", `["a","b","c","list"]`},                           // go-jmespath: random order
		{"values(@)[:3]", `[1,2,3]`},                                  // the values in key order
		{"*.to_string(@)", `["1","2","3","[3,1,2]"]`},                 // go-jmespath: one "null" per key first
		{"[sort_by(list, &@), list]", `[[1,2,3],[3,1,2]]`},            // go-jmespath: [[1,2,3],[1,2,3]]
		{"contains([[`1`]], [`1`])", `true`},                          // go-jmespath panics
		{"list[1::9223372036854775807]", `[1]`},                       // go-jmespath panics
		{"list[::-9223372036854775807]", `[2]`},                       // no overflow the other way
		{"length(*.length(to_array(@)))", `4`},                        // go-jmespath fails (length of null)
		{"list[-9223372036854775807:9223372036854775807]", `[3,1,2]`}, // clamped
	} {
		x, err := Compile(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		got, err := x.Search(data, Budget{})
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		var want any
		_ = json.Unmarshal([]byte(c.want), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %s, want %s", c.expr, show(got), c.want)
		}
	}
	for _, expr := range []string{"merge(`1`)", "merge(@, `[]`)"} {
		x, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Search(data, Budget{}); err == nil || !strings.Contains(err.Error(), "merge(): argument") {
			t.Errorf("%s: error %v, want a type error (go-jmespath panics)", expr, err)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"", "syntax error"},
		{"a[", "syntax error"},
		{"a ||", "syntax error"},
		{"foo(@)", `unknown JMESPath function "foo()"`},
		{"abs(@, @)", "abs() takes 1 argument(s), not 2"},
		{"sort_by(@)", "sort_by() takes 2 argument(s), not 1"},
		{"not_null()", "not_null() takes at least 1 argument(s), not 0"},
		{"merge()", "merge() takes at least 1"},
		{"a[::0]", "the step cannot be 0"},
		{"[[0.a]", "a malformed index or slice"},
		{"@()", "only a name can be called"},
		{"[0]()", "only a name can be called"},
		{"`1`()", "only a name can be called"},
		{"a || b && nope(c)", `unknown JMESPath function "nope()"`},
		{strings.Repeat("a", MaxExpressionBytes+1), "longer than 4096 bytes"},
		{strings.Repeat("a.", MaxDepth) + "a", "nests deeper than 100"},
		{"[" + strings.Repeat("a,", MaxNodes) + "a]", "more than 1000 nodes"},
		{strings.Repeat("(", 200) + "a" + strings.Repeat(")", 200), ""}, // parentheses add no node
	} {
		x, err := Compile(c.expr)
		if c.want == "" {
			if err != nil {
				t.Errorf("%.40q: %v", c.expr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40q: Compile = %v, %v; want an error with %q", c.expr, x, err, c.want)
			continue
		}
		want := reason.InvalidClass
		if strings.Contains(c.want, "longer") || strings.Contains(c.want, "deeper") || strings.Contains(c.want, "nodes") {
			want = reason.LimitExceeded
		}
		if got := reason.Of(err); got != want {
			t.Errorf("%.40q: reason %s, want %s", c.expr, got, want)
		}
	}
	// The same names and arity as go-jmespath, which calls the function
	// "amp" in one place and checks arity at run time: every name we know
	// it knows, with the arity it wants.
	for name, f := range functions {
		args := strings.TrimSuffix(strings.Repeat("@,", f.arity), ",")
		expr := name + "(" + args + ")"
		if _, err := Compile(expr); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
		_, goErr := goSearchErr(expr)
		if goErr != nil && strings.Contains(goErr.Error(), "unknown function") || goErr != nil && strings.Contains(goErr.Error(), "arg") {
			t.Errorf("%s: go-jmespath says %v", expr, goErr)
		}
	}
	if len(functions) != 26 {
		t.Errorf("%d functions, go-jmespath v0.4.0 has 26", len(functions))
	}
}

func goSearchErr(expr string) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("panic")
		}
	}()
	return goSearchData(expr, map[string]any{})
}

func TestErrorKinds(t *testing.T) {
	x, err := Compile("abs(username)")
	if err != nil {
		t.Fatal(err)
	}
	_, err = x.Search(decode(t, doc1), Budget{})
	var e *Error
	if !errors.As(err, &e) || reason.Of(err) != reason.InvalidValue || e.Offset != -1 {
		t.Fatalf("error %#v: want an *Error with reason InvalidValue", err)
	}
	_, err = Compile("a[")
	if !errors.As(err, &e) || e.Offset != 2 || reason.Of(err) != reason.InvalidClass {
		t.Fatalf("syntax error %#v: want offset 2, reason InvalidClass", err)
	}
}

// TestConcurrentSearch: one compiled expression (as spc keeps it) serves
// many goroutines, and neither the data nor its literals are modified
// (sort_by sorts a copy).
func TestConcurrentSearch(t *testing.T) {
	x, err := Compile("[sort_by(people, &age)[*].name, sort(`[3, 1, 2]`), reverse(names), people[*].name]")
	if err != nil {
		t.Fatal(err)
	}
	data := decode(t, doc1)
	before := show(data)
	const want = `[["bo","ann","cy"],[1,2,3],["bob","alice","carol"],["ann","bo","cy"]]`
	done := make(chan string)
	for range 8 {
		go func() {
			var last string
			for range 200 {
				res, err := x.Search(data, Budget{})
				if err != nil {
					done <- err.Error()
					return
				}
				last = show(res)
			}
			done <- last
		}()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Errorf("result %s, want %s", got, want)
		}
	}
	if after := show(data); after != before {
		t.Errorf("data changed:\n%s\n%s", before, after)
	}
	if lit := show(x.root.kids[1].kids[0].lit); lit != "[3,1,2]" {
		t.Errorf("literal changed: %s", lit)
	}
}
