package atomicdir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// A regular file where a link of the new set should go fails the write, and
// the files served stay served (the writer used to swap first, fail at the
// link and then delete the generation ..data already pointed to).
func TestForeignFileAtALinkKeepsTheServedFiles(t *testing.T) {
	dir := t.TempDir()
	old := []secrets.File{file("a", 0o644, "old")}
	mustWrite(t, dir, old)
	if err := os.WriteFile(filepath.Join(dir, "b"), []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := Write(dir, []secrets.File{file("a", 0o644, "new"), file("b", 0o644, "new")})
	if err == nil || changed {
		t.Fatalf("write over a foreign file: changed=%v err=%v", changed, err)
	}
	if !strings.Contains(err.Error(), "kept") || reason.Of(err) != reason.WriteFailed {
		t.Errorf("error %q (reason %s) does not say the files were kept", err, reason.Of(err))
	}
	if got := readVisible(t, dir, "a"); got != "old" {
		t.Errorf("a = %q, want the old value still served", got)
	}
	if got := readVisible(t, dir, "b"); got != "someone else's" {
		t.Errorf("foreign file changed: %q", got)
	}
	if err := os.Remove(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir); err != nil {
		t.Errorf("Verify: %v", err)
	}
	// And the next write works (it used to fail on the missing generation).
	next := []secrets.File{file("a", 0o644, "next")}
	mustWrite(t, dir, next)
	assertClean(t, dir, next)
}

// ENOSPC at the link step on a real tmpfs out of inodes: the write fails
// before the swap and the old set stays whole.
func TestNoInodeForALinkKeepsTheServedFiles(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	old := []secrets.File{file("a", 0o644, "old")}
	mustWrite(t, dir, old)
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	used := st.Files - st.Ffree
	// Room for the new generation (a directory and three files) and one
	// link: the second new link finds no inode.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_NOSUID|syscall.MS_NODEV,
		"size=1m,nr_inodes="+strconv.FormatUint(used+5, 10)); err != nil {
		t.Fatalf("remount: %v", err)
	}
	changed, err := Write(dir, []secrets.File{file("a", 0o644, "new"), file("b", 0o644, "new"), file("c", 0o644, "new")})
	if err == nil || changed || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write with no inode for a link: changed=%v err=%v", changed, err)
	}
	if !strings.Contains(err.Error(), `link "c"`) {
		t.Errorf("error %q: want the failure at the link of c", err)
	}
	assertClean(t, dir, old)
	if got := readVisible(t, dir, "a"); got != "old" {
		t.Errorf("a = %q, want the old value still served", got)
	}
}

// An unchanged set still repairs the top-level links a crash (or an older
// version) left missing or dangling, without rewriting the generation.
func TestUnchangedWriteRepairsTheLinks(t *testing.T) {
	dir := t.TempDir()
	set := []secrets.File{file("db-user", 0o644, "admin"), file("db-password", 0o600, "pw")}
	mustWrite(t, dir, set)
	gen, _ := os.Readlink(filepath.Join(dir, DataLink))
	if err := os.Remove(filepath.Join(dir, "db-user")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(DataLink, "gone"), filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir); err == nil {
		t.Error("Verify passed with db-user's link missing")
	}
	changed, err := Write(dir, set)
	if err != nil || changed {
		t.Fatalf("unchanged write: changed=%v err=%v", changed, err)
	}
	if got := readVisible(t, dir, "db-user"); got != "admin" {
		t.Errorf("db-user = %q", got)
	}
	if after, _ := os.Readlink(filepath.Join(dir, DataLink)); after != gen {
		t.Errorf("the generation was rewritten: %s → %s", gen, after)
	}
	assertClean(t, dir, set)
}

// staleDirs plants what crashed writes leave: two generations holding an
// old value (one named the way older versions named them), and ..data_tmp.
func staleDirs(t *testing.T, dir string) []string {
	t.Helper()
	names := []string{"..2020_01_02_03_04_05.123456789", "..2021_05_06_07_08_09.42"}
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "sub", "db-password"), []byte("pre-rotation"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(names[0], filepath.Join(dir, dataLinkTmp)); err != nil {
		t.Fatal(err)
	}
	return append(names, dataLinkTmp)
}

// foreign plants entries that are not the writer's, some with names close
// to its own; they must survive every write and repair.
func foreign(t *testing.T, dir string) []string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "..notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "..2020_01_02_03_04_05.7"), []byte("a file, not a generation"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "..2020_01_02_03_04_05.x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("elsewhere", filepath.Join(dir, "other-link")); err != nil {
		t.Fatal(err)
	}
	return []string{"keep", "..notes", "..2020_01_02_03_04_05.7", "..2020_01_02_03_04_05.x", "other-link"}
}

func assertGone(t *testing.T, dir string, names []string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", n, err)
		}
	}
}

func assertThere(t *testing.T, dir string, names []string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s, not the writer's, was removed: %v", n, err)
		}
	}
}

// Every write collects stale generations, changed or not, and touches
// nothing that is not the writer's.
func TestWritesCollectStaleGenerations(t *testing.T) {
	for _, changing := range []bool{true, false} {
		dir := t.TempDir()
		set := []secrets.File{file("db-password", 0o600, "now")}
		mustWrite(t, dir, set)
		stale := staleDirs(t, dir)
		mine := foreign(t, dir)
		if changing {
			set = []secrets.File{file("db-password", 0o600, "next")}
		}
		changed, err := Write(dir, set)
		if err != nil || changed != changing {
			t.Fatalf("write (changing=%v): changed=%v err=%v", changing, changed, err)
		}
		assertGone(t, dir, stale)
		assertThere(t, dir, mine)
		if n := generations(t, dir); n != 1 {
			t.Errorf("changing=%v: %d generations, want 1", changing, n)
		}
		if err := Verify(dir); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

// Stale generations are collected before the new one is written: on a full
// tmpfs their space is what the new set needs.
func TestStaleGenerationsFreeTheirSpace(t *testing.T) {
	dir := mountTmpfs(t, "size=64k")
	mustWrite(t, dir, []secrets.File{file("v", 0o600, "small")})
	stale := filepath.Join(dir, "..2020_01_02_03_04_05.1")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "v"), make([]byte, 36<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	set := []secrets.File{file("v", 0o600, strings.Repeat("n", 24<<10))}
	if _, err := Write(dir, set); err != nil {
		t.Fatalf("write that fits once the stale generation is gone: %v", err)
	}
	assertClean(t, dir, set)
}

// A write that runs out of space before the swap keeps the set served,
// leaves none of its own partial generation (the space is free again) and
// says what to do.
func TestFullTmpfsKeepsTheServedFiles(t *testing.T) {
	dir := mountTmpfs(t, "size=64k")
	old := []secrets.File{file("db-user", 0o644, "admin"), file("db-password", 0o600, "pw")}
	mustWrite(t, dir, old)
	var before, after syscall.Statfs_t
	if err := syscall.Statfs(dir, &before); err != nil {
		t.Fatal(err)
	}
	big := []secrets.File{file("db-user", 0o644, "admin"), file("db-password", 0o600, strings.Repeat("x", 100<<10))}
	changed, err := Write(dir, big)
	if err == nil || changed {
		t.Fatalf("100 KiB into a 64 KiB tmpfs: changed=%v err=%v", changed, err)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("error %v is not ENOSPC", err)
	}
	if reason.Of(err) != reason.WriteFailed {
		t.Errorf("reason %s, want %s", reason.Of(err), reason.WriteFailed)
	}
	for _, want := range []string{"the files in place were kept", "raise the volume's size", `"db-password"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), dir) {
		t.Errorf("error %q prints the raw path", err)
	}
	assertClean(t, dir, old)
	if err := syscall.Statfs(dir, &after); err != nil {
		t.Fatal(err)
	}
	if after.Bfree != before.Bfree || after.Ffree != before.Ffree {
		t.Errorf("the failed write kept space: %d→%d free blocks, %d→%d free inodes", before.Bfree, after.Bfree, before.Ffree, after.Ffree)
	}
	next := []secrets.File{file("db-user", 0o644, "admin"), file("db-password", 0o600, "rotated")}
	if changed, err := Write(dir, next); err != nil || !changed {
		t.Fatalf("write that fits after the failed one: changed=%v err=%v", changed, err)
	}
	assertClean(t, dir, next)
}

func TestRepair(t *testing.T) {
	t.Run("crashed rotation", func(t *testing.T) {
		dir := t.TempDir()
		set := []secrets.File{file("a", 0o644, "1"), file("b/c", 0o644, "2")}
		mustWrite(t, dir, set)
		stale := staleDirs(t, dir)
		mine := foreign(t, dir)
		if err := os.Remove(filepath.Join(dir, "b")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(DataLink, "gone"), filepath.Join(dir, "gone")); err != nil {
			t.Fatal(err)
		}
		gen, _ := os.Readlink(filepath.Join(dir, DataLink))
		if err := Repair(dir); err != nil {
			t.Fatal(err)
		}
		assertGone(t, dir, append(stale, "gone"))
		assertThere(t, dir, mine)
		if after, _ := os.Readlink(filepath.Join(dir, DataLink)); after != gen {
			t.Errorf("repair moved %s: %s → %s", DataLink, gen, after)
		}
		if got := readVisible(t, dir, "b/c"); got != "2" {
			t.Errorf("b/c = %q", got)
		}
		if err := Verify(dir); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
	t.Run("crashed first write", func(t *testing.T) {
		dir := t.TempDir()
		stale := staleDirs(t, dir)
		if err := os.Symlink(filepath.Join(DataLink, "a"), filepath.Join(dir, "a")); err != nil {
			t.Fatal(err)
		}
		mine := foreign(t, dir)
		if err := Repair(dir); err != nil {
			t.Fatal(err)
		}
		assertGone(t, dir, append(stale, "a"))
		assertThere(t, dir, mine)
	})
	t.Run("clean, empty and unmanaged directories are not touched", func(t *testing.T) {
		for _, prep := range []func(t *testing.T, dir string){
			func(*testing.T, string) {},
			func(t *testing.T, dir string) { foreign(t, dir) },
			func(t *testing.T, dir string) { mustWrite(t, dir, []secrets.File{file("a", 0o644, "1")}) },
		} {
			dir := t.TempDir()
			prep(t, dir)
			before := entryNames(t, dir)
			// Read-only, as the mounter's target is: any change would fail.
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			withHook(t, func(step string) error {
				t.Errorf("repair of a clean directory took step %q", step)
				return nil
			})
			if err := Repair(dir); err != nil {
				t.Errorf("Repair: %v", err)
			}
			hook = nil
			_ = os.Chmod(dir, 0o755)
			if after := entryNames(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("Repair changed %q to %q", before, after)
			}
		}
	})
	t.Run("missing generation", func(t *testing.T) {
		dir := t.TempDir()
		mustWrite(t, dir, []secrets.File{file("a", 0o644, "1")})
		gen, _ := os.Readlink(filepath.Join(dir, DataLink))
		if err := os.RemoveAll(filepath.Join(dir, gen)); err != nil {
			t.Fatal(err)
		}
		if err := Repair(dir); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("Repair with ..data dangling: %v", err)
		}
		if err := Verify(dir); err == nil {
			t.Error("Verify passed with ..data dangling")
		}
		// The state older versions left after a failed link step: the next
		// write restores the files instead of failing forever.
		set := []secrets.File{file("a", 0o644, "2")}
		if changed, err := Write(dir, set); err != nil || !changed {
			t.Fatalf("write over a dangling ..data: changed=%v err=%v", changed, err)
		}
		assertClean(t, dir, set)
	})
	t.Run("not a directory the writer manages", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Symlink("..", filepath.Join(dir, DataLink)); err != nil {
			t.Fatal(err)
		}
		if err := Repair(dir); err == nil {
			t.Error("Repair accepted ..data -> ..")
		}
		if _, err := Write(dir, []secrets.File{file("a", 0o644, "1")}); err == nil {
			t.Error("Write accepted ..data -> ..")
		}
		if err := Verify(dir); err == nil {
			t.Error("Verify accepted ..data -> ..")
		}
	})
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	if err := Verify(dir); err == nil || !strings.Contains(err.Error(), "first write has not completed") {
		t.Errorf("Verify of an empty directory: %v", err)
	}
	set := []secrets.File{file("a", 0o644, "1"), file("b/c", 0o644, "2")}
	mustWrite(t, dir, set)
	if err := Verify(dir); err != nil {
		t.Fatalf("Verify after a write: %v", err)
	}
	// Each way the set can be incomplete.
	breakers := map[string]func(dir, gen string) error{
		"link missing":     func(dir, _ string) error { return os.Remove(filepath.Join(dir, "b")) },
		"link elsewhere":   func(dir, gen string) error { return replaceLink(filepath.Join(dir, "a"), filepath.Join(gen, "a")) },
		"generation gone":  func(dir, gen string) error { return os.RemoveAll(filepath.Join(dir, gen)) },
		"..data not a gen": func(dir, _ string) error { return replaceLink(filepath.Join(dir, DataLink), "b") },
		"..data is a file": func(dir, _ string) error {
			if err := os.Remove(filepath.Join(dir, DataLink)); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, DataLink), nil, 0o644)
		},
	}
	for name, brk := range breakers {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			mustWrite(t, dir, set)
			gen, _ := os.Readlink(filepath.Join(dir, DataLink))
			if err := brk(dir, gen); err != nil {
				t.Fatal(err)
			}
			err := Verify(dir)
			if err == nil {
				t.Fatal("Verify passed")
			}
			if !strings.HasPrefix(err.Error(), "not ready: ") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func replaceLink(p, target string) error {
	if err := os.Remove(p); err != nil {
		return err
	}
	return os.Symlink(target, p)
}

// Names in errors are quoted and bounded: a name with control characters
// cannot forge a log line, a long one cannot make a huge error.
func TestErrorsQuoteNames(t *testing.T) {
	evil := "x\x1b[31m\nfake log line\r" + strings.Repeat("z", 200)
	long := strings.Repeat("y", 250) + "/" + strings.Repeat("w", 250) + "/" + strings.Repeat("v", 250)
	check := func(t *testing.T, err error, what string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		msg := err.Error()
		for _, r := range msg {
			if unicode.IsControl(r) {
				t.Errorf("%s: error has control character %U: %q", what, r, msg)
				break
			}
		}
		if len(msg) > 2*secrets.MaxQuoted+400 {
			t.Errorf("%s: error is %d bytes: %q", what, len(msg), msg)
		}
	}
	t.Run("foreign file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, evil), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Write(dir, []secrets.File{file(evil, 0o644, "v")})
		check(t, err, "refusing to replace")
	})
	t.Run("duplicate", func(t *testing.T) {
		_, err := Write(t.TempDir(), []secrets.File{file(long, 0o644, "v"), file(long, 0o644, "v")})
		check(t, err, "duplicate")
	})
	t.Run("file and directory", func(t *testing.T) {
		_, err := Write(t.TempDir(), []secrets.File{file(long, 0o644, "v"), file(long+"/u", 0o644, "v")})
		check(t, err, "file and directory")
	})
	t.Run("failing syscall", func(t *testing.T) {
		dir := t.TempDir()
		withHook(t, func(step string) error {
			if strings.HasPrefix(step, "write ") {
				return syscall.EIO
			}
			return nil
		})
		_, err := Write(dir, []secrets.File{file(evil+"/"+long, 0o644, "v")})
		check(t, err, "write")
		if err != nil && strings.Contains(err.Error(), dir) {
			t.Errorf("error %q prints the raw path", err)
		}
	})
}
