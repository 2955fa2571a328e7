package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEnd installs the chart on the node and runs the scenarios in
// order on that one installation (bringing the node up and installing the
// chart is the expensive part).
func TestEndToEnd(t *testing.T) {
	e := setup(t, upstreamName)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	t.Run("SeedManifests", func(t *testing.T) { e.seedManifests(t, ctx) })
}

// seedPod is the user's seed-pod.yaml with only the image replaced (the
// toolbox image has sleep and cat on its PATH) and, when driver is not the
// upstream name, the volume's driver.
func (e *env) seedPod(t *testing.T, driver string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.shared, "seed-pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for old, repl := range map[string]string{"image: ubuntu": "image: " + toolboxImage, "driver: " + upstreamName: "driver: " + driver} {
		if !strings.Contains(s, old) {
			t.Fatalf("seed-pod.yaml has no %q", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	return s
}

// seedManifests: the user's SecretProviderClass and pod, with the chart's
// driver name set to the upstream driver's, then to the default.
func (e *env) seedManifests(t *testing.T, ctx context.Context) {
	const ns = "seed"
	e.namespace(t, ctx, ns, false)
	for i, driver := range []string{upstreamName, defaultDriver} {
		if i > 0 {
			e.kubectl(t, ctx, "delete", "-n", ns, "pod", "my-app-pod", "--wait=true", "--timeout=2m")
			start := time.Now()
			e.helm(t, ctx, "upgrade", "--set", "driverName="+driver)
			t.Logf("helm upgrade to driver %s ready in %s", driver, time.Since(start).Round(time.Second))
		}
		got := strings.TrimSpace(e.kubectl(t, ctx, "get", "csidriver", "-o", "jsonpath={.items[*].metadata.name}"))
		if got != driver {
			t.Fatalf("CSIDriver objects %q, want %q", got, driver)
		}
		start := time.Now()
		e.apply(t, ctx, ns, e.seedPod(t, driver))
		e.waitReady(t, ctx, ns, "my-app-pod", 3*time.Minute)
		t.Logf("driver %s: seed pod ready in %s", driver, time.Since(start).Round(time.Second))
		e.checkFiles(t, ctx, ns, "my-app-pod", "admin", "supersecretpassword")
		e.checkTmpfsRO(t, ctx, ns, "my-app-pod", "/mnt/secrets-store")
	}
}
