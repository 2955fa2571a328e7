package spc

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/test/examples"
)

func TestParseSeedExample(t *testing.T) {
	c, err := DecodeClass(examples.SeedClass)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "aws-secretsmanager-reader" || c.Provider != "aws" {
		t.Fatalf("decoded %+v", c)
	}
	s, err := Parse(c.Parameters, Options{DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Objects) != 1 {
		t.Fatalf("want 1 object, got %d", len(s.Objects))
	}
	o := s.Objects[0]
	if o.Type != SecretsManager || o.Name != "my-app/db-credentials" || o.FileName != "my-app_db-credentials" || o.Mode != 0o644 {
		t.Errorf("object = %+v", o)
	}
	var got []string
	for _, p := range s.Plan() {
		got = append(got, p.Path)
	}
	if strings.Join(got, ",") != "my-app_db-credentials,db-user,db-password" {
		t.Errorf("plan = %v", got)
	}
	if s.Region != "us-east-1" || s.PathTranslation != "_" {
		t.Errorf("spec = %+v", s)
	}
}

func TestParseFeatures(t *testing.T) {
	params := map[string]string{
		"region":          "eu-west-1",
		"failoverRegion":  "eu-central-1",
		"pathTranslation": "-",
		"usePodIdentity":  "true",
		"refreshInterval": "45s",
		"objects": `
- objectName: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-AbCdEf"
  objectAlias: db
  filePermission: "0400"
  failoverObject:
    objectName: "arn:aws:secretsmanager:eu-central-1:111122223333:secret:app/db-XyZ123"
  jmesPath:
    - path: username
      objectAlias: nested/user
    - path: port
      objectAlias: port
      filePermission: "0440"
      allowNonString: true
- objectName: /app/port
  objectType: ssmparameter
  objectVersion: 3
- objectName: app/config
  objectType: secretsmanager
  objectVersionLabel: AWSPREVIOUS
  allKeys: true
`,
	}
	s, err := Parse(params, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db := s.Objects[0]
	if db.Type != SecretsManager || db.FileName != "db" || db.Mode != 0o400 || db.Failover == nil ||
		db.FailoverRef().Name != "arn:aws:secretsmanager:eu-central-1:111122223333:secret:app/db-XyZ123" {
		t.Errorf("db = %+v", db)
	}
	if j := db.JMESPath[0]; j.FileName != "nested-user" || j.Mode != 0o400 || j.Expr == nil {
		t.Errorf("jmes[0] = %+v (translation '-' and the object's mode expected)", j)
	}
	if j := db.JMESPath[1]; j.Mode != 0o440 || !j.AllowNonString {
		t.Errorf("jmes[1] = %+v", j)
	}
	if p := s.Objects[1]; p.Type != SSMParameter || p.Version != "3" || p.FileName != "-app-port" {
		t.Errorf("ssm = %+v", p)
	}
	if c := s.Objects[2]; !c.AllKeys || c.VersionLabel != "AWSPREVIOUS" {
		t.Errorf("config = %+v", c)
	}
	if !s.UsePodIdentity || s.RefreshInterval.String() != "45s" || s.FailoverRegion != "eu-central-1" {
		t.Errorf("spec = %+v", s)
	}
}

func TestPathTranslationDisabled(t *testing.T) {
	s, err := Parse(map[string]string{"region": "us-east-1", "pathTranslation": "False", "objects": `
- {objectName: /a/b/c, objectType: ssmparameter}`}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Objects[0].FileName; got != "a/b/c" {
		t.Errorf("file name = %q, want a/b/c (leading slash dropped, nested)", got)
	}
}

// TestParseErrors: every rejection names the field and says the fix. Cases
// marked strict are what the AWS provider accepts: errors with Options.Strict,
// warnings otherwise (TestLenientVerdicts).
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]string
		field  string // the Problem.Field expected among the errors
		msg    string // a substring of the problem
		strict bool   // checked with Options.Strict
	}{
		{"no objects", map[string]string{}, "parameters.objects", "missing", false},
		{"objects not yaml list", map[string]string{"objects": "objectName: x"}, "parameters.objects", "not a YAML list", false},
		{"empty list", map[string]string{"objects": "[]"}, "parameters.objects", "empty", false},
		{"entry not mapping", map[string]string{"objects": "- foo"}, "objects[0]", "not a mapping", false},
		{"missing name", map[string]string{"objects": "- objectType: secretsmanager"}, "objects[0].objectName", "missing", false},
		{"missing type", map[string]string{"objects": "- objectName: x"}, "objects[0].objectType", "missing", false},
		{"bad type", map[string]string{"objects": "- {objectName: x, objectType: vault}"}, "objects[0].objectType", "not a known object type", false},
		{"ssm is not accepted as type", map[string]string{"objects": "- {objectName: x, objectType: ssm}"}, "objects[0].objectType", "not a known", false},
		{"arn type mismatch", map[string]string{"objects": "- {objectName: 'arn:aws:ssm:us-east-1:1:parameter/x', objectType: secretsmanager}"}, "objects[0].objectType", "disagrees", false},
		{"arn bad service", map[string]string{"objects": "- {objectName: 'arn:aws:s3:us-east-1:1:bucket/x'}"}, "objects[0].objectName", "not secretsmanager or ssm", false},
		{"arn malformed", map[string]string{"objects": "- {objectName: 'arn:aws:secretsmanager'}"}, "objects[0].objectName", "not a valid ARN", false},
		{"arn region mismatch", map[string]string{"region": "us-east-1", "objects": "- {objectName: 'arn:aws:secretsmanager:eu-west-1:1:secret:x'}"}, "objects[0].objectName", "differs from region", false},
		{"unknown field with suggestion", map[string]string{"objects": "- {objectName: x, objectType: secretsmanager, objectAlais: y}"}, "objects[0].objectAlais", "unknown field", true},
		{"objectTemplate unsupported", map[string]string{"objects": "- {objectName: x, objectType: secretsmanager, objectTemplate: '{{.}}'}"}, "objects[0].objectTemplate", "not supported", false},
		{"duplicate alias", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, objectAlias: same}\n- {objectName: b, objectType: secretsmanager, objectAlias: same}"}, "objects[1].objectAlias", "already used", false},
		{"alias collides with default name", map[string]string{"objects": "- {objectName: a/b, objectType: secretsmanager}\n- {objectName: c, objectType: secretsmanager, objectAlias: a_b}"}, "objects[1].objectAlias", "already used", false},
		{"jmes alias collides", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: [{path: x, objectAlias: a}]}"}, "objects[0].jmesPath[0].objectAlias", "already used", false},
		{"dotdot alias", map[string]string{"pathTranslation": "False", "objects": "- {objectName: a, objectType: secretsmanager, objectAlias: ../../etc/passwd}"}, "objects[0].objectAlias", `".." element`, false},
		{"dotdot alias translated still bad", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, objectAlias: ..}"}, "objects[0].objectAlias", `".." element`, false},
		{"reserved prefix", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, objectAlias: ..data}"}, "objects[0].objectAlias", "reserved", false},
		{"long name", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, objectAlias: " + strings.Repeat("x", 256) + "}"}, "objects[0].objectAlias", "256 bytes", false},
		{"empty element", map[string]string{"pathTranslation": "false", "objects": "- {objectName: a//b, objectType: ssmparameter}"}, "objects[0].objectName", "empty path element", false},
		{"jmes path missing", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: [{objectAlias: u}]}"}, "objects[0].jmesPath[0].path", "missing", false},
		{"jmes alias missing", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: [{path: u}]}"}, "objects[0].jmesPath[0].objectAlias", "missing", false},
		{"jmes bad expr", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: [{path: 'a[', objectAlias: u}]}"}, "objects[0].jmesPath[0].path", "invalid JMESPath", false},
		{"jmes not a list", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: x}"}, "objects[0].jmesPath", "not a list", false},
		{"perm unquoted", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, filePermission: 0600}"}, "objects[0].filePermission", "not a quoted", false},
		{"perm bad digits", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, filePermission: '0800'}"}, "objects[0].filePermission", "not an octal", false},
		{"perm setuid", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, filePermission: '4755'}"}, "objects[0].filePermission", "not a quoted", false},
		{"ssm both selectors", map[string]string{"objects": "- {objectName: a, objectType: ssmparameter, objectVersion: '1', objectVersionLabel: l}"}, "objects[0].objectVersion", "not both", false},
		{"ssm bad version", map[string]string{"objects": "- {objectName: a, objectType: ssmparameter, objectVersion: latest}"}, "objects[0].objectVersion", "not a positive", true},
		{"allKeys with jmes", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, allKeys: true, jmesPath: [{path: u, objectAlias: u}]}"}, "objects[0].allKeys", "cannot be combined", false},
		{"allKeys not bool", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, allKeys: 'yes'}"}, "objects[0].allKeys", "boolean", false},
		{"failover without region", map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, objectAlias: a, failoverObject: {objectName: b}}"}, "objects[0].failoverObject", "needs parameters.failoverRegion", false},
		{"failover without alias", map[string]string{"failoverRegion": "us-west-2", "objects": "- {objectName: a, objectType: secretsmanager, failoverObject: {objectName: b}}"}, "objects[0].failoverObject", "needs objectAlias", false},
		{"failover version mismatch", map[string]string{"failoverRegion": "us-west-2", "objects": "- {objectName: a, objectType: secretsmanager, objectAlias: a, objectVersion: v1, failoverObject: {objectName: b}}"}, "objects[0].failoverObject.objectVersion", "differs", false},
		{"failover arn wrong region", map[string]string{"region": "us-east-1", "failoverRegion": "us-west-2", "objects": "- {objectName: 'arn:aws:secretsmanager:us-east-1:1:secret:a', objectAlias: a, failoverObject: {objectName: 'arn:aws:secretsmanager:eu-west-1:1:secret:a'}}"}, "objects[0].failoverObject.objectName", "differs from failoverRegion", false},
		{"arn needs failover object", map[string]string{"region": "us-east-1", "failoverRegion": "us-west-2", "objects": "- {objectName: 'arn:aws:secretsmanager:us-east-1:1:secret:a'}"}, "objects[0].failoverObject", "needs a failoverObject", true},
		{"bad region", map[string]string{"region": "Virginia", "objects": "- {objectName: a, objectType: secretsmanager}"}, "parameters.region", "not a region code", false},
		{"same failover region", map[string]string{"region": "us-east-1", "failoverRegion": "us-east-1", "objects": "- {objectName: a, objectType: secretsmanager}"}, "parameters.failoverRegion", "same as the primary", false},
		{"bad translation", map[string]string{"pathTranslation": "__", "objects": "- {objectName: a, objectType: secretsmanager}"}, "parameters.pathTranslation", "not a single character", false},
		{"slash translation", map[string]string{"pathTranslation": "/", "objects": "- {objectName: a, objectType: secretsmanager}"}, "parameters.pathTranslation", "not a single character", false},
		{"bad pod identity", map[string]string{"usePodIdentity": "yes", "objects": "- {objectName: a, objectType: secretsmanager}"}, "parameters.usePodIdentity", "not a boolean", false},
		{"bad refresh", map[string]string{"refreshInterval": "1s", "objects": "- {objectName: a, objectType: secretsmanager}"}, "parameters.refreshInterval", "too short", false},
		{"name with newline", map[string]string{"objects": "- {objectName: \"a\\n\", objectType: secretsmanager}"}, "objects[0].objectName", "whitespace", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Strict: tc.strict}
			r := Check(tc.params, opts)
			if r.Spec != nil || len(r.Errors) == 0 {
				t.Fatalf("accepted; want an error on %s", tc.field)
			}
			var found bool
			for _, is := range r.Errors {
				if is.Problem == "" || is.Fix == "" || is.Field == "" {
					t.Errorf("incomplete issue %+v", is)
				}
				if is.Field == tc.field && strings.Contains(is.Problem, tc.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error on %s containing %q; got:\n%v", tc.field, tc.msg, (&InvalidError{Issues: r.Errors}).Error())
			}
			if _, err := Parse(tc.params, opts); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Parse error %v does not name %s", err, tc.field)
			}
		})
	}
}

func TestSuggestionsAndWarnings(t *testing.T) {
	r := Check(map[string]string{"regoin": "us-east-1", "objects": `
- {objectName: a, objectType: secretsmanager, objectAlias: Token}
- {objectName: b, objectType: secretsmanager, objectAlias: token}`}, Options{})
	if len(r.Errors) != 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	var msgs []string
	for _, w := range r.Warnings {
		msgs = append(msgs, w.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{`parameters.regoin: unknown parameter, ignored; fix: did you mean "region"?`, "only by case", "no region set"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	typo := map[string]string{"objects": "- {objectName: x, objectType: secretsmanager, objectAlais: y}"}
	r = Check(typo, Options{Strict: true})
	if len(r.Errors) != 1 || r.Errors[0].Fix != `did you mean "objectAlias"?` {
		t.Errorf("errors = %v", r.Errors)
	}
	// Without Strict the unknown key is ignored, as the AWS provider ignores
	// it, and warned about with the same suggestion.
	r = Check(typo, Options{})
	var found bool
	for _, w := range r.Warnings {
		if w.Field == "objects[0].objectAlais" && w.Problem == "unknown field, ignored" && w.Fix == `did you mean "objectAlias"?` {
			found = true
		}
	}
	if len(r.Errors) != 0 || !found {
		t.Errorf("errors = %v, warnings = %v", r.Errors, r.Warnings)
	}
}

func TestCollectsEveryError(t *testing.T) {
	r := Check(map[string]string{"region": "nowhere", "objects": `
- {objectType: secretsmanager}
- {objectName: b, objectType: nope}
- {objectName: c, objectType: secretsmanager, jmesPath: [{path: '[', objectAlias: x}]}`}, Options{})
	if len(r.Errors) < 4 {
		t.Errorf("want at least 4 errors, got %d: %v", len(r.Errors), r.Errors)
	}
	for _, is := range r.Errors {
		if is.Field != "parameters.region" && is.Object < 0 {
			t.Errorf("object-level issue without index: %+v", is)
		}
	}
}

func TestDecodeClass(t *testing.T) {
	_, err := DecodeClass([]byte(`apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: x}
spec:
  provider: azure
  parameters:
    usePodIdentity: true
    objects: "- {objectName: a, objectType: secretsmanager}"`))
	if err == nil {
		t.Fatal("accepted provider azure and an unquoted boolean")
	}
	for _, want := range []string{`provider "azure" is not "aws"`, "spec.parameters.usePodIdentity: is a boolean", `quote the value, e.g. usePodIdentity: "true"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := DecodeClass([]byte("apiVersion: v1\nkind: Pod\n")); err == nil || !strings.Contains(err.Error(), "not a SecretProviderClass") {
		t.Errorf("pod accepted: %v", err)
	}
	if _, err := DecodeClass([]byte(": : :")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestDefaultModes(t *testing.T) {
	s, err := Parse(map[string]string{"objects": "- {objectName: a, objectType: secretsmanager, jmesPath: [{path: u, objectAlias: u}]}"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Objects[0].Mode != fs.FileMode(0o644) || s.Objects[0].JMESPath[0].Mode != 0o644 {
		t.Errorf("modes = %v %v", s.Objects[0].Mode, s.Objects[0].JMESPath[0].Mode)
	}
}

// Options.DefaultFileMode replaces 0644 for files without filePermission
// only: an object's or an entry's own filePermission still wins.
func TestOptionsDefaultFileMode(t *testing.T) {
	s, err := Parse(map[string]string{"objects": `
- {objectName: a, objectType: secretsmanager, jmesPath: [{path: u, objectAlias: u}, {path: p, objectAlias: p, filePermission: "0400"}]}
- {objectName: b, objectType: secretsmanager, filePermission: "0440", jmesPath: [{path: u, objectAlias: bu}]}`}, Options{DefaultFileMode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Objects[0], s.Objects[1]
	got := []fs.FileMode{a.Mode, a.JMESPath[0].Mode, a.JMESPath[1].Mode, b.Mode, b.JMESPath[0].Mode}
	want := []fs.FileMode{0o640, 0o640, 0o400, 0o440, 0o440}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("modes = %o, want %o", got, want)
			break
		}
	}
}
