package spc

import (
	"strings"
	"testing"
)

func TestExpressionKind(t *testing.T) {
	tests := []struct {
		expr string
		want resultKind
	}{
		// May be a string: no warning.
		{"username", kindAny},
		{"db.username", kindAny},
		{`"user-name"`, kindAny},
		{"hosts[0]", kindAny},
		{"@", kindAny},
		{"a || b", kindAny},
		{"a || `1`", kindAny},
		{"a && b", kindAny},
		{"max(ports)", kindAny},
		{"not_null(a, b)", kindAny},
		{"hosts[*].name | [0]", kindAny},
		{"to_string(port)", kindString},
		{"join(',', hosts)", kindString},
		{"type(@)", kindString},
		{"'raw'", kindString},
		{"`\"json\"`", kindString},
		{"a.to_string(@)", kindString},
		{"not valid ((", kindAny},
		// Never a string.
		{"length(password)", kindNumber},
		{"to_number(port)", kindNumber},
		{"`42`", kindNumber},
		{"`true`", kindBool},
		{"`null`", kindNull},
		{"`[1]`", kindArray},
		{"`{\"a\": 1}`", kindObject},
		{"keys(@)", kindArray},
		{"values(@)", kindArray},
		{"sort(names)", kindArray},
		{"[username, password]", kindArray},
		{"{u: username}", kindObject},
		{"merge(a, b)", kindObject},
		{"a == b", kindBool},
		{"port > `1024`", kindBool},
		{"!enabled", kindBool},
		{"contains(tags, 'x')", kindBool},
		{"starts_with(url, 'https')", kindBool},
		{"hosts[*]", kindArray},
		{"hosts[*].name", kindArray},
		{"a.b[*]", kindArray},
		{"*.name", kindArray},
		{"hosts[?up].name", kindArray},
		{"hosts[]", kindArray},
		{"hosts[1:3]", kindArray},
		{"a | length(@)", kindNumber},
		{"a.[b, c]", kindArray},
		{"a.{x: b}", kindObject},
		{"`1` || `true`", kindNonString},
		{"(a == b) && `3`", kindNonString},
	}
	for _, tt := range tests {
		if got := expressionKind(tt.expr); got != tt.want {
			t.Errorf("expressionKind(%q) = %d (%s), want %d (%s)", tt.expr, got, got.describe(), tt.want, tt.want.describe())
		}
	}
}

func TestWarnNonStringJMESPath(t *testing.T) {
	params := map[string]string{
		"region": "us-east-1",
		"objects": `
- objectName: app/db
  objectType: secretsmanager
  jmesPath:
    - path: username
      objectAlias: user
    - path: length(password)
      objectAlias: pwlen
    - path: keys(@)
      objectAlias: keys
      allowNonString: true
    - path: to_string(port)
      objectAlias: port
    - path: "[username, password]"
      objectAlias: both
`,
	}
	r := Check(params, Options{})
	if len(r.Errors) != 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	if len(r.Warnings) != 2 {
		t.Fatalf("want 2 warnings, got %d: %v", len(r.Warnings), r.Warnings)
	}
	w := r.Warnings[0]
	if w.Field != "objects[0].jmesPath[1].path" || w.Object != 0 || w.ObjectName != "app/db" ||
		!strings.Contains(w.Problem, `"length(password)" always yields a number`) || !strings.Contains(w.Fix, "allowNonString") {
		t.Errorf("warning 0 = %+v", w)
	}
	if w := r.Warnings[1]; w.Field != "objects[0].jmesPath[4].path" || !strings.Contains(w.Problem, "a list") {
		t.Errorf("warning 1 = %+v", w)
	}
}

func FuzzExpressionKind(f *testing.F) {
	for _, s := range []string{"a", "length(@)", "[a, {b: c}]", "a[?b > `1`].c | [0]", "`{}` || x", "(", "a.b.c[*]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		k := expressionKind(expr)
		if k < kindAny || k > kindNonString {
			t.Fatalf("kind %d out of range", k)
		}
		if k2 := expressionKind(expr); k2 != k {
			t.Fatalf("unstable: %d then %d", k, k2)
		}
	})
}
