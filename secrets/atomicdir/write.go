package atomicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// DataLink is the name of the symlink to the current generation.
const DataLink = "..data"

const (
	dataLinkTmp = "..data_tmp"
	genPrefix   = ".."
	genLayout   = "2006_01_02_15_04_05."
)

// Options tune a write.
type Options struct {
	// GID, when set, is given group ownership of every file and directory
	// (the pod's fsGroup), so a non-root pod can read 0640 files.
	GID *int
}

// Write replaces the content of dir with files (see the package doc). It
// reports whether anything changed.
func Write(dir string, files []secrets.File) (bool, error) {
	return WriteWithOptions(dir, files, Options{})
}

// WriteWithOptions is Write with options.
func WriteWithOptions(dir string, files []secrets.File, opts Options) (changed bool, err error) {
	if err := validateSet(files); err != nil {
		return false, err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("target directory: %w", err)
	}
	if !st.IsDir() {
		return false, fmt.Errorf("target %s is not a directory", dir)
	}
	oldGen, err := currentGeneration(dir)
	if err != nil {
		return false, err
	}
	if oldGen != "" {
		same, err := sameAs(filepath.Join(dir, oldGen), files)
		if err != nil {
			return false, err
		}
		if same {
			return false, nil
		}
	}

	// 1. The new generation.
	gen, err := os.MkdirTemp(dir, genPrefix+time.Now().UTC().Format(genLayout))
	if err != nil {
		return false, fmt.Errorf("create generation directory: %w", err)
	}
	genName := filepath.Base(gen)
	defer func() {
		if err != nil {
			_ = os.RemoveAll(gen)
		}
	}()
	if err := os.Chmod(gen, 0o755); err != nil { //nolint:gosec // pods of any uid must traverse it; the file modes guard content
		return false, fmt.Errorf("chmod generation directory: %w", err)
	}
	if err := chownIf(gen, opts); err != nil {
		return false, err
	}
	for _, f := range files {
		if err := writeFile(gen, f, opts); err != nil {
			return false, err
		}
	}

	// 2. The atomic swap.
	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove stale %s: %w", dataLinkTmp, err)
	}
	if err := os.Symlink(genName, tmp); err != nil {
		return false, fmt.Errorf("create %s: %w", dataLinkTmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, DataLink)); err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("swap %s: %w", DataLink, err)
	}

	// 3. Top-level links. From here on the new set is live; errors are still reported.
	if err := syncLinks(dir, topLevel(files)); err != nil {
		return true, err
	}
	// 4. The old generation.
	if oldGen != "" && oldGen != genName {
		if err := os.RemoveAll(filepath.Join(dir, oldGen)); err != nil {
			return true, fmt.Errorf("remove old generation: %w", err)
		}
	}
	return true, nil
}

// validateSet checks every path and that no path is duplicated or is both a
// file and a directory of another ("a" and "a/b").
func validateSet(files []secrets.File) error {
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if err := secrets.ValidatePath(f.Path); err != nil {
			return err
		}
		if f.Mode&^fs.ModePerm != 0 {
			return fmt.Errorf("%w: %q: mode %v has bits beyond the permissions", secrets.ErrInvalidPath, f.Path, f.Mode)
		}
		if seen[f.Path] {
			return fmt.Errorf("%w: %q appears twice", secrets.ErrInvalidPath, f.Path)
		}
		seen[f.Path] = true
	}
	for p := range seen {
		for dirPart := filepath.Dir(p); dirPart != "."; dirPart = filepath.Dir(dirPart) {
			if seen[dirPart] {
				return fmt.Errorf("%w: %q is both a file and the directory of %q", secrets.ErrInvalidPath, dirPart, p)
			}
		}
	}
	return nil
}

// currentGeneration returns the name ..data points to, or "" when dir is not managed yet.
func currentGeneration(dir string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, DataLink))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", DataLink, err)
	}
	if strings.Contains(target, "/") || !strings.HasPrefix(target, genPrefix) {
		return "", fmt.Errorf("%s in %s points to %q, not to a generation directory", DataLink, dir, target)
	}
	return target, nil
}

// sameAs reports whether the generation at gen holds exactly files.
func sameAs(gen string, files []secrets.File) (bool, error) {
	old, err := readGeneration(gen)
	if err != nil {
		return false, err
	}
	if len(old) != len(files) {
		return false, nil
	}
	byPath := make(map[string]secrets.File, len(old))
	for _, f := range old {
		byPath[f.Path] = f
	}
	for _, f := range files {
		o, ok := byPath[f.Path]
		if !ok || o.Mode != f.Mode || !bytes.Equal(o.Content.Bytes(), f.Content.Bytes()) {
			return false, nil
		}
	}
	return true, nil
}

func writeFile(gen string, f secrets.File, opts Options) error {
	if d := filepath.Dir(f.Path); d != "." {
		if err := mkdirAll(gen, d, opts); err != nil {
			return err
		}
	}
	p := filepath.Join(gen, f.Path)
	fd, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", f.Path, err)
	}
	_, werr := fd.Write(f.Content.Bytes())
	if werr == nil {
		werr = fd.Chmod(f.Mode)
	}
	if werr == nil && opts.GID != nil {
		werr = fd.Chown(-1, *opts.GID)
	}
	if cerr := fd.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", f.Path, werr)
	}
	return nil
}

// mkdirAll creates the subdirectories of rel inside gen, one element at a time,
// refusing to follow a symlink.
func mkdirAll(gen, rel string, opts Options) error {
	cur := gen
	for _, el := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, el)
		st, err := os.Lstat(cur)
		switch {
		case err == nil && st.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("%w: %s exists and is not a directory", secrets.ErrInvalidPath, rel)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("stat %s: %w", rel, err)
		}
		if err := os.Mkdir(cur, 0o755); err != nil { //nolint:gosec // pods of any uid must traverse it; the file modes guard content
			return fmt.Errorf("create directory %s: %w", rel, err)
		}
		if err := chownIf(cur, opts); err != nil {
			return err
		}
	}
	return nil
}

func chownIf(p string, opts Options) error {
	if opts.GID == nil {
		return nil
	}
	if err := os.Lchown(p, -1, *opts.GID); err != nil {
		return fmt.Errorf("chown %s: %w", filepath.Base(p), err)
	}
	return nil
}

func topLevel(files []secrets.File) map[string]bool {
	names := make(map[string]bool, len(files))
	for _, f := range files {
		name, _, _ := strings.Cut(f.Path, "/")
		names[name] = true
	}
	return names
}

// syncLinks makes dir hold exactly one "name -> ..data/name" symlink per wanted name.
func syncLinks(dir string, want map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, genPrefix) {
			continue
		}
		if !isOurLink(dir, name) {
			if want[name] {
				return fmt.Errorf("refusing to replace %s in %s: not a link managed by the writer", name, dir)
			}
			continue // someone else's file: leave it alone
		}
		if want[name] {
			have[name] = true
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove link %s: %w", name, err)
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		if !have[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.Symlink(filepath.Join(DataLink, n), filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("link %s: %w", n, err)
		}
	}
	return nil
}

func isOurLink(dir, name string) bool {
	target, err := os.Readlink(filepath.Join(dir, name))
	return err == nil && target == filepath.Join(DataLink, name)
}

// Read returns the current file set of a managed directory (sorted by path),
// or an empty set when dir has never been written.
func Read(dir string) ([]secrets.File, error) {
	gen, err := currentGeneration(dir)
	if err != nil || gen == "" {
		return nil, err
	}
	return readGeneration(filepath.Join(dir, gen))
}

// readGeneration reads a generation through an os.Root, so a symlink planted
// inside it cannot make the walk read outside.
func readGeneration(gen string) ([]secrets.File, error) {
	root, err := os.OpenRoot(gen)
	if err != nil {
		return nil, fmt.Errorf("open generation %s: %w", filepath.Base(gen), err)
	}
	defer func() { _ = root.Close() }()
	rfs := root.FS()
	var out []secrets.File
	err = fs.WalkDir(rfs, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("unexpected %v at %s", d.Type(), p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := fs.ReadFile(rfs, p)
		if err != nil {
			return err
		}
		out = append(out, secrets.File{Path: p, Mode: info.Mode().Perm(), Content: secrets.NewValue(b)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read generation %s: %w", filepath.Base(gen), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
