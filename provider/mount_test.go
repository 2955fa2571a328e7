package provider_test

import (
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
	"github.com/seed-ddac166a/aws-secrets-injector/provider/v1alpha1"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// wantFile is one file a response must hold.
type wantFile struct {
	path    string
	mode    fs.FileMode
	content string
}

func checkFiles(t *testing.T, resp *v1alpha1.MountResponse, want []wantFile) {
	t.Helper()
	got := files(resp)
	if len(got) != len(want) || len(resp.GetFiles()) != len(want) {
		var paths []string
		for _, f := range resp.GetFiles() {
			paths = append(paths, f.GetPath())
		}
		t.Errorf("files %q, want %d", paths, len(want))
	}
	for _, w := range want {
		f, ok := got[w.path]
		switch {
		case !ok:
			t.Errorf("no file %s", w.path)
		case fs.FileMode(f.GetMode()) != w.mode:
			t.Errorf("%s: mode %o, want %o", w.path, f.GetMode(), w.mode)
		case string(f.GetContents()) != w.content:
			t.Errorf("%s: content %q, want %q", w.path, f.GetContents(), w.content)
		}
	}
}

// counter reads one labelled counter of the server's registry.
func counter(t *testing.T, e *env, name, label, value string) float64 {
	t.Helper()
	mfs, err := e.Server.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabel(m, label, value) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestMountAsTheDriver: the first publish and two rotation calls, over the
// socket dialled as the driver dials, with the attributes, tokens, secrets
// and permission the driver builds; files, modes and versions checked, and
// the files are never written anywhere by the provider.
func TestMountAsTheDriver(t *testing.T) {
	e := startEnv(t, envOptions{})
	p := pod{name: "web-1", sa: saApp, class: "db", params: seedParams}

	resp, err := e.Client.Mount(ctx(t), e.firstMount(t, p))
	if err != nil {
		t.Fatalf("first mount: %v", err)
	}
	checkFiles(t, resp, []wantFile{
		{"db", 0o644, dbValue},
		{"db-user", 0o644, "admin"},
		{"db-password", 0o400, "s3cr3t-passw0rd"},
		{"_app_port", 0o440, portValue},
	})
	// One version per object, id = its file name, as ASCP answers.
	if got, want := versions(resp), "db="+dbVersion+" _app_port=1"; got != want {
		t.Errorf("versions %q, want %q", got, want)
	}
	if resp.GetError() != nil {
		t.Errorf("error set on success: %v", resp.GetError())
	}

	// The secret and the parameter rotate in AWS.
	newDB := `{"username":"admin","password":"n3w-passw0rd"}`
	if _, err := e.AWS.PutSecretVersion(fakeaws.SecretUpdate{Name: dbSecret, Value: &newDB, VersionID: "v-db-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AWS.PutParameter(portParam, "6543"); err != nil {
		t.Fatal(err)
	}
	// 2. The rotation call: no secretProviderClass, secrets "{}", the
	// current versions from the pod status.
	rot, err := e.Client.Mount(ctx(t), e.rotationMount(t, p, resp.GetObjectVersion()))
	if err != nil {
		t.Fatalf("rotation mount: %v", err)
	}
	checkFiles(t, rot, []wantFile{
		{"db", 0o644, newDB},
		{"db-user", 0o644, "admin"},
		{"db-password", 0o400, "n3w-passw0rd"},
		{"_app_port", 0o440, "6543"},
	})
	if got, want := versions(rot), "db=v-db-2 _app_port=2"; got != want {
		t.Errorf("versions after rotation %q, want %q", got, want)
	}
	// 3. Again: nothing changed; the answer is the same whatever the current
	// versions say (or with none).
	again, err := e.Client.Mount(ctx(t), e.rotationMount(t, p, rot.GetObjectVersion()))
	if err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	none, err := e.Client.Mount(ctx(t), e.rotationMount(t, p, nil))
	if err != nil {
		t.Fatalf("rotation without versions: %v", err)
	}
	for _, r := range []*v1alpha1.MountResponse{again, none} {
		if versions(r) != versions(rot) || string(files(r)["db"].GetContents()) != newDB {
			t.Errorf("repeated mount answered %q, want %q", versions(r), versions(rot))
		}
	}
	for outcome, want := range map[string]float64{"mounted": 2, "rotated": 1, "unchanged": 1} {
		if got := counter(t, e, "aws_secrets_injector_provider_mounts_total", "outcome", outcome); got != want {
			t.Errorf("mounts_total{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
	if !strings.Contains(e.Logs.String(), "rotated: versions changed") {
		t.Errorf("no rotation log line")
	}
}

// TestMountTokensInSecrets: with serviceAccountTokenInSecrets the tokens come
// in the secrets field and attributes lack them.
func TestMountTokensInSecrets(t *testing.T) {
	e := startEnv(t, envOptions{})
	req := e.firstMount(t, pod{name: "web-1", sa: saApp, class: "db", params: seedParams, tokensInSecrets: true})
	if strings.Contains(req.GetAttributes(), provider.AttrTokens) {
		t.Fatal("the request under test has tokens in attributes")
	}
	resp, err := e.Client.Mount(ctx(t), req)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	if got := string(files(resp)["db-password"].GetContents()); got != "s3cr3t-passw0rd" {
		t.Errorf("db-password %q", got)
	}
	// Without tokens in either field the pod has no identity, named.
	bare := e.firstMount(t, pod{name: "web-2", sa: saApp, class: "db", params: seedParams, tokenJSON: "{}"})
	_, err = e.Client.Mount(ctx(t), bare)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "NoIdentity") || !strings.Contains(err.Error(), "sts.amazonaws.com") {
		t.Errorf("mount without tokens: %v, want PermissionDenied NoIdentity naming the audience", err)
	}
}

// TestMountPermission: the driver's permission is the mode of every file the
// class gives no filePermission; the class's own modes win.
func TestMountPermission(t *testing.T) {
	e := startEnv(t, envOptions{})
	req := e.firstMount(t, pod{name: "web-1", sa: saApp, class: "db", params: seedParams})
	req.Permission = strconv.Itoa(0o640) // "416", encoded as the driver encodes a mode
	resp, err := e.Client.Mount(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{"db": 0o640, "db-user": 0o640, "db-password": 0o400, "_app_port": 0o440} {
		if got := fs.FileMode(files(resp)[path].GetMode()); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}

// TestMountPodIdentity: a class with usePodIdentity reads no ServiceAccount
// and gets credentials from the Pod Identity agent with the pod's token.
func TestMountPodIdentity(t *testing.T) {
	e := startEnv(t, envOptions{})
	params := map[string]string{"region": region, "usePodIdentity": "true", "objects": seedParams["objects"]}
	resp, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "web-1", sa: saApp, class: "db", params: params}))
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	if got := string(files(resp)["db-user"].GetContents()); got != "admin" {
		t.Errorf("db-user %q", got)
	}
	if n := e.SAs.reads.Load(); n != 0 {
		t.Errorf("%d ServiceAccount reads for a Pod Identity class, want 0", n)
	}
	if n := e.AWS.Calls().Count("sts:AssumeRoleWithWebIdentity", ""); n != 0 {
		t.Errorf("%d STS calls for a Pod Identity class", n)
	}
}

// TestMountCacheIsPerIdentity: a cached value of one identity is never served
// to another: the second pod's role may not read it, and says so.
func TestMountCacheIsPerIdentity(t *testing.T) {
	e := startEnv(t, envOptions{cacheTTL: time.Hour})
	if _, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "a", sa: saApp, class: "db", params: seedParams})); err != nil {
		t.Fatal(err)
	}
	before := e.AWS.Calls().Count("secretsmanager:BatchGetSecretValue", "")
	if _, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "b", sa: saApp, class: "db", params: seedParams})); err != nil {
		t.Fatal(err)
	}
	if n := e.AWS.Calls().Count("secretsmanager:BatchGetSecretValue", "") - before; n != 0 {
		t.Errorf("second pod of one identity made %d Secrets Manager calls, want 0 (node cache)", n)
	}
	_, err := e.Client.Mount(ctx(t), e.firstMount(t, pod{name: "c", sa: saOther, class: "db", params: seedParams}))
	if status.Code(err) != codes.PermissionDenied || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("another identity: %v, want PermissionDenied without the value", err)
	}
}

// TestVersion: the health check's call.
func TestVersion(t *testing.T) {
	e := startEnv(t, envOptions{})
	v, err := e.Client.Version(ctx(t), &v1alpha1.VersionRequest{Version: provider.APIVersion})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetVersion() != "v1alpha1" || v.GetRuntimeName() != provider.RuntimeName || v.GetRuntimeVersion() == "" {
		t.Errorf("Version = %v", v)
	}
}
