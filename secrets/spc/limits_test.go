package spc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// wantLimit asserts that r refused the class with a LimitExceeded problem at
// field, naming the cap, and that every problem is short.
func wantLimit(t *testing.T, r Result, field string, cap int) {
	t.Helper()
	var found bool
	for _, e := range r.Errors {
		if e.Field == field && e.Kind == reason.LimitExceeded && strings.Contains(e.Error(), fmt.Sprint(cap)) && e.Fix != "" {
			found = true
		}
		if n := len(e.Error()); n > 600 {
			t.Errorf("a problem of %d bytes: %.200s", n, e.Error())
		}
	}
	if r.Spec != nil || !found {
		t.Errorf("no LimitExceeded at %s naming %d; errors: %v", field, cap, r.Errors)
	}
}

func TestBounds(t *testing.T) {
	// The class as a whole, before any decoding: 10 MB of broken YAML gives
	// the one bound problem, not a YAML error.
	huge := objs("[" + strings.Repeat("{", 10<<20))
	r := Check(huge, Options{})
	wantLimit(t, r, "parameters", secrets.MaxClassBytes)
	if len(r.Errors) != 1 {
		t.Errorf("want only the size problem (the objects not decoded), got %v", r.Errors)
	}
	if _, err := Parse(huge, Options{}); reason.Of(err) != reason.LimitExceeded {
		t.Errorf("reason of %v = %s, want LimitExceeded", err, reason.Of(err))
	}

	var list strings.Builder
	for i := 0; i <= secrets.MaxObjects; i++ {
		fmt.Fprintf(&list, "- {objectName: s%d, objectType: secretsmanager}\n", i)
	}
	wantLimit(t, Check(objs(list.String()), Options{}), "parameters.objects", secrets.MaxObjects)

	var jmes strings.Builder
	jmes.WriteString("- objectName: big\n  objectType: secretsmanager\n  jmesPath:\n")
	for i := 0; i < secrets.MaxFiles; i++ {
		fmt.Fprintf(&jmes, "    - {path: k%d, objectAlias: f%d}\n", i, i)
	}
	wantLimit(t, Check(objs(jmes.String()), Options{}), fmt.Sprintf("objects[0].jmesPath[%d]", secrets.MaxFiles-1), secrets.MaxFiles)

	longName := strings.Repeat("n", 200<<10)
	r = Check(objs(fmt.Sprintf("- {objectName: %s, objectType: secretsmanager}", longName)), Options{})
	wantLimit(t, r, "objects[0].objectName", secrets.MaxObjectNameBytes)
	for _, e := range r.Errors {
		if len(e.ObjectName) > secrets.MaxObjectNameBytes {
			t.Errorf("the %d-byte name is repeated in %v", len(e.ObjectName), e.Field)
		}
	}
	wantLimit(t, Check(objs(fmt.Sprintf("- {objectName: a, objectAlias: a, objectType: secretsmanager, failoverObject: {objectName: %s}}", longName), "failoverRegion", "us-west-2"), Options{}),
		"objects[0].failoverObject.objectName", secrets.MaxObjectNameBytes)

	expr := strings.Repeat("a.", secrets.MaxExpressionBytes/2) + "b"
	wantLimit(t, Check(objs(fmt.Sprintf("- {objectName: a, objectType: secretsmanager, jmesPath: [{path: %q, objectAlias: u}]}", expr)), Options{}),
		"objects[0].jmesPath[0].path", secrets.MaxExpressionBytes)
	// At the bound the expression is compiled (and accepted): one long
	// identifier (a chain of subexpressions that long would nest too deep).
	ok := strings.Repeat("a", secrets.MaxExpressionBytes)
	if _, err := Parse(objs(fmt.Sprintf("- {objectName: a, objectType: secretsmanager, jmesPath: [{path: %q, objectAlias: u}]}", ok)), Options{}); err != nil {
		t.Errorf("expression of %d bytes: %v", len(ok), err)
	}
}

// A bound and a mistake together: the reason is the class's, not the bound's.
func TestInvalidErrorReason(t *testing.T) {
	lim := &secrets.Problem{Field: "parameters", Problem: "big", Kind: reason.LimitExceeded}
	bad := &secrets.Problem{Field: "parameters.region", Problem: "bad"}
	for _, tc := range []struct {
		issues []*secrets.Problem
		want   reason.Reason
	}{
		{[]*secrets.Problem{lim}, reason.LimitExceeded},
		{[]*secrets.Problem{lim, bad}, reason.InvalidClass},
		{[]*secrets.Problem{bad}, reason.InvalidClass},
		{nil, reason.InvalidClass},
	} {
		err := fmt.Errorf("wrapped: %w", &InvalidError{Issues: tc.issues})
		var inv *InvalidError
		if got := reason.Of(err); got != tc.want || !errors.As(err, &inv) {
			t.Errorf("%d issues: reason %s, want %s", len(tc.issues), got, tc.want)
		}
	}
}

// Names and values from the class reach messages through secrets.Quote:
// control characters escaped, long ones cut.
func TestMessagesQuoteInput(t *testing.T) {
	long := strings.Repeat("x", 1500)
	r := Check(map[string]string{
		"region":          "nowhere\x1b[31m" + long,
		"pathTranslation": "ab\n",
		"usePodIdentity":  long,
		"objects":         fmt.Sprintf("- {objectName: \"a\", objectType: \"%s\\u0007\", %s: 1}", long, long),
	}, Options{Strict: true})
	if len(r.Errors) < 4 {
		t.Fatalf("errors: %v", r.Errors)
	}
	for _, e := range r.Errors {
		msg := e.Error()
		if strings.ContainsAny(msg, "\x1b\a") || strings.Contains(msg, "ab\n") || strings.Contains(msg, long) || len(msg) > 600 {
			t.Errorf("message not quoted and bounded: %.300q", msg)
		}
	}
}
