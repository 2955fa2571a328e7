//go:build integration

package envexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	injcontract "github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/atomicdir"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
	"github.com/seed-ddac166a/aws-secrets-injector/test/syncbuf"
	"github.com/seed-ddac166a/aws-secrets-injector/test/testbin"
)

// The password of the tests' sets: it must never show up anywhere but in
// the app's environment.
const password = "hunter2-Zq9xW"

var (
	appOnce sync.Once
	appPath string
	appErr  error
)

// binaries returns the real wrapper (the lean asi-exec, which pods run) and
// the stand-in app (testdata/app), built once.
func binaries(t *testing.T) (string, string) {
	t.Helper()
	bin := testbin.Path(t, "asi-exec")
	appOnce.Do(func() {
		dir, err := os.MkdirTemp("", "envexec-app-")
		if err != nil {
			appErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil { // any uid may run it
			appErr = err
			return
		}
		appPath = filepath.Join(dir, "app")
		out, err := exec.Command("go", "build", "-o", appPath, "./testdata/app").CombinedOutput()
		if err != nil {
			appErr = fmt.Errorf("build the test app: %w\n%s", err, out)
		}
	})
	if appErr != nil {
		t.Fatal(appErr)
	}
	return bin, appPath
}

// secretsDir is a managed directory holding the usual set.
func secretsDir(t *testing.T, pw string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, pw)
	return dir
}

func write(t *testing.T, dir, pw string) bool {
	t.Helper()
	changed, err := atomicdir.Write(dir, []secrets.File{
		{Path: "db-user", Mode: 0o644, Content: secrets.NewStringValue("admin")},
		{Path: "db-password", Mode: 0o644, Content: secrets.NewStringValue(pw)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

// wrapper is a running (or finished) wrapper process.
type wrapper struct {
	cmd            *exec.Cmd
	stdout, stderr syncbuf.Buffer
	done           chan struct{}
	err            error
}

// startWrapper starts the wrapper's exec with flags, then the app with args.
func startWrapper(t *testing.T, stdin string, flags []string, app ...string) *wrapper {
	t.Helper()
	bin, _ := binaries(t)
	return startWrapperWith(t, bin, stdin, flags, app...)
}

// startWrapperWith is startWrapper running bin (the lean binary or the full CLI).
func startWrapperWith(t *testing.T, bin, stdin string, flags []string, app ...string) *wrapper {
	t.Helper()
	_, appBin := binaries(t)
	args := append(append([]string{"exec"}, flags...), "--", appBin)
	w := &wrapper{cmd: exec.Command(bin, append(args, app...)...), done: make(chan struct{})}
	w.cmd.Env = []string{"PATH=/usr/bin:/bin", "KEEP=kept", contract.EnvOnChange + "=", "AWS_SECRETS_INJECTOR_SPC_NAME=x/y"}
	w.cmd.Stdin = strings.NewReader(stdin)
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	w.start(t)
	return w
}

// start starts w.cmd in a process group of its own and ends the group at
// the test's end: a test that fails while the wrapper supervises its app
// kills both, and the app, left holding the output pipes, cannot keep Wait
// (and the test binary) waiting until its timeout.
func (w *wrapper) start(t *testing.T) {
	t.Helper()
	if w.cmd.SysProcAttr == nil {
		w.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	w.cmd.SysProcAttr.Setpgid = true
	w.cmd.WaitDelay = 10 * time.Second
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.err = w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		// Always: an app can outlive a wrapper that ended (its group stays).
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
	})
}

// wait waits for the wrapper's end and returns its status.
func (w *wrapper) wait(t *testing.T) syscall.WaitStatus {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the wrapper did not end; stderr: %s", w.stderr.String())
	}
	var ee *exec.ExitError
	if w.err != nil && !errors.As(w.err, &ee) {
		t.Fatal(w.err)
	}
	return w.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func (w *wrapper) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := w.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// events reads the app's event file once it satisfies ok.
func events(t *testing.T, path string, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		var lines []string
		if s := strings.TrimSpace(string(b)); s != "" {
			lines = strings.Split(s, "\n")
		}
		if ok(lines) {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("events never as expected: %q", lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func has(n int, prefix string) func([]string) bool {
	return func(l []string) bool { return count(l, prefix) >= n }
}

// TestBinaryExecSetsTheEnvironment, for the lean asi-exec and the full
// CLI's exec subcommand.
func TestBinaryExecSetsTheEnvironment(t *testing.T) {
	lean, _ := binaries(t)
	for _, bin := range []string{lean, testbin.Path(t)} {
		t.Run(filepath.Base(bin), func(t *testing.T) { checkExecEnvironment(t, bin) })
	}
}

func checkExecEnvironment(t *testing.T, bin string) {
	dir := secretsDir(t, password)
	w := startWrapperWith(t, bin, "", []string{"--env-from", dir, "--env", "db-password=PGPASSWORD"}, "env")
	if ws := w.wait(t); ws.ExitStatus() != 0 {
		t.Fatalf("exit %d: %s", ws.ExitStatus(), w.stderr.String())
	}
	out := w.stdout.String()
	for _, want := range []string{"\nDB_USER=admin\n", "\nPGPASSWORD=" + password + "\n", "\nKEEP=kept\n", "\nPATH=/usr/bin:/bin\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the app's environment lacks %q:\n%s", strings.TrimSpace(want), out)
		}
	}
	for _, not := range []string{"DB_PASSWORD=", "AWS_SECRETS_INJECTOR_"} {
		if strings.Contains(out, not) {
			t.Errorf("the app's environment has %s:\n%s", not, out)
		}
	}
	// execve: the app has the wrapper's PID.
	if want := fmt.Sprintf("pid %d\n", w.cmd.Process.Pid); !strings.HasPrefix(out, want) {
		t.Errorf("the app is not the wrapper's process (want %q): %q", want, out[:min(len(out), 20)])
	}
	if w.stderr.Len() != 0 {
		t.Errorf("the wrapper wrote to stderr: %s", w.stderr.String())
	}
}

func TestBinaryExitCodes(t *testing.T) {
	dir := secretsDir(t, password)
	for _, mode := range []string{"none", "signal:SIGHUP", "restart"} {
		t.Run(mode, func(t *testing.T) {
			flags := []string{"--env-from", dir, "--on-change", mode}
			if ws := startWrapper(t, "", flags, "exit", "42").wait(t); ws.ExitStatus() != 42 {
				t.Errorf("exit 42 came back as %v", ws)
			}
			ws := startWrapper(t, "", flags, "kill", strconv.Itoa(int(syscall.SIGKILL))).wait(t)
			if mode == "none" {
				// The app is the process: it dies of the signal itself.
				if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("a SIGKILL death came back as %v", ws)
				}
			} else if ws.Signaled() || ws.ExitStatus() != 128+int(syscall.SIGKILL) {
				t.Errorf("a SIGKILL death came back as %v, want exit %d", ws, 128+int(syscall.SIGKILL))
			}
		})
	}
}

func TestBinaryStdinPassedThrough(t *testing.T) {
	dir := secretsDir(t, password)
	for _, mode := range []string{"none", "restart"} {
		w := startWrapper(t, "line one\nline two\n", []string{"--env-from", dir, "--on-change", mode}, "cat")
		if ws := w.wait(t); ws.ExitStatus() != 0 || w.stdout.String() != "line one\nline two\n" {
			t.Errorf("%s: exit %d, stdout %q", mode, ws.ExitStatus(), w.stdout.String())
		}
	}
}

// TestBinaryForwardsSignals sends the supervising wrapper every kind of
// signal: the app receives each, and SIGTERM ends it with its own code.
func TestBinaryForwardsSignals(t *testing.T) {
	dir := secretsDir(t, password)
	ev := filepath.Join(t.TempDir(), "events")
	w := startWrapper(t, "", []string{"--env-from", dir, "--on-change", "signal:SIGHUP"}, "serve", ev, "DB_PASSWORD")
	events(t, ev, has(1, "start "))
	sent := []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGCONT}
	for i, s := range sent {
		w.signal(t, s)
		name := strings.Fields(events(t, ev, func(l []string) bool { return len(l) >= i+2 })[i+1])[0]
		if name != signalName(s) {
			t.Errorf("sent %s, the app got %s", signalName(s), name)
		}
	}
	w.signal(t, syscall.SIGTERM)
	if ws := w.wait(t); ws.ExitStatus() != 7 {
		t.Errorf("the app's exit 7 after SIGTERM came back as %v; stderr: %s", ws, w.stderr.String())
	}
	if lines := events(t, ev, has(1, "SIGTERM")); count(lines, "start") != 1 {
		t.Errorf("the app was started again: %q", lines)
	}
}

// TestBinaryAppEndsWithTheWrapper: a supervising wrapper that is not PID 1
// (a shell started it) and is SIGKILLed does not leave the app running
// unsupervised: the app is killed too, as it is when PID 1 of a container
// dies.
func TestBinaryAppEndsWithTheWrapper(t *testing.T) {
	dir := secretsDir(t, password)
	ev := filepath.Join(t.TempDir(), "events")
	w := startWrapper(t, "", []string{"--env-from", dir, "--on-change", "restart"}, "serve", ev, "DB_PASSWORD")
	app := appPid(t, events(t, ev, has(1, "start "))[0])
	w.signal(t, syscall.SIGKILL)
	if ws := w.wait(t); ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the wrapper ended with %v, want SIGKILL", ws)
	}
	// Gone, or a zombie its new parent has not reaped yet: either way not running.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", app))
		if err != nil {
			return
		}
		// The state follows the command's closing parenthesis.
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app %d still runs 10 s after its wrapper was killed: %s", app, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func signalName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT", syscall.SIGUSR1: "SIGUSR1",
		syscall.SIGUSR2: "SIGUSR2", syscall.SIGWINCH: "SIGWINCH", syscall.SIGALRM: "SIGALRM", syscall.SIGCONT: "SIGCONT", syscall.SIGTERM: "SIGTERM"}[s]
}

func appPid(t *testing.T, line string) int {
	t.Helper()
	f := strings.Fields(line)
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestBinaryNoValueInProc: the value is in the app's environment only:
// not in the wrapper's or the app's command line, not in the wrapper's own
// environment, not in its output.
func TestBinaryNoValueInProc(t *testing.T) {
	dir := secretsDir(t, password)
	ev := filepath.Join(t.TempDir(), "events")
	w := startWrapper(t, "", []string{"--env-from", dir, "--on-change", "restart", "-v", "5"}, "serve", ev, "DB_PASSWORD")
	lines := events(t, ev, has(1, "start "))
	app := appPid(t, lines[0])
	if !strings.HasSuffix(lines[0], " "+password) {
		t.Fatalf("the app did not get the value: %q", lines[0])
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, p := range []string{fmt.Sprintf("/proc/%d/cmdline", w.cmd.Process.Pid), fmt.Sprintf("/proc/%d/cmdline", app), fmt.Sprintf("/proc/%d/environ", w.cmd.Process.Pid)} {
		if s := read(p); strings.Contains(s, password) || s == "" {
			t.Errorf("%s holds the value (or nothing): %q", p, s)
		}
	}
	if s := read(fmt.Sprintf("/proc/%d/environ", app)); !strings.Contains(s, "DB_PASSWORD="+password+"\x00") {
		t.Errorf("the app's environment lacks the value")
	}
	w.signal(t, syscall.SIGTERM)
	w.wait(t)
	if strings.Contains(w.stdout.String()+w.stderr.String(), password) {
		t.Errorf("the wrapper printed the value: %s", w.stderr.String())
	}
}

// TestBinaryRefusesToStart: a missing, partial or unreadable set, or one
// that does not map, exits 125 with one line, and the app never starts.
func TestBinaryRefusesToStart(t *testing.T) {
	partial := secretsDir(t, password)
	if err := os.Remove(filepath.Join(partial, "db-user")); err != nil { // a writer killed before its links
		t.Fatal(err)
	}
	unreadable, err := os.MkdirTemp("", "envexec-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(unreadable) })
	if err := os.Chmod(unreadable, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, unreadable, password)
	gen := filepath.Join(unreadable, generation(unreadable))
	if err := os.Chmod(filepath.Join(gen, "db-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	collide := t.TempDir()
	if _, err := atomicdir.Write(collide, []secrets.File{{Path: "db-user", Mode: 0o644, Content: secrets.NewStringValue("a")},
		{Path: "db_user", Mode: 0o644, Content: secrets.NewStringValue(password)}}); err != nil {
		t.Fatal(err)
	}
	big := t.TempDir()
	if _, err := atomicdir.Write(big, []secrets.File{{Path: "cert", Mode: 0o644, Content: secrets.NewStringValue(strings.Repeat(password, secrets.MaxValueBytes/len(password)+1))}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		flags []string
		want  string
	}{
		{"missing", []string{"--env-from", filepath.Join(t.TempDir(), "nope")}, "not ready"},
		{"never written", []string{"--env-from", t.TempDir()}, "has no ..data link"},
		{"partial", []string{"--env-from", partial}, `has no link "db-user"`},
		{"collision", []string{"--env-from", collide}, `files "db-user" and "db_user" both map to DB_USER`},
		{"too big", []string{"--env-from", big}, `file "cert" is`},
		{"bad signal", []string{"--env-from", partial, "--on-change", "signal:SIGNOPE"}, `"SIGNOPE" is not a signal name`},
		{"bad mapping", []string{"--env-from", partial, "--env", "db-user=LD_PRELOAD"}, "dynamic loader"},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, struct {
			name  string
			flags []string
			want  string
		}{"unreadable", []string{"--env-from", unreadable, "--as-nobody"}, "permission denied"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "started")
			flags := c.flags
			nobody := len(flags) > 0 && flags[len(flags)-1] == "--as-nobody"
			if nobody {
				flags = flags[:len(flags)-1]
				_ = os.Chmod(filepath.Dir(marker), 0o777)
			}
			w := startAs(t, nobody, flags, "touch", marker)
			ws := w.wait(t)
			if ws.ExitStatus() != ExitSetup {
				t.Errorf("exit %v, want %d; stderr %s", ws, ExitSetup, w.stderr.String())
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the app was started")
			}
			msg := w.stderr.String()
			if !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "error: ") {
				t.Errorf("stderr should be one error line containing %q: %q", c.want, msg)
			}
			if strings.Contains(msg, password[:6]) {
				t.Errorf("the error leaks the value: %q", msg)
			}
		})
	}
}

// startAs is start, as uid nobody when asked.
func startAs(t *testing.T, nobody bool, flags []string, app ...string) *wrapper {
	t.Helper()
	if !nobody {
		return startWrapper(t, "", flags, app...)
	}
	bin, appBin := binaries(t)
	w := &wrapper{cmd: exec.Command(bin, append(append(append([]string{"exec"}, flags...), "--", appBin), app...)...), done: make(chan struct{})}
	w.cmd.Env = []string{"PATH=/usr/bin:/bin"}
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	w.start(t)
	return w
}

// TestBinaryReloadBySignal rotates the watched directory with the atomic
// writer: one signal per real change, none for an unchanged rewrite or a
// failed write, and the wrapper stays the app's parent throughout.
func TestBinaryReloadBySignal(t *testing.T) {
	dir := secretsDir(t, password)
	ev := filepath.Join(t.TempDir(), "events")
	w := startWrapper(t, "", []string{"--env-from", dir, "--on-change", "signal:USR1"}, "serve", ev, "DB_PASSWORD")
	events(t, ev, has(1, "start "))
	quiet := func(want int) {
		t.Helper()
		time.Sleep(DefaultDebounce + 1500*time.Millisecond)
		if n := count(events(t, ev, has(1, "start")), "SIGUSR1"); n != want {
			t.Fatalf("%d signals, want %d", n, want)
		}
	}
	// 1. A rotation: one signal.
	if !write(t, dir, "rotated-1") {
		t.Fatal("the rotation changed nothing")
	}
	events(t, ev, has(1, "SIGUSR1"))
	quiet(1)
	// 2. An unchanged rewrite: none.
	if write(t, dir, "rotated-1") {
		t.Fatal("the unchanged rewrite changed the set")
	}
	quiet(1)
	// 3. A failed write (a top-level name taken by a foreign file): no swap, no signal.
	if err := os.WriteFile(filepath.Join(dir, "foreign"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := atomicdir.Write(dir, []secrets.File{{Path: "foreign", Mode: 0o644, Content: secrets.NewStringValue("rotated-2")}}); err == nil {
		t.Fatal("the write over a foreign file succeeded")
	}
	quiet(1)
	// 4. Another rotation: a second signal.
	write(t, dir, "rotated-3")
	lines := events(t, ev, has(2, "SIGUSR1"))
	quiet(2)
	if count(lines, "start") != 1 {
		t.Errorf("the app was restarted: %q", lines)
	}
	w.signal(t, syscall.SIGTERM)
	if ws := w.wait(t); ws.ExitStatus() != 7 {
		t.Errorf("exit %v", ws)
	}
	if !strings.Contains(w.stderr.String(), "app signalled") || strings.Contains(w.stderr.String(), "rotated") {
		t.Errorf("the wrapper's log should say it signalled, without values: %s", w.stderr.String())
	}
}

// TestBinaryReloadFullVolume: a rotation that does not fit the tmpfs fails
// before the swap; the app is not signalled.
func TestBinaryReloadFullVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0755"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	write(t, dir, password)
	ev := filepath.Join(t.TempDir(), "events")
	w := startWrapper(t, "", []string{"--env-from", dir, "--on-change", "signal:SIGHUP"}, "serve", ev, "DB_PASSWORD")
	events(t, ev, has(1, "start "))
	before := generation(dir)
	_, err := atomicdir.Write(dir, []secrets.File{{Path: "db-password", Mode: 0o644, Content: secrets.NewStringValue(strings.Repeat("x", 60<<10))},
		{Path: "db-user", Mode: 0o644, Content: secrets.NewStringValue(strings.Repeat("y", 60<<10))}})
	if err == nil {
		t.Fatal("the oversized write fit")
	}
	if generation(dir) != before {
		t.Fatal("the failed write swapped ..data")
	}
	time.Sleep(DefaultDebounce + 1500*time.Millisecond)
	if n := count(events(t, ev, has(1, "start")), "SIGHUP"); n != 0 {
		t.Errorf("%d signals after a failed write", n)
	}
	write(t, dir, "small")
	events(t, ev, has(1, "SIGHUP"))
	w.signal(t, syscall.SIGTERM)
	w.wait(t)
}

// TestBinaryRestart: restart starts the app again with the new environment
// (the wrapper's PID stays, the app's changes); an app ignoring SIGTERM is
// killed after the grace period.
func TestBinaryRestart(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignore-term=%v", ignore), func(t *testing.T) {
			dir := secretsDir(t, password)
			ev := filepath.Join(t.TempDir(), "events")
			app := []string{"serve", ev, "DB_PASSWORD"}
			if ignore {
				app = append(app, "ignore-term")
			}
			w := startWrapper(t, "", []string{"--env-from", dir, "--on-change", "restart", "--grace-period", "1s"}, app...)
			first := events(t, ev, has(1, "start "))[0]
			write(t, dir, "rotated-1")
			lines := events(t, ev, has(2, "start "))
			var second string
			for _, l := range lines {
				if strings.HasPrefix(l, "start ") && l != first {
					second = l
				}
			}
			if !strings.HasSuffix(second, " rotated-1") || appPid(t, second) == appPid(t, first) {
				t.Errorf("restart: first %q, second %q", first, second)
			}
			if count(lines, "SIGTERM") != 1 {
				t.Errorf("the old app should have had one SIGTERM: %q", lines)
			}
			if syscall.Kill(appPid(t, first), 0) == nil {
				t.Errorf("the old app %d still runs", appPid(t, first))
			}
			if ignore != strings.Contains(w.stderr.String(), "grace period over") {
				t.Errorf("grace-period kill logged: %v, want %v: %s", !ignore, ignore, w.stderr.String())
			}
			// The pod's SIGTERM ends the current app and the wrapper with its code; no new start.
			if !ignore {
				w.signal(t, syscall.SIGTERM)
				if ws := w.wait(t); ws.ExitStatus() != 7 {
					t.Errorf("exit %v", ws)
				}
			} else {
				w.signal(t, syscall.SIGTERM) // ignored by the app: it keeps running, and no restart follows
				time.Sleep(300 * time.Millisecond)
				write(t, dir, "rotated-2")
				time.Sleep(DefaultDebounce + 1500*time.Millisecond)
				if l := events(t, ev, has(1, "start")); count(l, "start") != 2 {
					t.Errorf("restarted after the pod's SIGTERM: %q", l)
				}
				_ = syscall.Kill(appPid(t, second), syscall.SIGKILL)
				if ws := w.wait(t); ws.ExitStatus() != 128+int(syscall.SIGKILL) {
					t.Errorf("exit %v", ws)
				}
			}
		})
	}
}

func TestBinaryInstall(t *testing.T) {
	bin, appBin := binaries(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "exec", "--install", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	installed := filepath.Join(dir, filepath.Base(contract.Binary))
	st, err := os.Stat(installed)
	if err != nil || st.Mode().Perm() != contract.BinaryMode {
		t.Fatalf("installed: %v %v", st, err)
	}
	a, _ := os.ReadFile(bin)
	b, _ := os.ReadFile(installed)
	if !bytes.Equal(a, b) {
		t.Error("the copy differs from the binary")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("install left more than the binary: %v", entries)
	}
	// The copy runs the wrapper.
	cmd := exec.Command(installed, "exec", "--env-from", secretsDir(t, password), "--", appBin, "env")
	cmd.Env = []string{"PATH=/bin"}
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "DB_PASSWORD="+password) {
		t.Errorf("the installed copy: %v %s", err, out)
	}
}

func init() {
	removeApp = func() {
		if appPath != "" {
			_ = os.RemoveAll(filepath.Dir(appPath))
		}
	}
}

// fetchEnv is the environment of a wrapper that fetches from fake with
// static credentials of its own (the process's own identity).
func fetchEnv(t *testing.T, fake *fakeaws.Server, objects string) []string {
	t.Helper()
	spec, err := injcontract.EncodeSpec(map[string]string{"objects": objects, "region": "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + filepath.Join(dir, "no-home"),
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=AKIDEXEC", "AWS_SECRET_ACCESS_KEY=exec-secret",
		"AWS_ENDPOINT_URL=" + fake.URL(),
		injcontract.EnvSPC + "=" + spec,
		injcontract.EnvSPCName + "=default/my-spc",
	}
}

const fetchObjects = `- objectName: "my-app/db-credentials"
  objectType: "secretsmanager"
  jmesPath:
    - path: "username"
      objectAlias: "db-user"
    - path: "password"
      objectAlias: "db-password"
`

// TestBinaryFetchSource: without a directory the wrapper fetches the class
// itself with its own credentials, through the core's pipeline; a failed
// fetch starts nothing; restart re-fetches and restarts on a rotation.
func TestBinaryFetchSource(t *testing.T) {
	bin, appBin := binaries(t)
	fake, err := fakeaws.New(fakeaws.State{
		Region:  "us-east-1",
		Users:   []fakeaws.User{{AccessKeyID: "AKIDEXEC", SecretAccessKey: "exec-secret", Allow: []string{"my-app/*"}}},
		Secrets: []fakeaws.Secret{{Name: "my-app/db-credentials", Value: `{"username":"admin","password":"` + password + `"}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })

	run := func(env []string, args ...string) (*exec.Cmd, *syncbuf.Buffer, *syncbuf.Buffer) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var o, e syncbuf.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		return cmd, &o, &e
	}
	// 1. Once, then execve.
	cmd, out, errb := run(fetchEnv(t, fake, fetchObjects), "exec", "--", appBin, "env")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "\nDB_PASSWORD="+password+"\n") || !strings.Contains(s, "\nDB_USER=admin\n") || strings.Contains(s, "AWS_SECRETS_INJECTOR_") {
		t.Errorf("the app's environment:\n%s", s)
	}
	// 2. A failed fetch: exit 125, one line naming the object, the app not started.
	marker := filepath.Join(t.TempDir(), "started")
	cmd, _, errb = run(fetchEnv(t, fake, "- objectName: my-app/missing\n  objectType: secretsmanager\n"), "exec", "--", appBin, "touch", marker)
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitSetup || !strings.Contains(errb.String(), `my-app/missing`) || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("failed fetch: %v, stderr %q", err, errb.String())
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the app was started after a failed fetch")
	}
	// 3. Restart on a rotation.
	ev := filepath.Join(t.TempDir(), "events")
	w := &wrapper{cmd: exec.Command(bin, "exec", "--on-change", "restart", "--refresh-interval", "5s", "--", appBin, "serve", ev, "DB_PASSWORD"), done: make(chan struct{})}
	w.cmd.Env = fetchEnv(t, fake, fetchObjects)
	w.cmd.Stdout, w.cmd.Stderr = &w.stdout, &w.stderr
	w.start(t)
	events(t, ev, has(1, "start "))
	if _, err := fake.PutSecret("my-app/db-credentials", `{"username":"admin","password":"rotated-1"}`); err != nil {
		t.Fatal(err)
	}
	lines := events(t, ev, has(2, "start "))
	if !strings.HasSuffix(lines[len(lines)-1], " rotated-1") {
		t.Errorf("after the rotation: %q", lines)
	}
	w.signal(t, syscall.SIGTERM)
	if ws := w.wait(t); ws.ExitStatus() != 7 {
		t.Errorf("exit: %v; stderr %s", ws, w.stderr.String())
	}
}
