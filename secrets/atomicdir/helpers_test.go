package atomicdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// needRoot skips a test that needs root, except in CI, which runs as root:
// there a missing root is a failure, never a silent skip.
func needRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI runs as root; %s cannot run", what)
	}
	t.Skipf("%s needs root", what)
}

// mountTmpfs mounts a tmpfs with the given options ("size=64k") on a fresh
// temporary directory and unmounts it when the test ends.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	needRoot(t, "mounting a tmpfs")
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		t.Fatalf("mount tmpfs (%s) at %s: %v", opts, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// scratch is a real tmpfs (as the mounter and the injector write on) when
// running as root, else a plain temporary directory.
func scratch(t *testing.T) string {
	t.Helper()
	if os.Geteuid() == 0 {
		return mountTmpfs(t, "size=16m")
	}
	return t.TempDir()
}

// seen is one file as a pod sees it through the top-level names.
type seen struct {
	content string
	mode    fs.FileMode
}

// look reads every path of paths through dir's top-level links, as a pod
// does; a path that cannot be read as a file is absent from the result.
func look(dir string, paths []string) map[string]seen {
	out := map[string]seen{}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			continue
		}
		out[p] = seen{string(b), st.Mode().Perm()}
	}
	return out
}

// is reports whether what a pod saw is exactly set: every file of it with its
// content and mode, and nothing else.
func is(got map[string]seen, set []secrets.File) bool {
	if len(got) != len(set) {
		return false
	}
	for _, f := range set {
		g, ok := got[f.Path]
		if !ok || g.content != string(f.Content.Bytes()) || g.mode != f.Mode {
			return false
		}
	}
	return true
}

func paths(sets ...[]secrets.File) []string {
	u := map[string]bool{}
	for _, s := range sets {
		for _, f := range s {
			u[f.Path] = true
		}
	}
	return sorted(u)
}

// leftovers lists what dir holds beyond what a completed write of set leaves
// (..data, its generation, one link per top-level name), and what it lacks.
func leftovers(dir string, set []secrets.File) []string {
	var out []string
	gen, err := os.Readlink(filepath.Join(dir, DataLink))
	if err != nil {
		return []string{"no " + DataLink + ": " + err.Error()}
	}
	want := topLevel(set)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == DataLink || n == gen:
		case want[n] && isOurLink(dir, n):
			delete(want, n)
		default:
			out = append(out, "extra "+n)
		}
	}
	for _, n := range sorted(want) {
		out = append(out, "no link "+n)
	}
	return out
}

// assertClean checks that dir is exactly what a completed write of set
// leaves, that Verify agrees, and that Read returns set.
func assertClean(t *testing.T, dir string, set []secrets.File) {
	t.Helper()
	if l := leftovers(dir, set); len(l) != 0 {
		t.Errorf("not clean: %s", strings.Join(l, ", "))
	}
	if err := Verify(dir); err != nil {
		t.Errorf("Verify: %v", err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := append([]secrets.File(nil), set...)
	sort.Slice(want, func(i, j int) bool { return want[i].Path < want[j].Path })
	if len(got) != len(want) {
		t.Fatalf("Read: %d files, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Path != want[i].Path || got[i].Mode != want[i].Mode || string(got[i].Content.Bytes()) != string(want[i].Content.Bytes()) {
			t.Errorf("Read[%d] = %s %v, want %s %v", i, got[i].Path, got[i].Mode, want[i].Path, want[i].Mode)
		}
	}
}

// entryNames lists dir.
func entryNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// generations counts the generation directories of dir.
func generations(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() && generationName.MatchString(e.Name()) {
			n++
		}
	}
	return n
}

// withHook installs h for the rest of the test.
func withHook(t *testing.T, h func(step string) error) {
	t.Helper()
	hook = h
	t.Cleanup(func() { hook = nil })
}

func mustWrite(t *testing.T, dir string, set []secrets.File) {
	t.Helper()
	if _, err := Write(dir, set); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func describe(got map[string]seen) string {
	var b strings.Builder
	for _, p := range sorted(func() map[string]bool {
		m := map[string]bool{}
		for p := range got {
			m[p] = true
		}
		return m
	}()) {
		fmt.Fprintf(&b, "%s=%q(%v) ", p, got[p].content, got[p].mode)
	}
	return b.String()
}
