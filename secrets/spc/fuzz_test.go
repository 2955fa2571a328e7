package spc

import (
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// FuzzCheck: any input yields either a Spec or errors, never both, never a panic;
// every error is complete; every file name of an accepted Spec passes path validation
// and names are unique; and the verdict is stable.
func FuzzCheck(f *testing.F) {
	f.Add("- {objectName: a, objectType: secretsmanager}", "us-east-1", "_")
	f.Add("- {objectName: 'arn:aws:secretsmanager:us-east-1:1:secret:a', jmesPath: [{path: u, objectAlias: ../u}]}", "", "False")
	f.Add("- {objectName: /x/y, objectType: ssmparameter, objectVersion: 2, filePermission: '0600'}", "eu-west-1", "-")
	f.Add("- {objectName: a, objectType: secretsmanager, allKeys: true}\n- {objectName: a, objectType: secretsmanager}", "", "")
	f.Add("[{]", "x", "..")
	f.Fuzz(func(t *testing.T, objects, region, translation string) {
		params := map[string]string{"objects": objects, "region": region, "pathTranslation": translation}
		r := Check(params, Options{})
		if (r.Spec == nil) == (len(r.Errors) == 0) {
			t.Fatalf("spec=%v errors=%d", r.Spec != nil, len(r.Errors))
		}
		for _, is := range r.Errors {
			if is.Field == "" || is.Problem == "" || is.Fix == "" {
				t.Fatalf("incomplete issue %+v", is)
			}
		}
		if r.Spec != nil {
			seen := map[string]bool{}
			for _, p := range r.Spec.Plan() {
				if p.Path == AllKeysPlaceholder {
					continue
				}
				if err := secrets.ValidatePath(p.Path); err != nil {
					t.Fatalf("accepted invalid path %q: %v", p.Path, err)
				}
				if seen[p.Path] {
					t.Fatalf("duplicate path %q accepted", p.Path)
				}
				seen[p.Path] = true
				if strings.HasPrefix(p.Path, "/") {
					t.Fatalf("absolute path %q", p.Path)
				}
			}
		}
		r2 := Check(params, Options{})
		if len(r2.Errors) != len(r.Errors) || len(r2.Warnings) != len(r.Warnings) {
			t.Fatalf("unstable verdict")
		}
	})
}
