package extract

import (
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

// FuzzFiles feeds arbitrary classes and values: Files must not panic, every
// produced path must be valid and unique, and no error may contain the value.
func FuzzFiles(f *testing.F) {
	f.Add("- {objectName: a, objectType: secretsmanager, jmesPath: [{path: username, objectAlias: u}]}", `{"username":"admin"}`, false)
	f.Add("- {objectName: a, objectType: secretsmanager, allKeys: true}\n- {objectName: b, objectType: secretsmanager}", `{"b":"x","c/d":1}`, false)
	f.Add("- {objectName: a, objectType: secretsmanager, jmesPath: [{path: 'x[0]', objectAlias: u, allowNonString: true}]}", `{"x":[{"y":2}]}`, true)
	f.Add("- {objectName: a, objectType: ssmparameter, jmesPath: [{path: 'length(@)', objectAlias: u}]}", `supersecretvalue`, false)
	f.Add("- {objectName: a, objectType: secretsmanager, allKeys: true}", `{"..x":"1","":"2"}`, false)
	f.Fuzz(func(t *testing.T, objects, value string, binary bool) {
		s, err := spc.Parse(map[string]string{"objects": objects, "region": "us-east-1"}, spc.Options{})
		if err != nil {
			return
		}
		vals := make([]secrets.Fetched, len(s.Objects))
		for i := range vals {
			vals[i] = secrets.Fetched{Value: secrets.NewStringValue(value), Binary: binary}
		}
		files, err := Files(s, vals)
		if err != nil {
			msg := err.Error()
			if msg == "" {
				t.Fatal("empty error message")
			}
			// A value long enough to be recognisable must not appear, unless the
			// class text itself holds it (keys and paths are not secret).
			if len(value) >= 6 && strings.Contains(msg, value) && !strings.Contains(objects, value) {
				t.Fatalf("error contains the value: %s", msg)
			}
			if files != nil {
				t.Fatal("files returned with an error")
			}
			return
		}
		seen := map[string]bool{}
		for _, fl := range files {
			if err := secrets.ValidatePath(fl.Path); err != nil {
				t.Fatalf("invalid path %q: %v", fl.Path, err)
			}
			if seen[fl.Path] {
				t.Fatalf("duplicate path %q", fl.Path)
			}
			seen[fl.Path] = true
		}
		for p := range seen {
			for q := range seen {
				if strings.HasPrefix(q, p+"/") {
					t.Fatalf("%q is both a file and the directory of %q", p, q)
				}
			}
		}
		if len(files) < len(s.Objects) {
			t.Fatalf("%d files for %d objects", len(files), len(s.Objects))
		}
	})
}
