package extract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	gojmespath "github.com/jmespath/go-jmespath"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// limitProblem returns the *secrets.Problem of err, which must have reason
// LimitExceeded.
func limitProblem(t *testing.T, err error) *secrets.Problem {
	t.Helper()
	var p *secrets.Problem
	if !errors.As(err, &p) || reason.Of(err) != reason.LimitExceeded {
		t.Fatalf("error %v (%T): want a *secrets.Problem with reason LimitExceeded", err, err)
	}
	return p
}

func TestJMESPathOverBudget(t *testing.T) {
	doubling := strings.Repeat("[@, @] | ", 24) + "to_string(@)"
	s := parse(t, map[string]string{"objects": `
- objectName: app/db
  objectType: secretsmanager
  jmesPath:
    - {path: username, objectAlias: user}
    - {path: "` + doubling + `", objectAlias: boom}
`})
	secret := `{"username":"admin","password":"` + strings.Repeat("p", 1000) + `"}`
	files, err := Files(s, []secrets.Fetched{str(secret)})
	if err == nil {
		t.Fatalf("no error, %d files", len(files))
	}
	p := limitProblem(t, err)
	msg := err.Error()
	for _, want := range []string{`objects[0].jmesPath[1].path (object "app/db")`, "over its evaluation budget",
		"1048576 bytes", "fix: simplify the expression", "1048576 steps"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if p.Object != 0 || strings.Contains(msg, "ppppp") || strings.Contains(msg, "admin") {
		t.Errorf("problem %+v: wrong object or shows the value", p)
	}
	if len(msg) > 600 {
		t.Errorf("message is %d bytes: %s", len(msg), msg)
	}
	t.Logf("%s", msg)
}

func TestValueOverLimit(t *testing.T) {
	s := parse(t, map[string]string{"objects": `
- {objectName: big, objectType: secretsmanager}
- {objectName: ok, objectType: secretsmanager}
`})
	huge := strings.Repeat("s3cr3t", secrets.MaxValueBytes/6+1)
	_, err := Files(s, []secrets.Fetched{str(huge), str("fine")})
	p := limitProblem(t, err)
	msg := err.Error()
	if p.Object != 0 || p.Field != "objects[0]" || !strings.Contains(msg, fmt.Sprintf("over the limit of %d bytes", secrets.MaxValueBytes)) {
		t.Fatalf("problem %q: want objects[0] over the value limit", msg)
	}
	if strings.Contains(msg, "s3cr3t") || len(msg) > 300 {
		t.Fatalf("message shows the value or is long: %q", msg)
	}
	// At the limit itself, the value is fine.
	files, err := Files(s, []secrets.Fetched{str(strings.Repeat("x", secrets.MaxValueBytes)), str("fine")})
	if err != nil || len(files) != 2 {
		t.Fatalf("value of exactly %d bytes: %v", secrets.MaxValueBytes, err)
	}
}

func TestSetOverFileLimit(t *testing.T) {
	s := parse(t, map[string]string{"objects": "- {objectName: cfg, objectType: secretsmanager, allKeys: true}"})
	for _, n := range []int{secrets.MaxFiles - 1, secrets.MaxFiles} {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k%04d", i)] = "v"
		}
		raw, _ := json.Marshal(m)
		files, err := Files(s, []secrets.Fetched{str(string(raw))})
		if n == secrets.MaxFiles-1 {
			// The whole value and n keys: exactly MaxFiles files.
			if err != nil || len(files) != secrets.MaxFiles {
				t.Fatalf("%d keys: %d files, %v", n, len(files), err)
			}
			continue
		}
		p := limitProblem(t, err)
		if p.Field != "objects" || !strings.Contains(err.Error(), fmt.Sprintf("more than %d files", secrets.MaxFiles)) {
			t.Fatalf("%d keys: %v", n, err)
		}
	}
}

func TestSetOverByteLimit(t *testing.T) {
	n := secrets.MaxSetBytes/secrets.MaxValueBytes + 1
	var objects strings.Builder
	vals := make([]secrets.Fetched, n)
	for i := range n {
		fmt.Fprintf(&objects, "- {objectName: s%d, objectType: secretsmanager}\n", i)
		vals[i] = str(strings.Repeat("v", secrets.MaxValueBytes))
	}
	s := parse(t, map[string]string{"objects": objects.String()})
	_, err := Files(s, vals)
	p := limitProblem(t, err)
	if p.Field != "objects" || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", secrets.MaxSetBytes)) {
		t.Fatalf("error %v", err)
	}
	// One object fewer fits.
	s = parse(t, map[string]string{"objects": strings.Join(strings.SplitAfter(objects.String(), "\n")[1:], "")})
	if files, err := Files(s, vals[1:]); err != nil || len(files) != n-1 {
		t.Fatalf("%d values of %d bytes: %v", n-1, secrets.MaxValueBytes, err)
	}
}

// TestReasons: every failure carries its reason (reason.Of reads it).
func TestReasons(t *testing.T) {
	s := parse(t, map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: [{path: nope, objectAlias: u}]}"})
	_, err := Files(s, []secrets.Fetched{str(`{"x":1}`)})
	if got := reason.Of(err); got != reason.InvalidValue {
		t.Fatalf("reason %s, want %s", got, reason.InvalidValue)
	}
	// An entry built without spc (which refuses it at validation) is compiled
	// by extract itself, with the same verdict.
	s = parse(t, map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: [{path: x, objectAlias: u}]}"})
	s.Objects[0].JMESPath[0].Path, s.Objects[0].JMESPath[0].Expr = "nofunc(@)", nil
	_, err = Files(s, []secrets.Fetched{str(`{"x":1}`)})
	if got := reason.Of(err); got != reason.InvalidClass || !strings.Contains(err.Error(), `unknown JMESPath function "nofunc()"`) {
		t.Fatalf("error %v, reason %s: want the unknown function, %s", err, got, reason.InvalidClass)
	}
}

// TestSameBytesAsGoJMESPath: what a jmesPath entry writes is byte for byte
// what the go-jmespath path wrote before (Search, then the string as is or
// the value through json.Marshal), numbers included.
func TestSameBytesAsGoJMESPath(t *testing.T) {
	secret := `{"s":"plain","port":5432,"big":12345678901234567890,"tiny":0.0000001,"neg":-0,"f":1.50,"exp":1E+30,
"list":[1,2.5,"x",null,true],"obj":{"b":[1,{"c":"<&>"}],"a":"é\u2028"},"t":true,"items":[{"n":"a","v":3},{"n":"b","v":1}]}`
	paths := []string{"s", "port", "big", "tiny", "neg", "f", "exp", "list", "obj", "t", "items[*].v", "sort_by(items, &v)",
		"obj.b", "to_string(obj)", "length(list)", "avg(items[*].v)", "max_by(items, &v)", "obj.a", "[port, big]",
		"{p: port, t: tiny}", "abs(neg)", "sum([big, tiny])", "merge(obj, {z: port})", "join('-', [s, obj.a])"}
	var objects strings.Builder
	objects.WriteString("- objectName: app/all\n  objectType: secretsmanager\n  jmesPath:\n")
	for i, p := range paths {
		fmt.Fprintf(&objects, "    - {path: %q, objectAlias: f%d, allowNonString: true}\n", p, i)
	}
	s := parse(t, map[string]string{"objects": objects.String()})
	files, err := Files(s, []secrets.Fetched{str(secret)})
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(files)
	var doc any
	if err := json.Unmarshal([]byte(secret), &doc); err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		res, err := gojmespath.Search(p, doc)
		if err != nil {
			t.Fatalf("%s: go-jmespath: %v", p, err)
		}
		want, ok := res.(string)
		if !ok {
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			want = string(b)
		}
		if g := got[fmt.Sprintf("f%d", i)]; g != want {
			t.Errorf("%s: wrote %q, go-jmespath path wrote %q", p, g, want)
		}
	}
}
