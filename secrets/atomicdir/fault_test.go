package atomicdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// The rotation of the fault tests: names kept, gone, added, a nested file, a
// mode change, and a top-level name that turns from a file into a directory.
var (
	faultOld = []secrets.File{
		file("both", 0o644, "old:both"), file("gone", 0o644, "old:gone"),
		file("nested/a/b", 0o640, "old:nested"), file("shape", 0o644, "old:shape"),
	}
	faultNew = []secrets.File{
		file("both", 0o600, "new:both"), file("added", 0o644, "new:added"),
		file("nested/a/b", 0o640, "new:nested"), file("nested/c", 0o644, "new:c"),
		file("shape/inner", 0o644, "new:shape"),
	}
)

// crash is what the hook panics with to stop a write dead at a step, the way
// a SIGKILL does: no error path, no cleanup runs.
type crash struct{}

// faultStart prepares a directory holding faultOld: "clean" as a completed
// write leaves it, "leftovers" also with what crashed writes leave (a stale
// generation with old values, a ..data_tmp pointing at it, the dangling link
// of a name no set holds).
var faultStarts = []struct {
	name    string
	prepare func(t *testing.T, dir string)
}{
	{"clean", func(t *testing.T, dir string) { mustWrite(t, dir, faultOld) }},
	{"leftovers", func(t *testing.T, dir string) {
		mustWrite(t, dir, faultOld)
		stale := filepath.Join(dir, "..2020_01_02_03_04_05.123456789")
		if err := os.MkdirAll(filepath.Join(stale, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stale, "sub", "v"), []byte("older"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Base(stale), filepath.Join(dir, dataLinkTmp)); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(DataLink, "orphan"), filepath.Join(dir, "orphan")); err != nil {
			t.Fatal(err)
		}
	}},
}

// TestFaultAtEveryStep stops a rotation faultOld → faultNew at every step of
// the writer, three ways: the step fails with an error, fails with ENOSPC, or
// the process "dies" there (the hook panics: nothing after it runs). At every
// step boundary and after the fault, a pod reading through the top-level
// names sees the whole old set or the whole new set; a failure before the
// swap leaves nothing of its own and says the files were kept; a failure
// after it reports ErrCleanup with the new set live. Then one plain Write or
// Repair leaves the directory clean.
func TestFaultAtEveryStep(t *testing.T) {
	base := scratch(t)
	opts := Options{}
	if os.Geteuid() == 0 {
		gid := 4242
		opts.GID = &gid // the chown steps too
	}
	union := paths(faultOld, faultNew)
	visible := func(dir string) (old, new bool) {
		got := look(dir, union)
		return is(got, faultOld), is(got, faultNew)
	}
	total := 0
	for _, start := range faultStarts {
		// The steps of this rotation, from a run without a fault; the
		// visible state is checked at every one of them.
		var steps []string
		dir := filepath.Join(base, start.name+"-record")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		start.prepare(t, dir)
		withHook(t, func(step string) error {
			if o, n := visible(dir); !o && !n {
				t.Errorf("%s: before step %d %q a pod sees a mix: %s", start.name, len(steps), step, describe(look(dir, union)))
			}
			steps = append(steps, step)
			return nil
		})
		if changed, err := WriteWithOptions(dir, faultNew, opts); err != nil || !changed {
			t.Fatalf("%s: rotation without a fault: changed=%v err=%v", start.name, changed, err)
		}
		hook = nil
		assertClean(t, dir, faultNew)
		commit := slices.Index(steps, "rename "+dataLinkTmp)
		firstMkdir := slices.IndexFunc(steps, func(s string) bool { return strings.HasPrefix(s, "mkdir ..") })
		if commit < 0 || firstMkdir < 0 {
			t.Fatalf("%s: no rename or mkdir step in %q", start.name, steps)
		}
		t.Logf("%s start: %d steps: %s", start.name, len(steps), strings.Join(steps, " | "))

		for i := range steps {
			for _, mode := range []string{"error", "enospc", "crash"} {
				total++
				name := fmt.Sprintf("%s/%s/%02d-%s", start.name, mode, i, steps[i])
				dir := filepath.Join(base, fmt.Sprintf("%s-%s-%02d", start.name, mode, i))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				start.prepare(t, dir)
				before := entryNames(t, dir)
				oldGen, _ := os.Readlink(filepath.Join(dir, DataLink))
				n, hit := 0, ""
				withHook(t, func(step string) error {
					if o, nw := visible(dir); !o && !nw {
						t.Errorf("%s: before step %d %q a pod sees a mix: %s", name, n, step, describe(look(dir, union)))
					}
					n++
					if n-1 != i {
						return nil
					}
					hit = step
					switch mode {
					case "error":
						return errors.New("injected fault")
					case "enospc":
						return syscall.ENOSPC
					}
					panic(crash{})
				})
				changed, err, crashed := func() (changed bool, err error, crashed bool) {
					defer func() {
						if r := recover(); r != nil {
							if _, ok := r.(crash); !ok {
								panic(r)
							}
							crashed = true
						}
					}()
					changed, err = WriteWithOptions(dir, faultNew, opts)
					return changed, err, false
				}()
				hook = nil
				if hit == "" {
					t.Fatalf("%s: the fault step was never reached (%d steps this time)", name, n)
				}
				if !strings.HasPrefix(hit, strings.Fields(steps[i])[0]) {
					t.Errorf("%s: fault hit step %q, the recorded step was %q", name, hit, steps[i])
				}
				o, nw := visible(dir)
				if !o && !nw {
					t.Errorf("%s: after the fault a pod sees neither set: %s", name, describe(look(dir, union)))
				}
				curGen, _ := os.Readlink(filepath.Join(dir, DataLink))
				committed := curGen != oldGen
				if committed != nw {
					t.Errorf("%s: ..data moved=%v but the new set visible=%v", name, committed, nw)
				}
				switch {
				case crashed:
					if mode != "crash" {
						t.Fatalf("%s: crashed in mode %s", name, mode)
					}
					if committed != (i > commit) {
						t.Errorf("%s: crash at step %d (commit is %d): committed=%v", name, i, commit, committed)
					}
				case i < firstMkdir:
					// Collecting leftovers before the write is best effort: the
					// write goes on and collects again after the swap.
					if err != nil || !changed || !nw {
						t.Errorf("%s: a fault in the first collection failed the write: changed=%v err=%v", name, changed, err)
					}
				case i <= commit:
					if err == nil || changed || !o {
						t.Errorf("%s: fault before the swap: changed=%v err=%v old visible=%v", name, changed, err, o)
						break
					}
					if reason.Of(err) != reason.WriteFailed || !strings.Contains(err.Error(), "files in place were kept") {
						t.Errorf("%s: error %q has reason %s, want %s saying the files were kept", name, err, reason.Of(err), reason.WriteFailed)
					}
					if mode == "enospc" && (!errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "raise the volume's size")) {
						t.Errorf("%s: ENOSPC error %q does not say to raise the size", name, err)
					}
					for _, e := range entryNames(t, dir) {
						if !slices.Contains(before, e) {
							t.Errorf("%s: a write that failed before the swap left %q behind", name, e)
						}
					}
				default:
					if !changed || !errors.Is(err, ErrCleanup) || reason.Of(err) != reason.WriteFailed || !nw {
						t.Errorf("%s: fault after the swap: changed=%v err=%v new visible=%v", name, changed, err, nw)
					}
				}

				// One plain call repairs it: a Write of the new set, or a
				// Repair that keeps whichever set is live.
				if i%2 == 0 {
					if _, err := WriteWithOptions(dir, faultNew, opts); err != nil {
						t.Fatalf("%s: write after the fault: %v", name, err)
					}
					assertClean(t, dir, faultNew)
					continue
				}
				if err := Repair(dir); err != nil {
					t.Fatalf("%s: repair after the fault: %v", name, err)
				}
				if nw {
					assertClean(t, dir, faultNew)
				} else {
					assertClean(t, dir, faultOld)
				}
			}
		}
	}
	t.Logf("fault points tested: %d", total)
}
