package extract

import (
	"errors"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

func parse(t *testing.T, params map[string]string) *spc.Spec {
	t.Helper()
	if _, ok := params["region"]; !ok {
		params["region"] = "us-east-1"
	}
	s, err := spc.Parse(params, spc.Options{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s
}

func str(s string) secrets.Fetched { return secrets.Fetched{Value: secrets.NewStringValue(s)} }

func fileMap(files []secrets.File) map[string]string {
	m := map[string]string{}
	for _, f := range files {
		m[f.Path] = string(f.Content.Bytes())
	}
	return m
}

func TestSeedExample(t *testing.T) {
	s := parse(t, map[string]string{"objects": `
- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  jmesPath:
    - path: "username"
      objectAlias: "db-user"
    - path: "password"
      objectAlias: "db-password"
      filePermission: "0400"
`})
	files, err := Files(s, []secrets.Fetched{str(`{"username":"admin","password":"supersecretpassword"}`)})
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(files)
	want := map[string]string{
		"my-app_db-credentials": `{"username":"admin","password":"supersecretpassword"}`,
		"db-user":               "admin",
		"db-password":           "supersecretpassword",
	}
	if len(got) != len(want) {
		t.Fatalf("files = %v, want %v", keys(got), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, f := range files {
		wantMode := spc.DefaultFileMode
		if f.Path == "db-password" {
			wantMode = 0o400
		}
		if f.Mode != wantMode {
			t.Errorf("%s mode %o, want %o", f.Path, f.Mode, wantMode)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestBinaryRawAndJSONBinary(t *testing.T) {
	s := parse(t, map[string]string{"objects": `
- objectName: cert
  objectType: secretsmanager
- objectName: jsonbin
  objectType: secretsmanager
  jmesPath: [{path: k, objectAlias: k}]
`})
	raw := []byte{0, 1, 2, 0xff, '\n'}
	files, err := Files(s, []secrets.Fetched{
		{Value: secrets.NewValue(raw), Binary: true},
		{Value: secrets.NewValue([]byte(`{"k":"v"}`)), Binary: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(files)
	if got["cert"] != string(raw) {
		t.Errorf("cert = %q, want raw bytes", got["cert"])
	}
	if got["k"] != "v" {
		t.Errorf("k = %q, want v", got["k"])
	}
}

func TestJMESPathErrors(t *testing.T) {
	const secret = `{"username":"admin","port":5432,"on":true,"nested":{"a":"x"},"list":[1,2],"nul":null}`
	cases := []struct {
		name, path string
		allow      bool
		want       string // substring of the error, or of the content when ok
		ok         bool
	}{
		{"string", "username", false, "admin", true},
		{"number refused", "port", false, "yields a number, not a string", false},
		{"bool refused", "on", false, "yields a boolean", false},
		{"object refused", "nested", false, "yields a object", false},
		{"array refused", "list", false, "yields a array", false},
		{"missing", "nope", false, `"nope" matched nothing`, false},
		{"null", "nul", false, "matched nothing", false},
		{"number allowed", "port", true, "5432", true},
		{"bool allowed", "on", true, "true", true},
		{"object allowed", "nested", true, `{"a":"x"}`, true},
		{"array allowed", "list", true, `[1,2]`, true},
		{"function type error", "abs(username)", false, "wrong type", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allow := ""
			if tc.allow {
				allow = ", allowNonString: true"
			}
			s := parse(t, map[string]string{"objects": `
- objectName: app/secret
  objectType: secretsmanager
  jmesPath: [{path: "` + tc.path + `", objectAlias: out` + allow + `}]
`})
			files, err := Files(s, []secrets.Fetched{str(secret)})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got := fileMap(files)["out"]; got != tc.want {
					t.Fatalf("out = %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, files %v", fileMap(files))
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, `objects[0].jmesPath[0].path (object "app/secret")`) {
				t.Fatalf("error %q lacks %q or the object", msg, tc.want)
			}
			if !tc.allow && strings.Contains(tc.want, "not a string") && !strings.Contains(msg, "allowNonString: true") {
				t.Fatalf("error %q does not suggest allowNonString", msg)
			}
			for _, v := range []string{"admin", "5432", "supersecret"} {
				if strings.Contains(msg, v) && !strings.Contains(tc.path, v) {
					t.Fatalf("error leaks value %q: %s", v, msg)
				}
			}
			var e *secrets.Problem
			if !errors.As(err, &e) || e.Reason() != reason.InvalidValue || e.Object != 0 {
				t.Fatalf("error %T is not a *secrets.Problem for object 0", err)
			}
		})
	}
}

func TestNonJSONWithJMESPath(t *testing.T) {
	s := parse(t, map[string]string{"objects": `
- objectName: plain
  objectType: ssmparameter
  jmesPath: [{path: a, objectAlias: a}]
`})
	_, err := Files(s, []secrets.Fetched{str("hunter2-not-json")})
	if err == nil {
		t.Fatal("no error for a non-JSON value with jmesPath")
	}
	msg := err.Error()
	if !strings.Contains(msg, `objects[0].jmesPath (object "plain")`) || !strings.Contains(msg, "not valid JSON") {
		t.Fatalf("error %q does not name the object and the problem", msg)
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "'h'") {
		t.Fatalf("error leaks the value: %s", msg)
	}
}

func TestAllKeys(t *testing.T) {
	s := parse(t, map[string]string{"objects": `
- objectName: app/config
  objectType: secretsmanager
  objectAlias: config.json
  allKeys: true
  filePermission: "0440"
- objectName: other
  objectType: secretsmanager
`})
	secret := `{"user":"admin","port":5432,"big":12345678901234567890,"tls/ca":"PEM","obj":{ "a" : [1, 2] },"flag":false,"empty":""}`
	files, err := Files(s, []secrets.Fetched{str(secret), str("x")})
	if err != nil {
		t.Fatal(err)
	}
	got := fileMap(files)
	want := map[string]string{
		"config.json": secret, "other": "x",
		"user": "admin", "port": "5432", "big": "12345678901234567890", "tls_ca": "PEM",
		"obj": `{"a":[1,2]}`, "flag": "false", "empty": "",
	}
	if len(got) != len(want) {
		t.Fatalf("files %v, want %v", keys(got), keys(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (present %v), want %q", k, g, ok, v)
		}
	}
	for _, f := range files {
		if f.Path != "other" && f.Mode != 0o440 {
			t.Errorf("%s mode %o, want 0440", f.Path, f.Mode)
		}
	}
}

func TestAllKeysRejections(t *testing.T) {
	s := parse(t, map[string]string{"objects": `
- objectName: app/config
  objectType: secretsmanager
  allKeys: true
- objectName: db-user
  objectType: secretsmanager
`})
	cases := []struct{ value, want string }{
		{`{"db-user":"x"}`, `makes file name "db-user", already used by objects[1]`},
		{`{"app_config":"x"}`, `already used by objects[0]`},
		{`{"..data":"x"}`, "does not make a valid file name"},
		{`{"":"x"}`, "does not make a valid file name"},
		{`["a"]`, "JSON array, allKeys needs a JSON object"},
		{`"str"`, "JSON string, allKeys needs a JSON object"},
		{`not json`, "not valid JSON (syntax error at byte"},
	}
	for _, tc := range cases {
		_, err := Files(s, []secrets.Fetched{str(tc.value), str("y")})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("value %s: error %v, want %q", tc.value, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), `objects[0].allKeys (object "app/config")`) {
			t.Errorf("error %q does not name the object", err)
		}
	}
	// With translation disabled a leading "/" is dropped, "/" inside makes a subdirectory.
	s2 := parse(t, map[string]string{"pathTranslation": "False", "objects": `
- objectName: cfg
  objectType: secretsmanager
  allKeys: true
`})
	files, err := Files(s2, []secrets.Fetched{str(`{"/a/b":"1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fileMap(files); got["a/b"] != "1" {
		t.Fatalf("files %v, want a/b", got)
	}
}

func TestMismatchedValues(t *testing.T) {
	s := parse(t, map[string]string{"objects": "- {objectName: a, objectType: secretsmanager}"})
	if _, err := Files(s, nil); err == nil {
		t.Fatal("no error for missing values")
	}
}

func TestNestingConflict(t *testing.T) {
	s := parse(t, map[string]string{"pathTranslation": "False", "objects": `
- {objectName: cfg, objectType: secretsmanager, allKeys: true}
- {objectName: x, objectType: secretsmanager}
`})
	_, err := Files(s, []secrets.Fetched{str(`{"x/y":"1"}`), str("2")})
	if err == nil || !strings.Contains(err.Error(), `file "x" would also have to be the directory of "x/y"`) {
		t.Fatalf("error %v, want a nesting conflict", err)
	}
}
