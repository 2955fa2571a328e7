package spc

import (
	"errors"
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
	f.Add("- {ObjectName: a, objectType: secretsmanager, jmesPath: [{Path: u, path: v, ObjectAlias: w}], backupArn: x}", "us-east-1", "False")
	f.Add("- {objectName: a, objectType: secretsmanager}\n- {objectName: a/b, objectType: secretsmanager, filePermission: '4755'}", "", "False")
	f.Fuzz(func(t *testing.T, objects, region, translation string) {
		params := map[string]string{"objects": objects, "region": region, "pathTranslation": translation}
		r := Check(params, Options{})
		if (r.Spec == nil) == (len(r.Errors) == 0) {
			t.Fatalf("spec=%v errors=%d", r.Spec != nil, len(r.Errors))
		}
		for _, is := range append(r.Errors, r.Warnings...) {
			if is.Field == "" || is.Problem == "" || is.Fix == "" {
				t.Fatalf("incomplete issue %+v", is)
			}
			if n := len(is.Error()); n > maxMessage {
				t.Fatalf("message of %d bytes: %.200q", n, is.Error())
			}
		}
		// Strict only refuses more: never accepts what is refused without it,
		// and changes nothing when there is no warning.
		strict := Check(params, Options{Strict: true})
		if (strict.Spec != nil && r.Spec == nil) || (len(r.Warnings) == 0 && len(strict.Errors) != len(r.Errors)) {
			t.Fatalf("Strict: %d errors %d warnings, lenient %d errors %d warnings",
				len(strict.Errors), len(strict.Warnings), len(r.Errors), len(r.Warnings))
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

// maxMessage bounds one rendered problem: a few quoted names (secrets.Quote)
// and library details (yamlerr.go), whatever the input.
const maxMessage = 4096

// FuzzDecodeClass: any document yields a class or an error, never a panic;
// every problem is complete and bounded; a class without problems goes on
// through Check and CheckSecretObjects the same way.
func FuzzDecodeClass(f *testing.F) {
	f.Add("apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: x}\nspec:\n  provider: aws\n  parameters:\n    objects: '- {objectName: a, objectType: secretsmanager}'\n  secretObjects:\n  - {secretName: s, type: Opaque, data: [{objectName: a, key: k}]}\n")
	f.Add("kind: SecretProviderClass\nspec: {parameters: {usePodIdentity: true, objects: [1]}, secretObjects: [{data: x}, 3]}\n")
	f.Add("- a\n")
	f.Add("metadata: 3\nspec: []\n")
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := DecodeClass([]byte(doc))
		var inv *InvalidError
		switch {
		case err == nil:
		case errors.As(err, &inv):
			for _, p := range inv.Issues {
				if p.Field == "" || p.Problem == "" || p.Fix == "" || len(p.Error()) > maxMessage {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		default:
			if c != nil || len(err.Error()) > maxMessage {
				t.Fatalf("class %v with error of %d bytes", c, len(err.Error()))
			}
			return
		}
		r := Check(c.Parameters, Options{})
		if r.Spec == nil {
			return
		}
		for _, p := range CheckSecretObjects(r.Spec, c.SecretObjects) {
			if p.Field == "" || p.Problem == "" || p.Fix == "" || len(p.Error()) > maxMessage {
				t.Fatalf("bad secretObjects problem %+v", p)
			}
		}
	})
}
