package injector

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

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
			var ee *EnvError
			if !errors.As(err, &ee) || ee.Var != EnvSPC {
				t.Fatalf("want an EnvError for %s, got %v", EnvSPC, err)
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
			var ee *EnvError
			if !errors.As(err, &ee) || ee.Var != c.v {
				t.Fatalf("want EnvError for %s, got %v", c.v, err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), c.v+": ") || !strings.Contains(err.Error(), "fix: ") {
				t.Errorf("message %q should start with %s and contain %q and a fix", err, c.v, c.want)
			}
		})
	}
}

// parseOptions runs AddFlags, parses args and Validates with env.
func parseOptions(t *testing.T, env map[string]string, args ...string) (*Options, error) {
	t.Helper()
	o := &Options{getenv: envOf(env)}
	fs := pflag.NewFlagSet("inject", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o, o.Validate()
}

func TestOptionsEnvDefaultsAndFlagOverrides(t *testing.T) {
	env := map[string]string{
		EnvSPC: `{"objects":"x"}`, EnvSPCName: "ns/c", EnvMountPath: "/env/path",
		EnvRefreshInterval: "1m", EnvDeadline: "30s",
	}
	o, err := parseOptions(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.MountPath != "/env/path" || o.RefreshInterval != time.Minute || o.Deadline != 30*time.Second ||
		o.Jitter != DefaultJitter || o.ClassName != "ns/c" || o.Params["objects"] != "x" {
		t.Errorf("env defaults not applied: %+v", o)
	}

	o, err = parseOptions(t, env, "--mount-path=/flag/path", "--refresh-interval=0", "--deadline=5s", "--jitter=0.5")
	if err != nil {
		t.Fatal(err)
	}
	if o.MountPath != "/flag/path" || o.RefreshInterval != 0 || o.Deadline != 5*time.Second || o.Jitter != 0.5 {
		t.Errorf("flags did not override: %+v", o)
	}

	// A bad env value is not read when its flag is given.
	bad := maps.Clone(env)
	bad[EnvDeadline] = "whenever"
	if _, err := parseOptions(t, bad, "--deadline=1m"); err != nil {
		t.Errorf("flag should override the bad env value: %v", err)
	}
	if _, err := parseOptions(t, bad); err == nil || !strings.Contains(err.Error(), EnvDeadline) {
		t.Errorf("bad env deadline: %v", err)
	}
	// No deadline anywhere: 2m.
	none := maps.Clone(env)
	delete(none, EnvDeadline)
	if o, err := parseOptions(t, none); err != nil || o.Deadline != DefaultDeadline {
		t.Errorf("default deadline: %v %v", o.Deadline, err)
	}
}

func TestOptionsValidateRejects(t *testing.T) {
	env := map[string]string{EnvSPC: `{"objects":"x"}`, EnvMountPath: "/m"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--jitter=1"}, "--jitter"},
		{[]string{"--jitter=-0.1"}, "--jitter"},
		{[]string{"--deadline=-1s"}, "--deadline"},
		{[]string{"--refresh-interval=100ms"}, "--refresh-interval"},
		{[]string{"--mount-path=rel"}, "--mount-path"},
	} {
		if _, err := parseOptions(t, env, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error naming %s, got %v", c.args, c.want, err)
		}
	}
	// The probe needs only the mount path: no SPC required.
	if o, err := parseOptions(t, map[string]string{EnvMountPath: "/m"}, "--check"); err != nil || !o.Check {
		t.Errorf("--check without SPC: %v", err)
	}
	if _, err := parseOptions(t, map[string]string{EnvMountPath: "/m"}); err == nil || !strings.Contains(err.Error(), EnvSPC) {
		t.Errorf("missing SPC: %v", err)
	}
}

func TestProbeHelpers(t *testing.T) {
	if got := strings.Join(ProbeCommand(DefaultBinary), " "); got != "/aws-secrets-injector inject --check" {
		t.Errorf("ProbeCommand = %s", got)
	}
	for _, c := range []struct {
		d    time.Duration
		p    int32
		want int32
	}{{0, 1, 130}, {2 * time.Minute, 2, 65}, {30 * time.Second, 1, 40}, {time.Second, 0, 11}, {1500 * time.Millisecond, 1, 12}} {
		if got := ProbeFailureThreshold(c.d, c.p); got != c.want {
			t.Errorf("ProbeFailureThreshold(%s, %d) = %d, want %d", c.d, c.p, got, c.want)
		}
	}
	// The command the probe helper names is the one the flags accept.
	o, err := parseOptions(t, map[string]string{EnvMountPath: t.TempDir()}, ProbeCommand(DefaultBinary)[2:]...)
	if err != nil || !o.Check {
		t.Fatalf("probe args: %v", err)
	}
	if err := Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("probe on an empty dir: %v", err)
	}
}
