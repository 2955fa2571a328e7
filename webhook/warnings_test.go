package webhook

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// TestClassWarningsReachTheUser: what a class declares that likely does not do
// what its author meant comes back as admission warnings (kubectl prints
// them), bounded for the API server; --strict-classes makes the unknown key a
// denial naming it. A class that names no region gets no warning for it.
func TestClassWarningsReachTheUser(t *testing.T) {
	lk := testLookups()
	typo := awsClass("apps", "typo", `- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  objectAlais: "db"
`)
	delete(typo.Parameters, "region")
	typo.SecretObjects = []spc.SecretObject{{SecretName: "db", Type: "Opaque", Data: []spc.SecretObjectData{{ObjectName: "db", Key: "password"}}}}
	lk.classes["apps/typo"] = typo
	clean := awsClass("apps", "clean", seedObjects)
	delete(clean.Parameters, "region")
	lk.classes["apps/clean"] = clean

	for _, mode := range []Mode{ModeCSI, ModeInit} {
		h := &Handler{Config: testConfig(), Lookups: lk}
		resp := post(t, h, review(t, admissionv1.Create, podKind, "apps",
			testPod(map[string]string{AnnotationSecretProviderClass: "typo", AnnotationMode: string(mode)})), "application/json")
		if !resp.Allowed {
			t.Fatalf("%s: denied: %v", mode, resp.Result)
		}
		all := strings.Join(resp.Warnings, "\n")
		sync := map[Mode]string{ModeCSI: "only where the chart value mounter.syncSecrets is true", ModeInit: "spec.secretObjects is never synced"}[mode]
		for _, want := range []string{`objects[0].objectAlais`, `did you mean "objectAlias"`, sync, "read the files at the mount path", string(mode) + " mode"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: warnings %q lack %q", mode, resp.Warnings, want)
			}
		}
		if strings.Contains(all, "region") {
			t.Errorf("%s: a region warning: %q", mode, resp.Warnings)
		}
		for _, w := range resp.Warnings {
			if len([]rune(w)) > maxWarningRunes {
				t.Errorf("warning of %d characters: %q", len([]rune(w)), w)
			}
		}

		resp = post(t, h, review(t, admissionv1.Create, podKind, "apps",
			testPod(map[string]string{AnnotationSecretProviderClass: "clean", AnnotationMode: string(mode)})), "application/json")
		if !resp.Allowed || len(resp.Warnings) != 0 {
			t.Errorf("%s: clean class: allowed %v, warnings %q", mode, resp.Allowed, resp.Warnings)
		}

		cfg := testConfig()
		cfg.StrictClasses = true
		h = &Handler{Config: cfg, Lookups: lk}
		resp = post(t, h, review(t, admissionv1.Create, podKind, "apps",
			testPod(map[string]string{AnnotationSecretProviderClass: "typo", AnnotationMode: string(mode)})), "application/json")
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "objectAlais") {
			t.Errorf("%s: strict: want a denial naming objectAlais, got allowed=%v %v", mode, resp.Allowed, resp.Result)
		}
	}
}

func TestClassWarningsAreBounded(t *testing.T) {
	var objs strings.Builder
	for i := range 40 {
		objs.WriteString("- objectName: \"o" + strings.Repeat("x", 200) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "\"\n  objectType: \"secretsmanager\"\n  objectAlais" + strings.Repeat("q", 200) + ": \"v\"\n")
	}
	c := awsClass("apps", "many", objs.String())
	r := spc.Check(c.Parameters, spc.Options{})
	if len(r.Errors) > 0 {
		t.Fatalf("class: %v", r.Errors)
	}
	w := classWarnings(c, r.Warnings, ModeCSI)
	if len(r.Warnings) <= maxWarnings || len(w) != maxWarnings {
		t.Fatalf("%d class warnings became %d admission warnings, want %d", len(r.Warnings), len(w), maxWarnings)
	}
	for _, s := range w {
		if n := len([]rune(s)); n > maxWarningRunes {
			t.Errorf("warning of %d characters", n)
		}
	}
}
