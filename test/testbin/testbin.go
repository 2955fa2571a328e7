// Package testbin builds the project's real binaries for tests that run them
// as separate processes, each once per test process, as the image ships them
// (static, stripped), into one directory any user may execute from: like the
// image, the binaries built there sit side by side, so a lean binary can hand
// another command to the full CLI beside it.
package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Module is the project's module path.
const Module = "github.com/seed-ddac166a/aws-secrets-injector"

// FullCLI is the main built when no name is given: the operator CLI with every subcommand.
const FullCLI = "aws-secrets-injector"

var (
	mu    sync.Mutex
	dir   string
	dirOK sync.Once
	dirEr error
	// builds are the builds by name, each done once.
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Build builds a main package on the first call for it and returns the
// binary's path; safe to call from any goroutine (start it early to overlap
// with other set-up). Build() builds the full CLI, cmd/aws-secrets-injector;
// Build("asi-inject") builds cmd/asi-inject; a name with a slash is a package
// of the module (Build("test/testbin/peakrss")). The binary is named after the
// package's last element.
func Build(name ...string) (string, error) {
	if len(name) > 1 {
		return "", fmt.Errorf("testbin.Build: one name at most, got %q", name)
	}
	pkg := FullCLI
	if len(name) == 1 {
		pkg = name[0]
	}
	if !strings.Contains(pkg, "/") {
		pkg = "cmd/" + pkg
	}
	mu.Lock()
	b, ok := builds[pkg]
	if !ok {
		b = &build{}
		builds[pkg] = b
	}
	mu.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	return b.path, b.err
}

// goBuild builds Module/pkg into the shared directory.
func goBuild(pkg string) (string, error) {
	dirOK.Do(func() {
		dir, dirEr = os.MkdirTemp("", "aws-secrets-injector-bin-")
		if dirEr == nil {
			dirEr = os.Chmod(dir, 0o755)
		}
	})
	if dirEr != nil {
		return "", dirEr
	}
	out := filepath.Join(dir, path.Base(pkg))
	linked := out + ".linked"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold build on a busy 2-core machine
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", linked, Module+"/"+pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	// In the repository's own module, whose go.sum covers the binaries (a
	// nested test module, test/chart, requires only what it imports).
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	// Copied with write(2), as an image's layer is unpacked: the linker writes
	// its output through a memory map, and the page cache it leaves makes the
	// binary's resident size about 10 MiB larger (63 MB full CLI, Linux 6.x)
	// than the same file written plainly, which would skew every RSS figure.
	if err := copyFile(linked, out); err != nil {
		return "", err
	}
	return out, os.Remove(linked)
}

// copyFile writes a plain copy of src to dst, executable.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755) // any user must execute it
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, in); err != nil {
		_ = f.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return f.Close()
}

// Path is Build for a test: a build failure fails t.
func Path(t testing.TB, name ...string) string {
	t.Helper()
	p, err := Build(name...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Remove deletes the built binaries' directory; call it from TestMain after m.Run.
func Remove() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// rootModuleLine starts the repository's go.mod.
const rootModuleLine = "module " + Module + "\n"

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
