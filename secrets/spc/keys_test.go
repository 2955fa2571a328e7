package spc

import (
	"strings"
	"testing"
)

// Keys of objects, jmesPath and failoverObject entries match in any case, as
// the AWS provider's decoder matches them.
func TestKeysAnyCase(t *testing.T) {
	s, err := Parse(objs(`
- OBJECTNAME: "arn:aws:secretsmanager:us-east-1:111122223333:secret:db"
  ObjectAlias: db
  filepermission: "0400"
  JmesPath:
    - Path: username
      OBJECTALIAS: user
      AllowNonString: true
  FailoverObject:
    ObjectName: "arn:aws:secretsmanager:us-west-2:111122223333:secret:db"
- {objectname: app/config, ObjectType: secretsmanager, ObjectVersionLabel: AWSPREVIOUS, allkeys: true}`,
		"region", "us-east-1", "failoverRegion", "us-west-2"), Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	db := s.Objects[0]
	if db.Type != SecretsManager || db.FileName != "db" || db.Mode != 0o400 || db.Failover == nil || db.Failover.Name != "arn:aws:secretsmanager:us-west-2:111122223333:secret:db" {
		t.Errorf("db = %+v", db)
	}
	if j := db.JMESPath; len(j) != 1 || j[0].Path != "username" || j[0].FileName != "user" || !j[0].AllowNonString || j[0].Mode != 0o400 {
		t.Errorf("jmesPath = %+v", j)
	}
	if c := s.Objects[1]; c.Name != "app/config" || !c.AllKeys || c.VersionLabel != "AWSPREVIOUS" {
		t.Errorf("config = %+v", c)
	}
}

// A key and its case variant in one entry: which one the AWS provider uses
// depends on the order of the document, so it is an error naming both.
func TestKeyCaseVariants(t *testing.T) {
	for _, tc := range []struct{ objects, field, a, b string }{
		{"- {objectName: a, objectType: secretsmanager, jmesPath: [{path: u, Path: v, objectAlias: u}]}", "objects[0].jmesPath[0].path", `"Path"`, `"path"`},
		{"- {objectName: a, ObjectName: b, objectType: secretsmanager}", "objects[0].objectName", `"ObjectName"`, `"objectName"`},
		{"- {objectName: a, objectType: secretsmanager, objectAlias: x, failoverObject: {objectName: b, OBJECTNAME: c}}", "objects[0].failoverObject.objectName", `"OBJECTNAME"`, `"objectName"`},
	} {
		r := Check(objs(tc.objects, "failoverRegion", "us-west-2"), Options{})
		var found bool
		for _, e := range r.Errors {
			if e.Field == tc.field && strings.Contains(e.Problem, tc.a) && strings.Contains(e.Problem, tc.b) && e.Fix != "" {
				found = true
			}
		}
		if r.Spec != nil || !found {
			t.Errorf("%s: no error at %s naming %s and %s; errors: %v", tc.objects, tc.field, tc.a, tc.b, r.Errors)
		}
	}
}

// Unknown keys: warnings with a suggestion, shown for every kind of entry;
// errors with Strict. objectTemplate stays an error, with a Why.
func TestUnknownKeys(t *testing.T) {
	params := objs(`
- objectName: a
  objectType: secretsmanager
  objectAlias: a
  objectAlais: typo
  inFallback: "true"
  jmesPath: [{path: u, objectAlias: u, objectAlas: v}]
  failoverObject: {objectName: b, objectVerson: "1"}`, "region", "us-east-1", "failoverRegion", "us-west-2")
	r := Check(params, Options{})
	if len(r.Errors) != 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	want := map[string]string{
		"objects[0].objectAlais":                 `did you mean "objectAlias"?`,
		"objects[0].inFallback":                  "remove it (known fields: objectName, objectType, objectAlias, objectVersion, objectVersionLabel, filePermission, jmesPath, failoverObject, allKeys)",
		"objects[0].jmesPath[0].objectAlas":      `did you mean "objectAlias"?`,
		"objects[0].failoverObject.objectVerson": `did you mean "objectVersion"?`,
	}
	for _, w := range r.Warnings {
		if fix, ok := want[w.Field]; ok && w.Fix == fix && w.Problem == "unknown field, ignored" {
			delete(want, w.Field)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing warnings %v; got %v", want, r.Warnings)
	}
	strict := Check(params, Options{Strict: true})
	if strict.Spec != nil || len(strict.Errors) != 4 {
		t.Errorf("Strict: want the 4 unknown keys as errors, got %v", strict.Errors)
	}

	r = Check(objs("- {objectName: a, objectType: secretsmanager, ObjectTemplate: '{{.}}'}"), Options{})
	if r.Spec != nil || len(r.Errors) != 1 || r.Errors[0].Field != "objects[0].ObjectTemplate" || r.Errors[0].Why == "" {
		t.Errorf("objectTemplate: %v", r.Errors)
	}
}
