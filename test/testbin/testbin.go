// Package testbin builds the real aws-secrets-injector binary for tests that
// run it as a separate process, once per test process, as the image ships it
// (static, stripped), into a directory any user may execute from.
package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	once sync.Once
	dir  string
	path string
	err  error
)

// Build builds the binary on the first call and returns its path; safe to call
// from any goroutine (start it early to overlap with other set-up).
func Build() (string, error) {
	once.Do(func() {
		dir, err = os.MkdirTemp("", "aws-secrets-injector-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			return
		}
		path = filepath.Join(dir, "aws-secrets-injector")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold build on a busy 2-core machine
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", path,
			"github.com/seed-ddac166a/aws-secrets-injector/cmd/aws-secrets-injector")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		// In the repository's own module, whose go.sum covers the binary (a
		// nested test module, test/chart, requires only what it imports).
		if cmd.Dir, err = repoRoot(); err != nil {
			return
		}
		if out, berr := cmd.CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build: %w\n%s", berr, out)
		}
	})
	return path, err
}

// Path is Build for a test: a build failure fails t.
func Path(t testing.TB) string {
	t.Helper()
	p, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Remove deletes the built binary's directory; call it from TestMain after m.Run.
func Remove() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// rootModuleLine starts the repository's go.mod.
const rootModuleLine = "module github.com/seed-ddac166a/aws-secrets-injector\n"

// repoRoot walks up from the working directory to the repository's go.mod.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte(rootModuleLine)) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("testbin: the repository's go.mod is not above the working directory")
		}
		d = parent
	}
}
