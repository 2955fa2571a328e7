package envexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	injcontract "github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
)

func file(p, v string) secrets.File {
	return secrets.File{Path: p, Mode: 0o640, Content: secrets.NewStringValue(v)}
}

func TestEnviron(t *testing.T) {
	files := []secrets.File{file("db-user", "admin"), file("db-password", "pa=ss\nword"), file("port", "5432")}
	binds, err := contract.Bind("d", paths(files), map[string]string{"db-password": "PGPASSWORD"})
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"HOME=/root", "PORT=80", "AWS_SECRETS_INJECTOR_EXEC_ENV_FROM=/mnt/s", "AWS_SECRETS_INJECTOR_SPC={}", "AWS_REGION=eu-west-1", "PATH=/bin"}
	env, over, err := environ(base, files, binds)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"HOME=/root", "AWS_REGION=eu-west-1", "PATH=/bin", "DB_USER=admin", "PGPASSWORD=pa=ss\nword", "PORT=5432"}
	if !slices.Equal(env, want) {
		t.Errorf("env:\n got %q\nwant %q", env, want)
	}
	if !slices.Equal(over, []string{"PORT"}) {
		t.Errorf("overridden = %q", over)
	}
}

func TestEnvironRefusesValuesNoVariableCanHold(t *testing.T) {
	big := strings.Repeat("x", secrets.MaxValueBytes+1)
	for name, f := range map[string]secrets.File{
		"too big": file("cert", big),
		"NUL":     {Path: "cert", Mode: 0o600, Content: secrets.NewValue([]byte("se\x00cret"))},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := environ(nil, []secrets.File{f}, []contract.Binding{{File: "cert", Name: "CERT"}})
			if err == nil || !strings.Contains(err.Error(), `"cert"`) || !strings.Contains(err.Error(), "cert=-") {
				t.Fatalf("want an error naming the file and the fix, got %v", err)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("error leaks the value: %v", err)
			}
		})
	}
	// At the bound exactly is fine.
	if _, _, err := environ(nil, []secrets.File{file("cert", big[:secrets.MaxValueBytes])}, []contract.Binding{{File: "cert", Name: "CERT"}}); err != nil {
		t.Errorf("a value of MaxValueBytes refused: %v", err)
	}
}

func TestExecBudget(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &rl); err != nil {
		t.Fatal(err)
	}
	b := ExecBudget()
	want := uint64(6 << 20)
	if rl.Cur != ^uint64(0) && rl.Cur/4 < want {
		want = max(rl.Cur/4, 128<<10)
	}
	if uint64(b) != want {
		t.Errorf("ExecBudget = %d, want %d for a stack limit of %d", b, want, rl.Cur)
	}
}

// TestExecBudgetMatchesTheKernel execs a real program with an environment
// that fills ExecBudget exactly, then one byte more: the kernel must accept
// the first and refuse the second with E2BIG, so checkExec refuses exactly
// what execve would.
func TestExecBudgetMatchesTheKernel(t *testing.T) {
	path, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) here")
	}
	budget := ExecBudget()
	argv := []string{path}
	env := func(extra int) []string {
		// Variables of 100 KiB (under MAX_ARG_STRLEN), then one to fill up.
		var e []string
		const chunk = 100 << 10
		for ExecSize(path, argv, append(e, "A=")) < budget-chunk-64 {
			e = append(e, fmt.Sprintf("V%d=%s", len(e), strings.Repeat("v", chunk)))
		}
		rest := budget - ExecSize(path, argv, append(e, "F=")) + extra
		e = append(e, "F="+strings.Repeat("f", rest))
		return e
	}
	run := func(e []string) error {
		cmd := exec.Command(path)
		cmd.Env = e
		return cmd.Run()
	}
	at := env(0)
	if n := ExecSize(path, argv, at); n != budget {
		t.Fatalf("test set is %d bytes, want %d", n, budget)
	}
	if err := checkExec(path, argv, at, budget); err != nil {
		t.Errorf("checkExec refused a set at the budget: %v", err)
	}
	if err := run(at); err != nil {
		t.Errorf("the kernel refused a set at ExecBudget: %v", err)
	}
	over := env(1)
	if err := checkExec(path, argv, over, budget); err == nil || !strings.Contains(err.Error(), "over the kernel's limit") {
		t.Errorf("checkExec accepted a set one byte over: %v", err)
	}
	if err := run(over); !errors.Is(err, syscall.E2BIG) {
		t.Errorf("the kernel accepted a set one byte over ExecBudget (err %v): the budget is too small", err)
	}
}

func TestCheckExecOneVariable(t *testing.T) {
	long := "K=" + strings.Repeat("k", maxArgStrlen)
	err := checkExec("/bin/true", []string{"true"}, []string{long}, 1<<30)
	if err == nil || !strings.Contains(err.Error(), "variable K ") || strings.Contains(err.Error(), "kkkk") {
		t.Errorf("got %v", err)
	}
}

func TestSameSet(t *testing.T) {
	a := []secrets.File{file("a", "1"), file("b", "2")}
	if !sameSet(a, []secrets.File{file("b", "2"), file("a", "1")}) {
		t.Error("order matters")
	}
	other := file("b", "2")
	other.Mode = 0o600
	for _, b := range [][]secrets.File{{file("a", "1")}, {file("a", "1"), file("b", "3")}, {file("a", "1"), other}, {file("a", "1"), file("c", "2")}} {
		if sameSet(a, b) {
			t.Errorf("%v and %v reported the same", paths(a), paths(b))
		}
	}
}

func managed(t *testing.T, files ...secrets.File) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := atomicdir.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadDir(t *testing.T) {
	dir := managed(t, file("db-user", "admin"), file("tls/ca.crt", "CA"))
	files, gen, err := readDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if gen != generation(dir) || len(files) != 2 || files[0].Path != "db-user" || files[1].Path != "tls/ca.crt" {
		t.Errorf("got %v in %s", paths(files), gen)
	}
	// Not a managed directory, or a missing one: an error saying so and how to fix it.
	for _, d := range []string{t.TempDir(), filepath.Join(dir, "nope")} {
		if _, _, err := readDir(d); err == nil || !strings.Contains(err.Error(), "not ready") || !strings.Contains(err.Error(), "fix: ") {
			t.Errorf("readDir(%s) = %v", d, err)
		}
	}
	// A generation that cannot be read (a file without read permission, as root too: a directory in its place).
	bad := managed(t, file("a", "1"))
	g := generation(bad)
	if err := os.Remove(filepath.Join(bad, g, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(bad, g, "a")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readDir(bad); err == nil || !strings.Contains(err.Error(), "read the file set") {
		t.Errorf("a symlink in the generation was read: %v", err)
	}
}

// TestReadDirDuringSwaps reads while another goroutine rotates the set as
// fast as it can: every read must be one whole set (all values of one
// generation), never a mix.
func TestReadDirDuringSwaps(t *testing.T) {
	set := func(i int) []secrets.File {
		var fs []secrets.File
		for k := range 20 {
			fs = append(fs, file(fmt.Sprintf("f%02d", k), fmt.Sprintf("gen-%d", i)))
		}
		return fs
	}
	dir := managed(t, set(0)...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var writes atomic.Int64
	defer func() { close(stop); wg.Wait() }()
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := atomicdir.Write(dir, set(i)); err != nil {
				t.Error(err)
				return
			}
			writes.Add(1)
		}
	}()
	reads := 0
	deadline := time.Now().Add(2 * time.Second)
	for reads < 300 && time.Now().Before(deadline) {
		files, _, err := readDir(dir)
		if err != nil {
			if strings.Contains(err.Error(), "replaced while it was read") {
				continue // five swaps in a row during one read: allowed, and reported as such
			}
			t.Fatal(err)
		}
		reads++
		first := string(files[0].Content.Bytes())
		for _, f := range files {
			if string(f.Content.Bytes()) != first {
				t.Fatalf("mixed set: %s has %s, %s has %s", files[0].Path, first, f.Path, f.Content.Bytes())
			}
		}
	}
	t.Logf("%d whole reads during %d writes", reads, writes.Load())
	if reads == 0 || writes.Load() < 2 {
		t.Fatalf("%d reads during %d writes: the test did not exercise swaps", reads, writes.Load())
	}
}

// recorder collects what a watcher emits.
type recorder struct {
	mu   sync.Mutex
	sets [][]secrets.File
	ch   chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 100)} }

func (r *recorder) emit(s []secrets.File) {
	r.mu.Lock()
	r.sets = append(r.sets, s)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sets)
}

func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for r.count() < n {
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("%d changes reported, want %d", r.count(), n)
		}
	}
}

// quiet waits well past the debounce and checks nothing more was reported.
func (r *recorder) quiet(t *testing.T, n int, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	if got := r.count(); got != n {
		t.Fatalf("%d changes reported, want %d", got, n)
	}
}

func startWatcher(t *testing.T, w *dirWatcher) *recorder {
	t.Helper()
	files, gen, err := readDir(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	w.gen = gen
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, logr.Discard(), files, r.emit) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func TestDirWatcher(t *testing.T) {
	for name, poll := range map[string]bool{"inotify": false, "poll": true} {
		t.Run(name, func(t *testing.T) {
			dir := managed(t, file("a", "1"), file("b", "2"))
			w := &dirWatcher{dir: dir, debounce: 50 * time.Millisecond, poll: 50 * time.Millisecond}
			if poll {
				prev := inotifyInit
				inotifyInit = func(int) (int, error) { return -1, syscall.EMFILE }
				t.Cleanup(func() { inotifyInit = prev })
			}
			r := startWatcher(t, w)
			// 1. An unchanged rewrite swaps nothing: nothing reported.
			if _, err := atomicdir.Write(dir, []secrets.File{file("a", "1"), file("b", "2")}); err != nil {
				t.Fatal(err)
			}
			r.quiet(t, 0, 300*time.Millisecond)
			// 2. A real change: reported once, with the new content.
			if _, err := atomicdir.Write(dir, []secrets.File{file("a", "1"), file("b", "3")}); err != nil {
				t.Fatal(err)
			}
			r.wait(t, 1)
			r.quiet(t, 1, 300*time.Millisecond)
			if got := string(r.sets[0][1].Content.Bytes()); got != "3" {
				t.Errorf("reported b = %q", got)
			}
			// 3. A failed write (a top-level name taken by a foreign file): no swap, nothing reported.
			if err := os.WriteFile(filepath.Join(dir, "c"), []byte("not ours"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := generation(dir)
			if _, err := atomicdir.Write(dir, []secrets.File{file("a", "9"), file("c", "9")}); err == nil {
				t.Fatal("the write over a foreign file succeeded")
			}
			if generation(dir) != before {
				t.Fatal("a failed write swapped ..data")
			}
			r.quiet(t, 1, 300*time.Millisecond)
			// 4. A new generation with the same content (another writer, e.g. the kubelet): nothing reported.
			sameContent(t, dir)
			r.quiet(t, 1, 300*time.Millisecond)
			// 5. A burst of swaps: read once, as the last one left it.
			for i := range 5 {
				if _, err := atomicdir.Write(dir, []secrets.File{file("a", fmt.Sprint(10+i)), file("b", "3")}); err != nil {
					t.Fatal(err)
				}
			}
			r.wait(t, 2)
			r.quiet(t, 2, 300*time.Millisecond)
			if got := string(r.sets[1][0].Content.Bytes()); got != "14" {
				t.Errorf("after the burst a = %q, want the last value", got)
			}
		})
	}
}

// TestDirWatcherSeesASwapBeforeItsWatch: a rotation between the initial
// read and the watch's start (the app just started, the watcher not yet
// watching) is reported at once, not at the next safety poll (30 s).
func TestDirWatcherSeesASwapBeforeItsWatch(t *testing.T) {
	dir := managed(t, file("a", "1"))
	files, gen, err := readDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := atomicdir.Write(dir, []secrets.File{file("a", "2")}); err != nil {
		t.Fatal(err)
	}
	w := &dirWatcher{dir: dir, gen: gen, debounce: 50 * time.Millisecond, poll: time.Hour}
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx, logr.Discard(), files, r.emit) }()
	t.Cleanup(func() { cancel(); <-done })
	r.wait(t, 1) // 10 s, a third of safetyPoll
	r.quiet(t, 1, 300*time.Millisecond)
	if got := string(r.sets[0][0].Content.Bytes()); got != "2" {
		t.Errorf("reported a = %q, want the rotated value", got)
	}
}

// sameContent swaps dir's ..data to a copy of its generation, as another
// writer would that rewrites unchanged content.
func sameContent(t *testing.T, dir string) {
	t.Helper()
	cur := generation(dir)
	next := "..2099_01_01_00_00_00.000000001"
	if err := os.CopyFS(filepath.Join(dir, next), os.DirFS(filepath.Join(dir, cur))); err != nil {
		t.Fatal(err)
	}
	// CopyFS gives 0644/0755 modes: copy the modes too, so the content is the same.
	files, err := atomicdir.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Chmod(filepath.Join(dir, next, f.Path), f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(next, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, atomicdir.DataLink)); err != nil {
		t.Fatal(err)
	}
	if generation(dir) != next {
		t.Fatal("swap failed")
	}
}

func TestOptionsValidate(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	argv := []string{"/app"}
	spcJSON := `{"objects":"- objectName: a\n  objectType: secretsmanager\n","region":"us-east-1"}`
	cases := []struct {
		name string
		o    Options
		env  map[string]string
		want string // error substring, "" for success
	}{
		{"dir from env", Options{Argv: argv}, map[string]string{contract.EnvEnvFrom: "/mnt/s", contract.EnvOnChange: "signal:HUP", contract.EnvEnv: "a=B", contract.EnvGracePeriod: "3s"}, ""},
		{"spc from env", Options{Argv: argv}, map[string]string{injcontract.EnvSPC: spcJSON, contract.EnvOnChange: "restart"}, ""},
		{"no source", Options{Argv: argv}, nil, "no file set"},
		{"both env sources", Options{Argv: argv}, map[string]string{contract.EnvEnvFrom: "/mnt/s", injcontract.EnvSPC: spcJSON}, "both set"},
		{"both flags", Options{Argv: argv, EnvFrom: "/m", SPCFile: "/f"}, nil, "exclude each other"},
		{"no command", Options{EnvFrom: "/m"}, nil, "no command"},
		{"signal with fetch", Options{Argv: argv}, map[string]string{injcontract.EnvSPC: spcJSON, contract.EnvOnChange: "signal:HUP"}, "fetch source writes none"},
		{"bad signal", Options{Argv: argv, EnvFrom: "/m"}, map[string]string{contract.EnvOnChange: "signal:NOPE"}, contract.EnvOnChange + ": "},
		{"bad mapping", Options{Argv: argv, EnvFrom: "/m"}, map[string]string{contract.EnvEnv: "a=PATH"}, contract.EnvEnv + ": "},
		{"bad grace", Options{Argv: argv, EnvFrom: "/m"}, map[string]string{contract.EnvGracePeriod: "soon"}, contract.EnvGracePeriod + ": "},
		{"bad spc", Options{Argv: argv}, map[string]string{injcontract.EnvSPC: "{"}, injcontract.EnvSPC + ": "},
		{"install with command", Options{Install: "/d", Argv: argv}, nil, "give no command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.getenv = env(c.env)
			err := o.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	o := Options{Argv: argv, getenv: env(map[string]string{contract.EnvEnvFrom: "/mnt/s", contract.EnvOnChange: "signal:usr1", contract.EnvEnv: "a=B", contract.EnvGracePeriod: "3s"})}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.EnvFrom != "/mnt/s" || o.onChange.String() != "signal:SIGUSR1" || o.mapping["a"] != "B" || o.GracePeriod != 3*time.Second {
		t.Errorf("from the contract: %+v", o)
	}
}

// removeApp removes the integration tests' app binary (set by them).
var removeApp = func() {}
