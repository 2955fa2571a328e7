package injector

import (
	"os"
	"strings"
	"testing"
)

// TestMain makes the package's tests hermetic: no AWS_* variable of the host
// (a profile, a CA bundle, real credentials) reaches the SDK, and the binary
// built for the exec tests is removed at the end. A copy of the test binary
// started with notifyTargetEnv set is the notify tests' app instead.
func TestMain(m *testing.M) {
	if events := os.Getenv(notifyTargetEnv); events != "" {
		notifyTarget(events) // a copy of this binary, run as the app to signal
		return
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			_ = os.Unsetenv(k)
		}
	}
	code := m.Run()
	removeBinary()
	os.Exit(code)
}
