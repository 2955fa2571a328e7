package spc

import (
	"strings"
	"testing"
)

// A file where another name needs a directory cannot be written: refused at
// the nested name, whichever comes first.
func TestNesting(t *testing.T) {
	for _, tc := range []struct{ objects, field string }{
		{"- {objectName: a, objectType: secretsmanager}\n- {objectName: a/b, objectType: secretsmanager}", "objects[1].objectName"},
		{"- {objectName: a/b/c, objectType: secretsmanager}\n- {objectName: a, objectType: secretsmanager}", "objects[0].objectName"},
		{"- {objectName: x, objectType: secretsmanager, objectAlias: cfg, jmesPath: [{path: u, objectAlias: cfg/user}]}", "objects[0].jmesPath[0].objectAlias"},
	} {
		r := Check(objs(tc.objects, "pathTranslation", "False"), Options{})
		var found bool
		for _, e := range r.Errors {
			if e.Field == tc.field && strings.Contains(e.Problem, "to be a directory") && e.Why == whyNesting {
				found = true
			}
		}
		if r.Spec != nil || !found {
			t.Errorf("%q: no nesting error at %s: %v", tc.objects, tc.field, r.Errors)
		}
	}
	// Siblings and shared directories are fine.
	if _, err := Parse(objs("- {objectName: a/b, objectType: secretsmanager}\n- {objectName: a/c/d, objectType: secretsmanager}\n- {objectName: ab, objectType: secretsmanager}", "pathTranslation", "False"), Options{}); err != nil {
		t.Errorf("siblings refused: %v", err)
	}
}

// The Why of a refused path says what the AWS provider would do; none when
// it refuses the path too.
func TestPathWhy(t *testing.T) {
	for p, want := range map[string]string{
		"../x": "", "a/../b": "", "a/..": "",
		"..":                                     whyOutside,
		"..data":                                 whyReserved,
		"a/..x":                                  whyReserved,
		"a//b":                                   whyAmbiguous,
		"./a":                                    whyAmbiguous,
		strings.Repeat("x", 256):                 whyOSLimit,
		"\xff":                                   whyUTF8,
		"a/" + strings.Repeat("y", 300) + "/..z": whyReserved,
	} {
		if got := pathWhy(p); got != want {
			t.Errorf("pathWhy(%.40q) = %q, want %q", p, got, want)
		}
	}
}

// A collision the AWS provider refuses too carries no Why; one it would write
// (two names translating to one file) does.
func TestCollisionWhy(t *testing.T) {
	for _, tc := range []struct {
		objects string
		why     bool
	}{
		{"- {objectName: a, objectType: secretsmanager, objectAlias: same}\n- {objectName: b, objectType: secretsmanager, objectAlias: same}", false},
		{"- {objectName: a, objectType: secretsmanager}\n- {objectName: a, objectType: secretsmanager}", false},
		{"- {objectName: a/b, objectType: secretsmanager}\n- {objectName: a_b, objectType: secretsmanager}", true},
		{"- {objectName: x, objectType: secretsmanager, objectAlias: a/b}\n- {objectName: q, objectType: secretsmanager, objectAlias: a_b}", true},
		{"- {objectName: a, objectType: secretsmanager, objectVersionLabel: L1}\n- {objectName: a, objectType: secretsmanager, objectVersionLabel: L2}", true},
	} {
		r := Check(objs(tc.objects), Options{})
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Problem, "already used") || (r.Errors[0].Why != "") != tc.why {
			t.Errorf("%q: errors %v, want one collision with Why=%v", tc.objects, r.Errors, tc.why)
		}
	}
}

// setuid, setgid and sticky modes are refused with a Why; plain modes pass.
func TestFileModeSpecialBits(t *testing.T) {
	r := Check(objs(`- {objectName: a, objectType: secretsmanager, filePermission: "4755"}`), Options{})
	if len(r.Errors) != 1 || r.Errors[0].Why == "" || r.Errors[0].Field != "objects[0].filePermission" {
		t.Errorf("4755: %v", r.Errors)
	}
	if _, err := Parse(objs(`- {objectName: a, objectType: secretsmanager, filePermission: "0000"}`), Options{}); err != nil {
		t.Errorf("0000: %v", err)
	}
}
