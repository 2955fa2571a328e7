package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/cli/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return -1
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func run(t *testing.T, opts *Options) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	if opts.Getenv == nil {
		opts.Getenv = envOf(nil)
	}
	if opts.Stdin == nil {
		opts.Stdin = strings.NewReader("")
	}
	err := Run(context.Background(), opts, &out, &errb)
	if err != nil {
		// As main does with the returned error.
		errb.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), exitCode(err)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRun(t *testing.T) {
	mixed, err := os.ReadFile("testdata/mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		opts       Options
		stdin      string
		wantCode   int
		golden     string   // file under testdata/golden for stdout, "" for none
		wantStderr []string // substrings of stderr
		notStderr  []string
	}{
		{name: "seed text", opts: Options{Paths: []string{"testdata/valid-seed.yaml"}}, golden: "valid-seed.txt"},
		{name: "seed json", opts: Options{Paths: []string{"testdata/valid-seed.yaml"}, Output: OutputJSON}, golden: "valid-seed.json"},
		{name: "mixed kinds text", opts: Options{Paths: []string{"testdata/mixed.yaml"}, Verbose: true}, golden: "mixed.txt",
			wantStderr: []string{
				"skip testdata/mixed.yaml#1: v1 ServiceAccount, not a SecretProviderClass",
				`skip testdata/mixed.yaml#3: SecretProviderClass shop/vault-secrets: provider "vault", not "aws"`,
				"skip testdata/mixed.yaml#4: apps/v1 Deployment",
				"skip testdata/mixed.yaml#5 items[0]: v1 ConfigMap",
			}},
		{name: "mixed kinds quiet", opts: Options{Paths: []string{"testdata/mixed.yaml"}}, golden: "mixed.txt", notStderr: []string{"skip"}},
		{name: "mixed kinds json", opts: Options{Paths: []string{"testdata/mixed.yaml"}, Output: OutputJSON}, golden: "mixed.json"},
		{name: "stdin", opts: Options{Paths: []string{"-"}, Output: OutputJSON}, stdin: string(mixed), golden: "stdin.json"},
		{name: "invalid text", opts: Options{Paths: []string{"testdata/invalid.yaml"}}, wantCode: 1, golden: "invalid.txt",
			wantStderr: []string{"3 of 3 SecretProviderClass(es) invalid"}},
		{name: "invalid json", opts: Options{Paths: []string{"testdata/invalid.yaml"}, Output: OutputJSON}, wantCode: 1, golden: "invalid.json"},
		{name: "shapes", opts: Options{Paths: []string{"testdata/shapes.yaml"}}, wantCode: 1, golden: "shapes.txt"},
		{name: "warnings", opts: Options{Paths: []string{"testdata/warnings.yaml"}}, golden: "warnings.txt"},
		{name: "warnings json", opts: Options{Paths: []string{"testdata/warnings.yaml"}, Output: OutputJSON}, golden: "warnings.json"},
		{name: "warnings strict", opts: Options{Paths: []string{"testdata/warnings.yaml"}, Strict: true}, wantCode: 1, golden: "warnings.txt",
			wantStderr: []string{"5 warning(s) with --strict"}},
		{name: "region from flag", opts: Options{Paths: []string{"testdata/warnings.yaml"}, Region: "eu-west-1"}, golden: "warnings-region.txt"},
		{name: "region from AWS_REGION", opts: Options{Paths: []string{"testdata/warnings.yaml"}, Getenv: envOf(map[string]string{"AWS_REGION": "eu-west-1"})}, golden: "warnings-region.txt"},
		{name: "region from AWS_DEFAULT_REGION", opts: Options{Paths: []string{"testdata/warnings.yaml"}, Getenv: envOf(map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"})}, golden: "warnings-region.txt"},
		{name: "json file", opts: Options{Paths: []string{"testdata/class.json"}}, golden: "class.txt"},
		{name: "directory tree", opts: Options{Paths: []string{"testdata/tree"}, Verbose: true}, wantCode: 1, golden: "tree.txt",
			wantStderr: []string{"skip testdata/tree/team-a/app.yml#2: v1 Service"}, notStderr: []string{"hidden", "README"}},
		{name: "several paths", opts: Options{Paths: []string{"testdata/valid-seed.yaml", "testdata/tree/team-a", "testdata/class.json"}}, wantCode: 1, golden: "several.txt"},
		{name: "unparseable document", opts: Options{Paths: []string{"testdata/unparseable.yaml"}}, wantCode: 2, golden: "unparseable.txt",
			wantStderr: []string{"error: testdata/unparseable.yaml#2: not parseable YAML: yaml: line 17:", "1 input(s) could not be read or parsed"}},
		{name: "missing file", opts: Options{Paths: []string{"testdata/valid-seed.yaml", "testdata/nope.yaml"}}, wantCode: 2,
			wantStderr: []string{"error: testdata/nope.yaml: no such file or directory"}},
		{name: "missing file beats invalid", opts: Options{Paths: []string{"testdata/invalid.yaml", "testdata/nope.yaml"}}, wantCode: 2},
		{name: "explicit file of any extension", opts: Options{Paths: []string{"testdata/tree/README.md"}}, wantCode: 2,
			wantStderr: []string{"not parseable YAML"}},
		{name: "no paths", opts: Options{}, wantCode: 2, wantStderr: nil},
		{name: "bad output", opts: Options{Paths: []string{"testdata/class.json"}, Output: "yaml"}, wantCode: 2},
		{name: "empty stdin", opts: Options{Paths: []string{"-"}}, golden: "empty.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Stdin = strings.NewReader(tt.stdin)
			stdout, stderr, code := run(t, &opts)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if tt.golden != "" {
				golden(t, tt.golden, stdout)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			for _, s := range tt.notStderr {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr has %q:\n%s", s, stderr)
				}
			}
			if opts.Output == OutputJSON {
				var recs []Record
				if err := json.Unmarshal([]byte(stdout), &recs); err != nil {
					t.Errorf("stdout is not a JSON array of records: %v", err)
				}
			}
		})
	}
}

// TestRecords asserts the JSON records field by field, independent of the goldens.
func TestRecords(t *testing.T) {
	rep := checkFile(t, "testdata/invalid.yaml", nil)
	if len(rep.Records) != 3 || rep.Skipped != 1 || len(rep.InputErrors) != 0 {
		t.Fatalf("records=%d skipped=%d inputErrors=%d", len(rep.Records), rep.Skipped, len(rep.InputErrors))
	}
	broken := rep.Records[0]
	if broken.Name != "broken" || broken.Namespace != "shop" || broken.Document != 1 || broken.Line != 2 || broken.Valid || len(broken.Files) != 0 {
		t.Errorf("broken = %+v", broken)
	}
	want := map[string]bool{
		"spec.parameters.usePodIdentity":     false,
		"objects[0].jmesPath[1].objectAlias": false,
		"objects[0].jmesPath[2].path":        false,
		"objects[0].jmesPath[2].objectAlias": false,
		"objects[1].objectType":              false,
		"objects[1].filePermission":          false,
		"objects[2].objectTemplate":          false,
	}
	for _, is := range broken.Errors {
		if _, ok := want[is.Field]; ok {
			want[is.Field] = true
		}
		if is.Problem == "" || is.Fix == "" || !strings.HasPrefix(is.Message, is.Field) {
			t.Errorf("incomplete issue %+v", is)
		}
		if strings.HasPrefix(is.Field, "objects[") && is.ObjectName == "" {
			t.Errorf("issue %q does not name its object", is.Field)
		}
	}
	for f, seen := range want {
		if !seen {
			t.Errorf("no error for %s", f)
		}
	}
	// usePodIdentity: true is reported once (by the decoder), not again by Check.
	n := 0
	for _, is := range broken.Errors {
		if strings.Contains(is.Field, "usePodIdentity") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("usePodIdentity reported %d times", n)
	}
	if r := rep.Records[2]; r.Name != "duplicates" || r.Document != 4 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Problem, `"shop_db" is already used`) {
		t.Errorf("duplicates = %+v", r)
	}

	mixed := checkFile(t, "testdata/mixed.yaml", nil)
	if len(mixed.Records) != 2 || mixed.Skipped != 4 || mixed.Invalid() != 0 {
		t.Fatalf("mixed: records=%d skipped=%d invalid=%d", len(mixed.Records), mixed.Skipped, mixed.Invalid())
	}
	app := mixed.Records[0]
	if app.Document != 2 || app.Line != 11 || app.Item != nil {
		t.Errorf("app-secrets at #%d line %d item %v", app.Document, app.Line, app.Item)
	}
	var names []string
	for _, f := range app.Files {
		names = append(names, f.Name+" "+f.Mode)
	}
	if got := strings.Join(names, ","); got != "db 0400,db-user 0400,db-port 0440,-shop-feature-flags 0644,shop-config 0644,<each top-level key> 0644" {
		t.Errorf("files = %s", got)
	}
	if f := app.Files[1]; f.Object != 0 || f.JMESPath != "username" || !strings.HasPrefix(f.ObjectName, "arn:aws:secretsmanager:") {
		t.Errorf("file 1 = %+v", f)
	}
	if !app.Files[5].AllKeys || app.Files[5].Object != 2 {
		t.Errorf("allKeys file = %+v", app.Files[5])
	}
	list := mixed.Records[1]
	if list.Name != "from-list" || list.Document != 5 || list.Item == nil || *list.Item != 1 || !list.Valid {
		t.Errorf("list item = %+v", list)
	}

	warn := checkFile(t, "testdata/warnings.yaml", nil)
	fields := map[string]bool{}
	for _, w := range warn.Records[0].Warnings {
		fields[w.Field] = true
	}
	for _, f := range []string{"parameters.regoin", "parameters.region", "objects[0].jmesPath[2].objectAlias", "objects[0].jmesPath[0].path", "objects[0].jmesPath[1].path"} {
		if !fields[f] {
			t.Errorf("no warning for %s (got %v)", f, fields)
		}
	}
	withRegion := checkFile(t, "testdata/warnings.yaml", &Options{Region: "eu-west-1"})
	for _, w := range withRegion.Records[0].Warnings {
		if w.Field == "parameters.region" {
			t.Error("region warning despite a default region")
		}
	}
}

func checkFile(t *testing.T, path string, opts *Options) *Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = &Options{}
	}
	if opts.Getenv == nil {
		opts.Getenv = envOf(nil)
	}
	return Check(path, data, opts)
}

func TestEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x: ["), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := run(t, &Options{Paths: []string{dir}})
	if code != 0 || !strings.Contains(stdout, "no SecretProviderClass for provider aws found in 0 files") {
		t.Errorf("code %d, stdout %q", code, stdout)
	}
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		// Root reads any file; a directory passed where a file is read stands in.
		stdout, stderr, code := run(t, &Options{Paths: []string{"testdata/tree/team-a/app.yml/x"}})
		if code != 2 || !strings.Contains(stderr, "not a directory") {
			t.Errorf("code %d stdout %q stderr %q", code, stdout, stderr)
		}
		return
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "secret.yaml")
	if err := os.WriteFile(p, []byte("a: b"), 0o000); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, &Options{Paths: []string{p}})
	if code != 2 || !strings.Contains(stderr, "permission denied") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

func TestTooLarge(t *testing.T) {
	big := strings.NewReader(strings.Repeat("#", manifest.MaxInputBytes+1))
	_, stderr, code := run(t, &Options{Paths: []string{"-"}, Stdin: big})
	if code != 2 || !strings.Contains(stderr, "larger than 32 MiB") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, &Options{Paths: []string{"testdata/valid-seed.yaml"}, Getenv: envOf(nil)}, &bytes.Buffer{}, &bytes.Buffer{})
	if exitCode(err) != 2 || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// TestUserExamples runs validate on the user's example manifests (the
// project's copy in test/examples/testdata).
func TestUserExamples(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for ; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(root) == root {
			t.Fatal("repository root (go.mod) not found")
		}
	}
	dir := filepath.Join(root, "test", "examples", "testdata")
	var out, errb bytes.Buffer
	err = Run(context.Background(), &Options{Paths: []string{dir}, Output: OutputJSON, Getenv: envOf(nil)}, &out, &errb)
	if err != nil {
		t.Fatalf("validate %s: %v\n%s", dir, err, errb.String())
	}
	var recs []Record
	if err := json.Unmarshal(out.Bytes(), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("want the one SecretProviderClass, got %d records", len(recs))
	}
	r := recs[0]
	var files []string
	for _, f := range r.Files {
		files = append(files, f.Name)
	}
	if r.Name != "aws-secretsmanager-reader" || !r.Valid || strings.Join(files, ",") != "my-app_db-credentials,db-user,db-password" {
		t.Errorf("record = %+v", r)
	}
	// No region in the example and none configured here: exactly the region warning.
	if len(r.Warnings) != 1 || r.Warnings[0].Field != "parameters.region" {
		t.Errorf("warnings = %+v", r.Warnings)
	}
}

// Names from a manifest cannot inject control sequences or break the layout.
func TestTextEscapesControls(t *testing.T) {
	in := "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\n" +
		"metadata: {name: \"evil\\e[31m\", namespace: \"a\\nb\"}\n" +
		"spec:\n  provider: aws\n  parameters:\n    region: us-east-1\n    \"bad\\tkey\": x\n" +
		"    objects: |\n      - {objectName: a, objectType: secretsmanager, objectAlias: \"x\\ty\"}\n"
	stdout, stderr, code := run(t, &Options{Paths: []string{"-"}, Stdin: strings.NewReader(in)})
	if code != 0 {
		t.Fatalf("code %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.ContainsAny(stdout, "\x1b\t") || strings.Count(stdout, "\n") != 5 {
		t.Errorf("raw control characters in output:\n%q", stdout)
	}
	for _, want := range []string{`"a\nb/evil\x1b[31m"`, `"x\ty"`, `parameters.bad\tkey: unknown parameter`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %s:\n%s", want, stdout)
		}
	}
}

// Classes written for the AWS provider are accepted with warnings on the keys
// it ignores; sets fetch could not write and broken secretObjects are
// refused; the text and JSON outputs carry the warnings and the Why.
func TestMigration(t *testing.T) {
	stdout, _, code := run(t, &Options{Paths: []string{"testdata/migration.yaml"}})
	if code != ExitInvalid {
		t.Errorf("exit code %d, want %d", code, ExitInvalid)
	}
	golden(t, "migration.txt", stdout)
	stdout, _, _ = run(t, &Options{Paths: []string{"testdata/migration.yaml"}, Output: OutputJSON})
	golden(t, "migration.json", stdout)

	rep := checkFile(t, "testdata/migration.yaml", nil)
	if len(rep.Records) != 3 {
		t.Fatalf("records = %d", len(rep.Records))
	}
	ascp := rep.Records[0]
	warned := map[string]bool{}
	for _, w := range ascp.Warnings {
		warned[w.Field] = true
	}
	if !ascp.Valid || len(ascp.Files) != 3 || !warned["objects[0].backupArn"] || !warned["objects[0].failoverObject"] {
		t.Errorf("from-ascp = %+v", ascp)
	}
	errs := map[string]Issue{}
	for _, e := range rep.Records[1].Errors {
		errs[e.Field] = e
	}
	if e := errs["objects[0].jmesPath[0].objectAlias"]; !strings.Contains(e.Problem, "to be a directory") || e.Why == "" || !strings.Contains(e.Message, e.Why) {
		t.Errorf("nesting = %+v", e)
	}
	if e := errs["objects[1].jmesPath[0].path"]; !strings.Contains(e.Problem, `"Path" and "path" are both set`) {
		t.Errorf("unknown key in two cases = %+v (errors %v)", e, rep.Records[1].Errors)
	}
	// secretObjects are checked once the parameters are valid.
	if _, ok := errs["spec.secretObjects[0].secretName"]; ok {
		t.Errorf("secretObjects checked against an invalid class")
	}
	so := map[string]bool{}
	for _, e := range rep.Records[2].Errors {
		so[e.Field] = true
	}
	for _, f := range []string{"spec.secretObjects[0].secretName", "spec.secretObjects[0].type", "spec.secretObjects[0].data[0].objectName",
		"spec.secretObjects[0].data[0].key", "spec.secretObjects[0].data[2].key"} {
		if !so[f] {
			t.Errorf("no error at %s: %v", f, rep.Records[2].Errors)
		}
	}
	// --strict fails on the warnings of the class written for the AWS provider.
	in, err := os.ReadFile("testdata/migration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(in), "\n---\n")
	if _, _, code := run(t, &Options{Paths: []string{"-"}, Stdin: strings.NewReader(first)}); code != ExitValid {
		t.Errorf("from-ascp alone: exit %d, want 0", code)
	}
	if _, stderr, code := run(t, &Options{Paths: []string{"-"}, Stdin: strings.NewReader(first), Strict: true}); code != ExitInvalid || !strings.Contains(stderr, "warning(s) with --strict") {
		t.Errorf("from-ascp with --strict: exit %d, %s", code, stderr)
	}
}
