package atomicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// DataLink is the name of the symlink to the current generation.
const DataLink = "..data"

const (
	dataLinkTmp = "..data_tmp"
	genPrefix   = ".."
	genLayout   = "2006_01_02_15_04_05.000000000"
)

// generationName matches the names of the writer's generation directories:
// ours ("..2026_11_27_08_50_00.123456789") and those of earlier versions and
// of the kubelet (the same timestamp, then the digits os.MkdirTemp adds). Only
// entries matching it are ever removed as stale generations.
var generationName = regexp.MustCompile(`^\.\.[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}_[0-9]{2}\.[0-9]+$`)

// ErrCleanup is wrapped by the error of a write that did replace the set
// (changed is true, readers see the new files) but could not remove what an
// earlier set left behind: a previous generation, or the link of a name that
// is gone. Those leftovers are not reachable through the top-level names; the
// next Write or Repair removes them. A caller must not report such a write
// as "keeping the previous files".
var ErrCleanup = errors.New("the new files are in place, but removing what the previous set left behind failed")

// hook, when set (by tests only), runs before every step that changes the
// directory; an error it returns is taken as that step's error. Nil in
// production: the cost is one comparison per step.
var hook func(step string) error

// at consults hook before the step named by op and name.
func at(op, name string) error {
	if hook == nil {
		return nil
	}
	return hook(op + " " + name)
}

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
//
// An invalid set is refused before anything is touched (the error wraps
// secrets.ErrInvalidPath). Any other error with changed false has
// reason.WriteFailed and left the files in place as they were. An error with
// changed true wraps ErrCleanup: the new files are in place and only
// leftovers of the previous set remain.
func WriteWithOptions(dir string, files []secrets.File, opts Options) (bool, error) {
	if err := validateSet(files); err != nil {
		return false, err
	}
	if err := checkDir(dir); err != nil {
		return false, reason.Wrap(reason.WriteFailed, err)
	}
	cur, live, err := current(dir)
	if err != nil {
		return false, failed(err)
	}
	want := topLevel(files)

	// 0. The same set: nothing is rewritten, but what a crash or an older
	// version left is repaired (missing links, stale generations).
	if live {
		if old, err := readGeneration(filepath.Join(dir, cur)); err == nil && same(old, files) {
			if err := tidy(dir, cur, want); err != nil {
				return false, failed(fmt.Errorf("repair the unchanged set: %w", err))
			}
			return false, nil
		}
		// An unreadable current generation is replaced like a changed one.
	}

	// 1. Collect what crashed writes left (best effort: a failure here is
	// retried in step 5, and only reported there).
	_ = collect(dir, cur)

	// 2. The new generation, in a fresh directory no reader can reach yet.
	gen, err := newGeneration(dir, files, opts)
	if err != nil {
		return false, failed(err)
	}

	// 3. A link for every name that is new in this set. It resolves through
	// ..data into the old generation, which lacks the name: until the swap,
	// opening it fails exactly as if it were absent.
	added, err := addLinks(dir, want)
	if err != nil {
		undo(dir, gen, added)
		return false, failed(err)
	}

	// 4. The swap: a temporary link to gen, renamed over ..data. The rename
	// is the commit point; from it on every top-level name resolves into gen.
	if err := swap(dir, gen); err != nil {
		undo(dir, gen, added)
		return false, failed(err)
	}

	// 5. Past the point of no return: nothing below may undo the swap. Remove
	// the links of names that are gone (they dangle now) and every generation
	// but gen.
	if err := errors.Join(removeLinks(dir, want), collect(dir, gen)); err != nil {
		return true, reason.Wrap(reason.WriteFailed, fmt.Errorf("%w: %w", ErrCleanup, err))
	}
	return true, nil
}

// Repair brings a managed directory back to the state a completed write
// leaves, without changing the files it serves: it removes stale generations
// and a stale ..data_tmp, adds missing top-level links of the current set and
// removes links of names it does not hold. Call it for a directory that may
// have outlived a crashed writer (the mounter, for each volume it restores,
// before it writes again). It does nothing on a directory the writer has
// never touched or that is already clean, and never touches an entry that is
// not the writer's own. Like Write, it must not run concurrently with another
// write to dir.
func Repair(dir string) error {
	if err := checkDir(dir); err != nil {
		return err
	}
	cur, live, err := current(dir)
	if err != nil {
		return reason.Wrap(reason.WriteFailed, err)
	}
	var want map[string]bool
	if live {
		if want, err = generationNames(filepath.Join(dir, cur)); err != nil {
			return reason.Wrap(reason.WriteFailed, err)
		}
	}
	if err := tidy(dir, cur, want); err != nil {
		return reason.Wrap(reason.WriteFailed, fmt.Errorf("repair %s: %w", secrets.Quote(dir), err))
	}
	if cur != "" && !live {
		return reason.Wrap(reason.WriteFailed, fmt.Errorf("repair %s: %s points to %s, which does not exist: no files are served until the next write",
			secrets.Quote(dir), DataLink, secrets.Quote(cur)))
	}
	return nil
}

// Verify reports whether dir serves a complete file set: nil only when ..data
// resolves to a generation directory and every top-level entry of that
// generation has its top-level link. It is the readiness check of a filled
// directory; it reads only, so it works on a read-only mount.
func Verify(dir string) error {
	target, err := os.Readlink(filepath.Join(dir, DataLink))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("not ready: %s has no %s link (the first write has not completed)", secrets.Quote(dir), DataLink)
	}
	if err != nil {
		return fmt.Errorf("not ready: read %s in %s: %w", DataLink, secrets.Quote(dir), bare(err))
	}
	if !generationName.MatchString(target) {
		return fmt.Errorf("not ready: %s in %s points to %s, not to a generation directory", DataLink, secrets.Quote(dir), secrets.Quote(target))
	}
	entries, err := os.ReadDir(filepath.Join(dir, target))
	if err != nil {
		return fmt.Errorf("not ready: read generation %s in %s: %w", secrets.Quote(target), secrets.Quote(dir), bare(err))
	}
	for _, e := range entries {
		if !isOurLink(dir, e.Name()) {
			return fmt.Errorf("not ready: %s in %s has no link %s -> %s", secrets.Quote(e.Name()), secrets.Quote(dir), secrets.Quote(e.Name()),
				secrets.Quote(filepath.Join(DataLink, e.Name())))
		}
	}
	return nil
}

// failed is the error of a write that stopped before the swap: the files in
// place are kept, and the message says so (and what to do about a full
// volume).
func failed(err error) error {
	msg := "the files in place were kept"
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		msg = "the volume is full; the files in place were kept; raise the volume's size (the mounter's --tmpfs-size, " +
			"the injector emptyDir's sizeLimit) or deliver fewer or smaller files"
	}
	return reason.Wrap(reason.WriteFailed, fmt.Errorf("%w (%s)", err, msg))
}

// bare strips the path from an os error: the path holds names taken from the
// class or the secret's keys, which the messages print through secrets.Quote
// only. errors.Is still sees the errno.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// opError is "op "name": errno".
func opError(op, name string, err error) error {
	return fmt.Errorf("%s %s: %w", op, secrets.Quote(name), bare(err))
}

func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("target directory %s: %w", secrets.Quote(dir), bare(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("target %s is not a directory", secrets.Quote(dir))
	}
	return nil
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
			return fmt.Errorf("%w: %s: mode %v has bits beyond the permissions", secrets.ErrInvalidPath, secrets.Quote(f.Path), f.Mode)
		}
		if seen[f.Path] {
			return fmt.Errorf("%w: %s appears twice", secrets.ErrInvalidPath, secrets.Quote(f.Path))
		}
		seen[f.Path] = true
	}
	for p := range seen {
		for dirPart := filepath.Dir(p); dirPart != "."; dirPart = filepath.Dir(dirPart) {
			if seen[dirPart] {
				return fmt.Errorf("%w: %s is both a file and the directory of %s", secrets.ErrInvalidPath, secrets.Quote(dirPart), secrets.Quote(p))
			}
		}
	}
	return nil
}

// current returns the generation ..data names ("" when dir is not managed
// yet) and whether that generation directory exists.
func current(dir string) (gen string, live bool, err error) {
	target, err := os.Readlink(filepath.Join(dir, DataLink))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", DataLink, bare(err))
	}
	if !generationName.MatchString(target) {
		return "", false, fmt.Errorf("%s in %s points to %s, not to a generation directory", DataLink, secrets.Quote(dir), secrets.Quote(target))
	}
	st, err := os.Lstat(filepath.Join(dir, target))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return target, false, nil
	case err != nil:
		return "", false, fmt.Errorf("stat generation %s: %w", secrets.Quote(target), bare(err))
	case !st.IsDir():
		return "", false, fmt.Errorf("%s in %s points to %s, which is not a directory", DataLink, secrets.Quote(dir), secrets.Quote(target))
	}
	return target, true, nil
}

// same reports whether old holds exactly files.
func same(old, files []secrets.File) bool {
	if len(old) != len(files) {
		return false
	}
	byPath := make(map[string]secrets.File, len(old))
	for _, f := range old {
		byPath[f.Path] = f
	}
	for _, f := range files {
		o, ok := byPath[f.Path]
		if !ok || o.Mode != f.Mode || !bytes.Equal(o.Content.Bytes(), f.Content.Bytes()) {
			return false
		}
	}
	return true
}

// newGeneration writes files into a fresh generation directory of dir and
// returns its name. On failure it removes what it created and nothing else.
func newGeneration(dir string, files []secrets.File, opts Options) (string, error) {
	name, err := mkGeneration(dir)
	if err != nil {
		return "", err
	}
	gen := filepath.Join(dir, name)
	if err := fill(gen, files, opts); err != nil {
		_ = os.RemoveAll(gen)
		return "", err
	}
	return name, nil
}

// mkGeneration creates an empty generation directory named after the time.
func mkGeneration(dir string) (string, error) {
	now := time.Now().UTC()
	for i := range 100 {
		name := genPrefix + now.Add(time.Duration(i)).Format(genLayout)
		if err := at("mkdir", name); err != nil {
			return "", opError("create generation directory", name, err)
		}
		err := os.Mkdir(filepath.Join(dir, name), 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", opError("create generation directory", name, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("create generation directory: 100 names taken")
}

func fill(gen string, files []secrets.File, opts Options) error {
	name := filepath.Base(gen)
	if err := at("chmod", name); err != nil {
		return opError("chmod generation directory", name, err)
	}
	if err := os.Chmod(gen, 0o755); err != nil { //nolint:gosec // pods of any uid must traverse it; the file modes guard content
		return opError("chmod generation directory", name, err)
	}
	if err := chownIf(gen, name, opts); err != nil {
		return err
	}
	for _, f := range files {
		if err := writeFile(gen, f, opts); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(gen string, f secrets.File, opts Options) error {
	if d := filepath.Dir(f.Path); d != "." {
		if err := mkdirAll(gen, d, opts); err != nil {
			return err
		}
	}
	if err := at("create", f.Path); err != nil {
		return opError("create", f.Path, err)
	}
	fd, err := os.OpenFile(filepath.Join(gen, f.Path), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return opError("create", f.Path, err)
	}
	defer func() { _ = fd.Close() }() // for the early returns; the Close below reports
	step := func(op string, do func() error) error {
		if err := at(op, f.Path); err != nil {
			return opError(op, f.Path, err)
		}
		if err := do(); err != nil {
			return opError(op, f.Path, err)
		}
		return nil
	}
	if err := step("write", func() error { _, err := fd.Write(f.Content.Bytes()); return err }); err != nil {
		return err
	}
	if err := step("chmod", func() error { return fd.Chmod(f.Mode) }); err != nil {
		return err
	}
	if opts.GID != nil {
		if err := step("chown", func() error { return fd.Chown(-1, *opts.GID) }); err != nil {
			return err
		}
	}
	return step("close", fd.Close)
}

// mkdirAll creates the subdirectories of rel inside gen, one element at a time,
// refusing to follow a symlink.
func mkdirAll(gen, rel string, opts Options) error {
	cur, sub := gen, ""
	for _, el := range strings.Split(rel, "/") {
		cur, sub = filepath.Join(cur, el), filepath.Join(sub, el)
		st, err := os.Lstat(cur)
		switch {
		case err == nil && st.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("%w: %s exists and is not a directory", secrets.ErrInvalidPath, secrets.Quote(sub))
		case !errors.Is(err, fs.ErrNotExist):
			return opError("stat", sub, err)
		}
		if err := at("mkdir", sub); err != nil {
			return opError("create directory", sub, err)
		}
		if err := os.Mkdir(cur, 0o755); err != nil { //nolint:gosec // pods of any uid must traverse it; the file modes guard content
			return opError("create directory", sub, err)
		}
		if err := chownIf(cur, sub, opts); err != nil {
			return err
		}
	}
	return nil
}

func chownIf(p, name string, opts Options) error {
	if opts.GID == nil {
		return nil
	}
	if err := at("chown", name); err != nil {
		return opError("chown", name, err)
	}
	if err := os.Lchown(p, -1, *opts.GID); err != nil {
		return opError("chown", name, err)
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

// generationNames lists the top-level entries of a generation.
func generationNames(gen string) (map[string]bool, error) {
	entries, err := os.ReadDir(gen)
	if err != nil {
		return nil, opError("list generation", filepath.Base(gen), err)
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names, nil
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// tidy makes dir what a completed write of generation cur with top-level
// names want leaves: no other generation, no ..data_tmp, a link per wanted
// name and none for another name. A clean directory is not touched.
func tidy(dir, cur string, want map[string]bool) error {
	cerr := collect(dir, cur)
	_, aerr := addLinks(dir, want)
	return errors.Join(cerr, aerr, removeLinks(dir, want))
}

// addLinks creates "name -> ..data/name" for every wanted name that has no
// link yet and returns the names it linked. An entry of that name that is not
// such a link is someone else's: it is left alone and the write fails.
func addLinks(dir string, want map[string]bool) ([]string, error) {
	var added []string
	for _, n := range sorted(want) {
		if isOurLink(dir, n) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return added, opError("stat", n, err)
			}
			return added, fmt.Errorf("refusing to replace %s in %s: not a link managed by the writer", secrets.Quote(n), secrets.Quote(dir))
		}
		if err := at("symlink", n); err != nil {
			return added, opError("link", n, err)
		}
		if err := os.Symlink(filepath.Join(DataLink, n), filepath.Join(dir, n)); err != nil {
			return added, opError("link", n, err)
		}
		added = append(added, n)
	}
	return added, nil
}

// removeLinks removes the writer's links of names not wanted; any other entry
// is left alone.
func removeLinks(dir string, want map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return opError("list", dir, err)
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, genPrefix) || want[n] || !isOurLink(dir, n) {
			continue
		}
		if err := at("unlink", n); err != nil {
			errs = append(errs, opError("remove link", n, err))
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, opError("remove link", n, err))
		}
	}
	return errors.Join(errs...)
}

// collect removes every generation directory of dir but keep, and a
// ..data_tmp symlink. Only names the writer creates are removed.
func collect(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return opError("list", dir, err)
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		p := filepath.Join(dir, n)
		switch {
		case n == dataLinkTmp && e.Type() == fs.ModeSymlink:
			if err := at("unlink", n); err != nil {
				errs = append(errs, opError("remove stale", n, err))
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, opError("remove stale", n, err))
			}
		case n != keep && e.IsDir() && generationName.MatchString(n):
			if err := at("rmdir", n); err != nil {
				errs = append(errs, opError("remove stale generation", n, err))
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, opError("remove stale generation", n, err))
			}
		}
	}
	return errors.Join(errs...)
}

// swap points ..data at gen: a temporary link, renamed over ..data.
func swap(dir, gen string) error {
	tmp := filepath.Join(dir, dataLinkTmp)
	// A ..data_tmp left by a crash that step 1 could not remove.
	if st, err := os.Lstat(tmp); err == nil {
		if st.Mode().Type() != fs.ModeSymlink {
			return fmt.Errorf("%s in %s is not the writer's link", dataLinkTmp, secrets.Quote(dir))
		}
		if err := at("unlink", dataLinkTmp); err != nil {
			return opError("remove stale", dataLinkTmp, err)
		}
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return opError("remove stale", dataLinkTmp, err)
		}
	}
	if err := at("symlink", dataLinkTmp); err != nil {
		return opError("create", dataLinkTmp, err)
	}
	if err := os.Symlink(gen, tmp); err != nil {
		return opError("create", dataLinkTmp, err)
	}
	if err := at("rename", dataLinkTmp); err != nil {
		return opError("swap", DataLink, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, DataLink)); err != nil {
		return opError("swap", DataLink, err)
	}
	return nil
}

// undo removes what a write that failed before the swap created: its
// generation, its ..data_tmp and the links it added that resolve to nothing.
// Best effort: what it cannot remove, the next write collects.
func undo(dir, gen string, added []string) {
	_ = os.RemoveAll(filepath.Join(dir, gen))
	tmp := filepath.Join(dir, dataLinkTmp)
	if t, err := os.Readlink(tmp); err == nil && t == gen {
		_ = os.Remove(tmp)
	}
	for _, n := range added {
		if _, err := os.Stat(filepath.Join(dir, n)); errors.Is(err, fs.ErrNotExist) && isOurLink(dir, n) {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}

func isOurLink(dir, name string) bool {
	target, err := os.Readlink(filepath.Join(dir, name))
	return err == nil && target == filepath.Join(DataLink, name)
}

// Read returns the current file set of a managed directory (sorted by path),
// or an empty set when dir has never been written.
func Read(dir string) ([]secrets.File, error) {
	gen, live, err := current(dir)
	if err != nil || gen == "" {
		return nil, err
	}
	if !live {
		return nil, fmt.Errorf("%s in %s points to %s, which does not exist", DataLink, secrets.Quote(dir), secrets.Quote(gen))
	}
	return readGeneration(filepath.Join(dir, gen))
}

// readGeneration reads a generation through an os.Root, so a symlink planted
// inside it cannot make the walk read outside.
func readGeneration(gen string) ([]secrets.File, error) {
	name := filepath.Base(gen)
	root, err := os.OpenRoot(gen)
	if err != nil {
		return nil, opError("open generation", name, err)
	}
	defer func() { _ = root.Close() }()
	rfs := root.FS()
	var out []secrets.File
	err = fs.WalkDir(rfs, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return opError("read", p, err)
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("unexpected %v at %s", d.Type(), secrets.Quote(p))
		}
		info, err := d.Info()
		if err != nil {
			return opError("stat", p, err)
		}
		b, err := fs.ReadFile(rfs, p)
		if err != nil {
			return opError("read", p, err)
		}
		out = append(out, secrets.File{Path: p, Mode: info.Mode().Perm(), Content: secrets.NewValue(b)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read generation %s: %w", secrets.Quote(name), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
