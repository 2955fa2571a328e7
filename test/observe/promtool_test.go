//go:build integration

package observe

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool finds promtool: $PROMTOOL, else PATH. Without it the test is
// skipped, except under CI=true, where it fails (`make test-rules` installs
// it from Debian's prometheus package).
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: run `make tools-promtool` (Debian package prometheus)")
		}
		t.Skip("promtool not found: run `make tools-promtool` (Debian package prometheus)")
	}
	return p
}

// TestPromtool: `promtool check rules` accepts the rendered rules file and
// `promtool test rules` passes testdata/rules-test.yaml, which has, for every
// alert, a time it fires with its labels and annotations and its look-alike
// that stays quiet.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	b, err := RenderRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "rules-test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules-test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	// Every alert is tested firing and quiet.
	var file struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(tests, &file); err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range file.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, a := range alertNames {
		if !firing[a] || !quiet[a] {
			t.Errorf("rules-test.yaml tests %s firing %v, quiet %v", a, firing[a], quiet[a])
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules-test.yaml"}} {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		} else {
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		}
	}
}
