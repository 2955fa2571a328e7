package examples

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCopiesMatchShared: the embedded copies are the user's files, byte for
// byte. The user's folder (shared/examples) sits beside the developers' clones
// only: nothing else in the build reads it, and where it is absent (a user's
// clone) there is nothing to compare with and the test skips.
func TestCopiesMatchShared(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "examples")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared/examples is not beside the repository (only the developers have it): %v", err)
	}
	for name, copy := range map[string][]byte{"seed-secretproviderclass.yaml": SeedClass, "seed-pod.yaml": SeedPod} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(copy, want) {
			t.Errorf("test/examples/testdata/%s differs from shared/examples/%s: copy it again", name, name)
		}
	}
}
