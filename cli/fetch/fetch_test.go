package fetch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// seedFile is the user's SecretProviderClass (test/examples keeps it equal to shared/examples).
const seedFile = "../../test/examples/testdata/seed-secretproviderclass.yaml"

// fakeEnv starts the fake AWS with the seed secret and points the SDK's
// default chain at it through the environment, as a user would.
func fakeEnv(t *testing.T) *fakeaws.Server {
	t.Helper()
	srv, err := fakeaws.New(fakeaws.State{
		Region: "us-east-1",
		Users:  []fakeaws.User{{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "example-secret", Allow: []string{"my-app/*", "/my-app/*"}}},
		Secrets: []fakeaws.Secret{
			{Name: "my-app/db-credentials", Value: `{"username":"admin","password":"supersecretpassword"}`},
			{Name: "my-app/plain", Value: "not json"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return srv
}

func run(t *testing.T, o Options) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o.Out = &out
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	err := Run(context.Background(), &o)
	return out.String(), err
}

func TestSeedManifestWritesFiles(t *testing.T) {
	fakeEnv(t)
	out := filepath.Join(t.TempDir(), "mnt")
	stdout, err := run(t, Options{SPCFile: seedFile, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"db-user": "admin", "db-password": "supersecretpassword",
		"my-app_db-credentials": `{"username":"admin","password":"supersecretpassword"}`,
	} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", name, b, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(out, atomicdir.DataLink)); err != nil {
		t.Errorf("no %s link: %v", atomicdir.DataLink, err)
	}
	if !strings.Contains(stdout, "3 files written") || !regexp.MustCompile(`(?m)^db-password\s+19\s+0644$`).MatchString(stdout) {
		t.Errorf("output:\n%s", stdout)
	}
	if strings.Contains(stdout, "supersecretpassword") {
		t.Fatal("output shows a value")
	}
	// Second run: nothing changes.
	stdout, err = run(t, Options{SPCFile: seedFile, OutDir: out})
	if err != nil || !strings.Contains(stdout, "3 files unchanged") {
		t.Fatalf("second run: %v\n%s", err, stdout)
	}
}

func TestListShowsNoValues(t *testing.T) {
	fakeEnv(t)
	stdout, err := run(t, Options{SPCFile: seedFile, List: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "NAME") || !strings.Contains(stdout, "db-user") || strings.Contains(stdout, "admin") {
		t.Fatalf("listing:\n%s", stdout)
	}
}

func writeSPC(t *testing.T, objects string, extra ...string) string {
	t.Helper()
	doc := "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: t}\nspec:\n  provider: aws\n  parameters:\n" +
		strings.Join(extra, "") + "    objects: |\n"
	for _, l := range strings.Split(strings.TrimSpace(objects), "\n") {
		doc += "      " + l + "\n"
	}
	p := filepath.Join(t.TempDir(), "spc.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFailuresWriteNothing(t *testing.T) {
	fakeEnv(t)
	cases := []struct {
		name, objects, want string
		code                int
	}{
		{"access denied", "- {objectName: my-app/db-credentials, objectType: secretsmanager}\n- {objectName: other/x, objectType: secretsmanager}", `objects[1] "other/x"`, ExitFailed},
		{"not json", "- {objectName: my-app/plain, objectType: secretsmanager, jmesPath: [{path: a, objectAlias: a}]}", "not valid JSON", ExitFailed},
		{"invalid class", "- {objectName: my-app/plain, objectType: nope}", "objectType", ExitInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "mnt")
			_, err := run(t, Options{SPCFile: writeSPC(t, tc.objects), OutDir: out})
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want exit %d with %q", err, tc.code, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("output directory exists after a failure: %v", err)
			}
		})
	}
}

func TestRegionFlagAndNoRegion(t *testing.T) {
	srv := fakeEnv(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")

	// A custom endpoint without a region: signed for us-east-1 (the command line).
	if _, err := run(t, Options{SPCFile: seedFile, List: true}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls().ByRegion[EndpointDefaultRegion]; n != 1 {
		t.Fatalf("calls in %s: %d, want 1", EndpointDefaultRegion, n)
	}
	// --region wins.
	if _, err := run(t, Options{SPCFile: seedFile, List: true, Region: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls().ByRegion["eu-west-1"]; n != 1 {
		t.Fatalf("calls in eu-west-1: %d, want 1", n)
	}
	// No endpoint and no region anywhere: a clear error before any AWS call.
	t.Setenv("AWS_ENDPOINT_URL", "")
	srv.ResetCalls()
	_, err := run(t, Options{SPCFile: seedFile, List: true})
	if err == nil || !strings.Contains(err.Error(), "set parameters.region") {
		t.Fatalf("error %v, want a no-region error", err)
	}
	if n := srv.Calls().Total; n != 0 {
		t.Fatalf("%d calls without a region", n)
	}
}

func TestValidateAndManifestSelection(t *testing.T) {
	for _, o := range []Options{{}, {SPCFile: "x", OutDir: "d", List: true}, {SPCFile: "x", Timeout: -1}} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", o)
		}
	}
	two := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n" +
		"apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: a}\nspec: {provider: aws}\n---\n" +
		"apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: b}\nspec: {provider: aws}\n"
	p := filepath.Join(t.TempDir(), "multi.yaml")
	if err := os.WriteFile(p, []byte(two), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readClass(p, ""); err == nil || !strings.Contains(err.Error(), "--name") {
		t.Fatalf("error %v, want a hint to use --name", err)
	}
	doc, err := readClass(p, "b")
	if err != nil || !strings.Contains(string(doc), "name: b") {
		t.Fatalf("picked %q, %v", doc, err)
	}
}

func TestListNameQuotesControls(t *testing.T) {
	for in, want := range map[string]string{"db-user": "db-user", "dir/ü": "dir/ü", "a\nb": `"a\nb"`, "a\tb": `"a\tb"`, "x\x1b[31m": `"x\x1b[31m"`} {
		if got := listName(in); got != want {
			t.Errorf("listName(%q) = %s, want %s", in, got, want)
		}
	}
}
