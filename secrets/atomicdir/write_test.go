package atomicdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

func file(p string, mode fs.FileMode, content string) secrets.File {
	return secrets.File{Path: p, Mode: mode, Content: secrets.NewStringValue(content)}
}

func readVisible(t *testing.T, dir, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, p))
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func listVisible(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func TestWriteLifecycle(t *testing.T) {
	dir := t.TempDir()
	set1 := []secrets.File{file("db-user", 0o644, "admin"), file("db-password", 0o600, "supersecretpassword"), file("nested/a/b", 0o640, "deep")}
	changed, err := Write(dir, set1)
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	if got := readVisible(t, dir, "db-user"); got != "admin" {
		t.Errorf("db-user = %q", got)
	}
	if got := readVisible(t, dir, "nested/a/b"); got != "deep" {
		t.Errorf("nested = %q", got)
	}
	st, err := os.Stat(filepath.Join(dir, "db-password"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("db-password mode = %v, %v", st.Mode(), err)
	}
	if got := strings.Join(listVisible(t, dir), ","); got != "db-password,db-user,nested" {
		t.Errorf("visible = %s", got)
	}

	// Unchanged: nothing is touched (same inode, same mtime, same generation).
	before, _ := os.Readlink(filepath.Join(dir, DataLink))
	stBefore, _ := os.Stat(filepath.Join(dir, "db-user"))
	time.Sleep(10 * time.Millisecond)
	changed, err = Write(dir, []secrets.File{set1[2], set1[0], set1[1]})
	if err != nil || changed {
		t.Fatalf("same set rewritten: changed=%v err=%v", changed, err)
	}
	after, _ := os.Readlink(filepath.Join(dir, DataLink))
	stAfter, _ := os.Stat(filepath.Join(dir, "db-user"))
	if before != after || !stBefore.ModTime().Equal(stAfter.ModTime()) ||
		stBefore.Sys().(*syscall.Stat_t).Ino != stAfter.Sys().(*syscall.Stat_t).Ino {
		t.Errorf("unchanged write touched files: gen %s→%s", before, after)
	}

	// A mode change alone is a change.
	changed, err = Write(dir, []secrets.File{file("db-user", 0o400, "admin"), set1[1], set1[2]})
	if err != nil || !changed {
		t.Fatalf("mode change not written: %v %v", changed, err)
	}

	// Removed objects disappear; the old generation is gone.
	changed, err = Write(dir, []secrets.File{file("db-user", 0o644, "root")})
	if err != nil || !changed {
		t.Fatalf("shrink: %v %v", changed, err)
	}
	if got := strings.Join(listVisible(t, dir), ","); got != "db-user" {
		t.Errorf("after shrink visible = %s", got)
	}
	entries, _ := os.ReadDir(dir)
	gens := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") && e.Name() != DataLink {
			gens++
		}
	}
	if gens != 1 {
		t.Errorf("%d generation directories left, want 1", gens)
	}
	got, err := Read(dir)
	if err != nil || len(got) != 1 || string(got[0].Content.Bytes()) != "root" || got[0].Mode != 0o644 {
		t.Errorf("Read = %v, %v", got, err)
	}
}

func TestWriteRejectsBadSetsAndWritesNothing(t *testing.T) {
	cases := map[string][]secrets.File{
		"absolute":      {file("/etc/passwd", 0o644, "x")},
		"dotdot":        {file("../escape", 0o644, "x")},
		"inner dotdot":  {file("a/../../escape", 0o644, "x")},
		"empty":         {file("", 0o644, "x")},
		"reserved":      {file("..data", 0o644, "x")},
		"too long":      {file(strings.Repeat("n", 256), 0o644, "x")},
		"duplicate":     {file("a", 0o644, "x"), file("a", 0o644, "y")},
		"file and dir":  {file("a", 0o644, "x"), file("a/b", 0o644, "y")},
		"setuid mode":   {file("a", 0o4755, "x")},
		"empty element": {file("a//b", 0o644, "x")},
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Write(dir, set); err == nil || !errors.Is(err, secrets.ErrInvalidPath) {
				t.Fatalf("accepted (%v)", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("wrote %d entries for a rejected set", len(entries))
			}
		})
	}
}

func TestWriteLeavesForeignFilesAndRefusesToReplaceThem(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, []secrets.File{file("a", 0o644, "x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, []secrets.File{file("b", 0o644, "y")}); err != nil {
		t.Fatal(err)
	}
	if got := readVisible(t, dir, "keep"); got != "mine" {
		t.Errorf("foreign file changed: %q", got)
	}
	if _, err := Write(dir, []secrets.File{file("keep", 0o644, "z")}); err == nil {
		t.Error("replaced a file the writer does not manage")
	}
	if got := readVisible(t, dir, "keep"); got != "mine" {
		t.Errorf("foreign file changed: %q", got)
	}
}

func TestWriteGID(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; chown test cannot run")
		}
		t.Skip("chown to another group needs root")
	}
	dir := t.TempDir()
	gid := 4242
	if _, err := WriteWithOptions(dir, []secrets.File{file("a/b", 0o640, "x")}, Options{GID: &gid}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "a/b"} {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil || st.Sys().(*syscall.Stat_t).Gid != uint32(gid) {
			t.Errorf("%s gid = %v, %v", p, st.Sys().(*syscall.Stat_t).Gid, err)
		}
	}
}

// TestReadersNeverSeeAMix: readers going through ..data always find the two
// files of one generation together while a writer alternates sets.
func TestReadersNeverSeeAMix(t *testing.T) {
	dir := t.TempDir()
	set := func(n int) []secrets.File {
		v := fmt.Sprint(n)
		return []secrets.File{file("x", 0o644, v), file("y", 0o644, v)}
	}
	if _, err := Write(dir, set(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var mixes, reads atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				gen, err := os.Readlink(filepath.Join(dir, DataLink))
				if err != nil {
					continue
				}
				x, errX := os.ReadFile(filepath.Join(dir, gen, "x"))
				y, errY := os.ReadFile(filepath.Join(dir, gen, "y"))
				if errX != nil || errY != nil {
					continue // the generation was removed under us; a real reader would retry
				}
				reads.Add(1)
				if string(x) != string(y) {
					mixes.Add(1)
				}
			}
		}()
	}
	for i := 1; i <= 300; i++ {
		if _, err := Write(dir, set(i)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if mixes.Load() != 0 {
		t.Errorf("%d of %d reads saw a mixed set", mixes.Load(), reads.Load())
	}
	if reads.Load() == 0 {
		t.Error("readers never read")
	}
	if got := readVisible(t, dir, "x") + readVisible(t, dir, "y"); got != "300300" {
		t.Errorf("final = %q", got)
	}
}
