package contract

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/spc"
)

func TestEncodeDecodeSpecRoundTrip(t *testing.T) {
	params := map[string]string{
		"objects":         seedObjects + "- objectName: \"ünïcode/\\\"quoted\\\"\"\n  objectType: secretsmanager\n",
		"region":          "eu-west-1",
		"failoverRegion":  "eu-central-1",
		"pathTranslation": "False",
		"refreshInterval": "30s",
	}
	enc, err := EncodeSpec(params)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(enc, "\n") || strings.Contains(enc, `": "`) || strings.Contains(enc, `", "`) {
		t.Errorf("encoding is not compact: %s", enc)
	}
	if !strings.HasPrefix(enc, `{"failoverRegion":"eu-central-1","objects":`) {
		t.Errorf("keys not sorted: %s", enc)
	}
	got, err := DecodeSpec(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, params) {
		t.Errorf("round trip changed the parameters:\n got %q\nwant %q", got, params)
	}
	// The decoded parameters parse to the same class as the original.
	a, errA := spc.Parse(params, spc.Options{})
	b, errB := spc.Parse(got, spc.Options{})
	if errA != nil || errB != nil {
		t.Fatalf("parse: %v / %v", errA, errB)
	}
	if len(a.Objects) != 3 || len(b.Objects) != len(a.Objects) || b.Objects[2].Name != `ünïcode/"quoted"` {
		t.Errorf("objects differ after round trip: %+v", b.Objects)
	}
	// Deterministic: the same map always renders the same string (idempotent webhook).
	for range 20 {
		again, _ := EncodeSpec(maps.Clone(params))
		if again != enc {
			t.Fatalf("encoding not deterministic:\n%s\n%s", again, enc)
		}
	}
}

func TestEncodeSpecDropsKubeletParameters(t *testing.T) {
	enc, err := EncodeSpec(map[string]string{"objects": "x", "csi.storage.k8s.io/pod.name": "p", "csi.storage.k8s.io/serviceAccount.tokens": "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if enc != `{"objects":"x"}` {
		t.Errorf("got %s", enc)
	}
}

func TestDecodeSpecErrorsNameTheVariable(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"blank":        "  ",
		"not json":     "objects: - x",
		"array":        `["objects"]`,
		"number value": `{"objects":1}`,
		"null":         "null",
		"no objects":   `{"region":"us-east-1"}`,
		"truncated":    `{"objects":"- objectName: a`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeSpec(in)
			var ee *secrets.Problem
			if !errors.As(err, &ee) || ee.Field != EnvSPC {
				t.Fatalf("want a Problem for %s, got %v", EnvSPC, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, EnvSPC+": ") || !strings.Contains(msg, "fix: ") || strings.Contains(msg, "\n") {
				t.Errorf("message should name the variable, give a fix, and be one line: %q", msg)
			}
		})
	}
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDecodeEnv(t *testing.T) {
	good := map[string]string{
		EnvSPC:             `{"objects":"- objectName: my-app/db\n"}`,
		EnvSPCName:         "default/my-spc",
		EnvMountPath:       "/mnt/secrets-store",
		EnvRefreshInterval: "2m",
		EnvDeadline:        "90s",
	}
	e, err := DecodeEnv(envOf(good))
	if err != nil {
		t.Fatal(err)
	}
	want := Env{Params: map[string]string{"objects": "- objectName: my-app/db\n"}, ClassName: "default/my-spc",
		MountPath: "/mnt/secrets-store", RefreshInterval: 2 * time.Minute, Deadline: 90 * time.Second}
	if !maps.Equal(e.Params, want.Params) || e.ClassName != want.ClassName || e.MountPath != want.MountPath ||
		e.RefreshInterval != want.RefreshInterval || e.Deadline != want.Deadline {
		t.Errorf("got %+v, want %+v", e, want)
	}

	// Vars renders what DecodeEnv reads, in the documented order.
	vars, err := e.Vars()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	m := map[string]string{}
	for _, v := range vars {
		names = append(names, v.Name)
		m[v.Name] = v.Value
	}
	if got := strings.Join(names, ","); got != strings.Join([]string{EnvSPC, EnvSPCName, EnvMountPath, EnvRefreshInterval, EnvDeadline}, ",") {
		t.Errorf("order: %s", got)
	}
	back, err := DecodeEnv(envOf(m))
	if err != nil || back.RefreshInterval != e.RefreshInterval || back.Deadline != e.Deadline || back.MountPath != e.MountPath || !maps.Equal(back.Params, e.Params) {
		t.Errorf("Vars → DecodeEnv: %+v, %v", back, err)
	}

	// Optional values are omitted when unset, and default when absent.
	min := Env{Params: map[string]string{"objects": "x"}, MountPath: "/s"}
	vars, err = min.Vars()
	if err != nil || len(vars) != 2 || vars[0].Name != EnvSPC || vars[1].Name != EnvMountPath {
		t.Errorf("minimal Vars: %+v %v", vars, err)
	}
	one, err := DecodeEnv(envOf(map[string]string{EnvSPC: `{"objects":"x"}`, EnvMountPath: "/s", EnvRefreshInterval: "0"}))
	if err != nil || one.RefreshInterval != 0 || one.Deadline != 0 {
		t.Errorf("defaults: %+v %v", one, err)
	}
	if _, err := (Env{Params: map[string]string{"objects": "x"}, MountPath: "relative"}).Vars(); err == nil {
		t.Error("Vars accepted a relative mount path")
	}
}

func TestDecodeEnvBadValuesNameTheVariable(t *testing.T) {
	base := map[string]string{EnvSPC: `{"objects":"x"}`, EnvMountPath: "/mnt/s"}
	cases := []struct{ v, val, want string }{
		{EnvMountPath, "", "not set"},
		{EnvMountPath, "mnt/s", "not an absolute path"},
		{EnvMountPath, "/", "root directory"},
		{EnvMountPath, "/mnt/../etc", "not a clean path"},
		{EnvMountPath, "/mnt/..data", `starting with ".."`},
		{EnvRefreshInterval, "soon", "not a duration"},
		{EnvRefreshInterval, "-1m", "negative"},
		{EnvRefreshInterval, "10ms", "too short"},
		{EnvDeadline, "2", "not a duration"},
		{EnvDeadline, "0s", "not positive"},
		{EnvSPC, "{", "not a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.v+"="+c.val, func(t *testing.T) {
			env := maps.Clone(base)
			env[c.v] = c.val
			_, err := DecodeEnv(envOf(env))
			var ee *secrets.Problem
			if !errors.As(err, &ee) || ee.Field != c.v {
				t.Fatalf("want a Problem for %s, got %v", c.v, err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), c.v+": ") || !strings.Contains(err.Error(), "fix: ") {
				t.Errorf("message %q should start with %s and contain %q and a fix", err, c.v, c.want)
			}
		})
	}
}

// seedObjects is the user's SecretProviderClass (test/examples) plus an SSM parameter.
const seedObjects = `- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  jmesPath:
    - path: "username"
      objectAlias: "db-user"
    - path: "password"
      objectAlias: "db-password"
- objectName: "/my-app/db-port"
  objectType: "ssmparameter"
  objectAlias: "db-port"
`
