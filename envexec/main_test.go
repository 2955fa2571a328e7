package envexec

import (
	"os"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// TestMain makes the tests hermetic (no AWS_* variable of the host reaches
// the SDK) and removes the binaries built for the integration tests.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			_ = os.Unsetenv(k)
		}
	}
	code := m.Run()
	testbin.Remove()
	removeApp()
	os.Exit(code)
}
