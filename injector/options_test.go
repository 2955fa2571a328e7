package injector

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

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
		contract.EnvSPC: `{"objects":"x"}`, contract.EnvSPCName: "ns/c", contract.EnvMountPath: "/env/path",
		contract.EnvRefreshInterval: "1m", contract.EnvDeadline: "30s",
	}
	o, err := parseOptions(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.MountPath != "/env/path" || o.RefreshInterval != time.Minute || o.Deadline != 30*time.Second ||
		o.Jitter != contract.DefaultJitter || o.ClassName != "ns/c" || o.Params["objects"] != "x" {
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
	bad[contract.EnvDeadline] = "whenever"
	if _, err := parseOptions(t, bad, "--deadline=1m"); err != nil {
		t.Errorf("flag should override the bad env value: %v", err)
	}
	if _, err := parseOptions(t, bad); err == nil || !strings.Contains(err.Error(), contract.EnvDeadline) {
		t.Errorf("bad env deadline: %v", err)
	}
	// No deadline anywhere: 2m.
	none := maps.Clone(env)
	delete(none, contract.EnvDeadline)
	if o, err := parseOptions(t, none); err != nil || o.Deadline != contract.DefaultDeadline {
		t.Errorf("default deadline: %v %v", o.Deadline, err)
	}
}

func TestOptionsValidateRejects(t *testing.T) {
	env := map[string]string{contract.EnvSPC: `{"objects":"x"}`, contract.EnvMountPath: "/m"}
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
	if o, err := parseOptions(t, map[string]string{contract.EnvMountPath: "/m"}, "--check"); err != nil || !o.Check {
		t.Errorf("--check without SPC: %v", err)
	}
	if _, err := parseOptions(t, map[string]string{contract.EnvMountPath: "/m"}); err == nil || !strings.Contains(err.Error(), contract.EnvSPC) {
		t.Errorf("missing SPC: %v", err)
	}
}

func TestProbeHelpers(t *testing.T) {
	// The lean injector is the image's probe; older webhooks named the full CLI, which still has it.
	if got := strings.Join(contract.ProbeCommand(contract.DefaultBinary), " "); got != "/asi-inject inject --check" {
		t.Errorf("contract.ProbeCommand = %s", got)
	}
	if got := strings.Join(contract.ProbeCommand(contract.FullCLIBinary), " "); got != "/aws-secrets-injector inject --check" {
		t.Errorf("contract.ProbeCommand(FullCLIBinary) = %s", got)
	}
	for _, c := range []struct {
		d    time.Duration
		p    int32
		want int32
	}{{0, 1, 130}, {2 * time.Minute, 2, 65}, {30 * time.Second, 1, 40}, {time.Second, 0, 11}, {1500 * time.Millisecond, 1, 12}} {
		if got := contract.ProbeFailureThreshold(c.d, c.p); got != c.want {
			t.Errorf("contract.ProbeFailureThreshold(%s, %d) = %d, want %d", c.d, c.p, got, c.want)
		}
	}
	// The command the probe helper names is the one the flags accept.
	o, err := parseOptions(t, map[string]string{contract.EnvMountPath: t.TempDir()}, contract.ProbeCommand(contract.DefaultBinary)[2:]...)
	if err != nil || !o.Check {
		t.Fatalf("probe args: %v", err)
	}
	if err := Run(t.Context(), o); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("probe on an empty dir: %v", err)
	}
}
