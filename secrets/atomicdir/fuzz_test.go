package atomicdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// FuzzWrite: arbitrary names either are rejected or land inside dir; nothing is
// ever created outside it.
func FuzzWrite(f *testing.F) {
	for _, s := range []string{"a", "../a", "/a", "a/b", "..data", "a//b", ".", "a/./b", "x\x00y", "ü", strings.Repeat("z", 300)} {
		f.Add(s, "b")
	}
	f.Fuzz(func(t *testing.T, p1, p2 string) {
		root := t.TempDir()
		dir := filepath.Join(root, "target")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := []secrets.File{{Path: p1, Mode: 0o644, Content: secrets.NewStringValue("1")}, {Path: p2, Mode: 0o600, Content: secrets.NewStringValue("2")}}
		vErr := secrets.ValidatePath(p1)
		_, err := Write(dir, files)
		if vErr != nil && err == nil {
			t.Fatalf("Write accepted %q which ValidatePath rejects", p1)
		}
		entries, _ := os.ReadDir(root)
		if len(entries) != 1 {
			t.Fatalf("something was written beside the target: %v", entries)
		}
		if err == nil {
			got, rerr := Read(dir)
			if rerr != nil || len(got) != 2 {
				t.Fatalf("read back %v %v", got, rerr)
			}
			for _, f := range got {
				if f.Path != p1 && f.Path != p2 {
					t.Fatalf("unexpected path %q", f.Path)
				}
			}
			_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !strings.HasPrefix(p, dir) {
					t.Fatalf("outside: %s", p)
				}
				return nil
			})
		}
	})
}
