package validate

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheck feeds random input as a manifest file: no panic, a stable verdict (the
// same report twice), and a consistent report: every record's validity matches its
// errors, every issue is complete, valid records list files, and both renderings work.
func FuzzCheck(f *testing.F) {
	paths, err := filepath.Glob("testdata/*.*")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("---\n--- {kind: SecretProviderClass, apiVersion: secrets-store.csi.x-k8s.io/v1, spec: {provider: aws, parameters: {objects: '- {objectName: a}'}}}\n"))
	f.Add([]byte(`{"kind": "List", "items": [{"kind": "SecretProviderClass", "spec": null}, 3]}`))
	f.Add([]byte("kind: SecretProviderClass\nmetadata: {name: [1]}\nspec: {provider: aws, parameters: {a: {b: c}}}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	opts := &Options{Getenv: envOf(nil)}
	f.Fuzz(func(t *testing.T, data []byte) {
		r1 := Check("fuzz.yaml", data, opts)
		r2 := Check("fuzz.yaml", data, opts)
		j1, err1 := json.Marshal(r1)
		j2, err2 := json.Marshal(r2)
		if err1 != nil || err2 != nil {
			t.Fatalf("marshal report: %v %v", err1, err2)
		}
		if !bytes.Equal(j1, j2) {
			t.Fatalf("unstable verdict:\n%s\n%s", j1, j2)
		}
		if (verdict(r1, false) == nil) != (verdict(r2, false) == nil) {
			t.Fatal("unstable exit code")
		}
		for _, rec := range r1.Records {
			if rec.Valid != (len(rec.Errors) == 0) {
				t.Fatalf("valid=%v with %d errors", rec.Valid, len(rec.Errors))
			}
			if rec.Valid && len(rec.Files) == 0 {
				t.Fatalf("valid record without files: %+v", rec)
			}
			if !rec.Valid && len(rec.Files) != 0 {
				t.Fatalf("invalid record with files: %+v", rec)
			}
			if rec.Document < 1 || rec.Line < 1 {
				t.Fatalf("bad position #%d line %d", rec.Document, rec.Line)
			}
			for _, is := range append(append([]Issue{}, rec.Errors...), rec.Warnings...) {
				if is.Field == "" || is.Problem == "" || is.Fix == "" || is.Message == "" {
					t.Fatalf("incomplete issue %+v", is)
				}
			}
		}
		code := verdict(r1, false)
		switch {
		case len(r1.InputErrors) > 0:
			if exitCode(code) != ExitUsage {
				t.Fatalf("input errors but exit %d", exitCode(code))
			}
		case r1.Invalid() > 0:
			if exitCode(code) != ExitInvalid {
				t.Fatalf("invalid records but exit %d", exitCode(code))
			}
		default:
			if code != nil {
				t.Fatalf("all valid but %v", code)
			}
		}
		if err := writeText(io.Discard, r1); err != nil {
			t.Fatal(err)
		}
		if err := writeJSON(io.Discard, r1.Records); err != nil {
			t.Fatal(err)
		}
	})
}
