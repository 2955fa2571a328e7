package injector

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/test/fakeaws"
)

// notifyTargetEnv makes the test binary the notify tests' app: it appends
// "start ROLE PID" to the events file, then "ROLE SIGNAME PID" per signal;
// with notifyChildEnv it first starts a copy of itself as its child (a
// master and a worker of one name).
const (
	notifyTargetEnv = "INJECTOR_TEST_NOTIFY_EVENTS"
	notifyChildEnv  = "INJECTOR_TEST_NOTIFY_CHILD"
)

func notifyTarget(events string) {
	role := "master"
	if os.Getenv(notifyChildEnv) == "worker" {
		role = "worker"
	}
	f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(99)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM)
	if os.Getenv(notifyChildEnv) == "spawn" {
		self, _ := os.Executable()
		child := exec.Command(self)
		child.Env = append(os.Environ(), notifyChildEnv+"=worker")
		if err := child.Start(); err != nil {
			os.Exit(98)
		}
		defer func() { _ = child.Process.Kill(); _, _ = child.Process.Wait() }()
	}
	_, _ = fmt.Fprintf(f, "start %s %d\n", role, os.Getpid())
	for s := range sigs {
		_, _ = fmt.Fprintf(f, "%s %v %d\n", role, s, os.Getpid())
		if s == syscall.SIGTERM {
			return
		}
	}
}

// target starts a copy of the test binary under a name no other process on
// the machine has, as the app to signal, and returns its name, its events
// file and its PID.
func target(t *testing.T, spawn bool) (name, events string, pid int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name = fmt.Sprintf("nt%d%d", os.Getpid(), time.Now().UnixNano()%1e6)
	bin := filepath.Join(dir, name)
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE, 0o755)
	if err == nil {
		_, err = io.Copy(out, in)
		_ = out.Close()
	}
	_ = in.Close()
	if err != nil {
		t.Fatal(err)
	}
	events = filepath.Join(dir, "events")
	cmd := exec.Command(bin)
	cmd.Env = []string{notifyTargetEnv + "=" + events}
	if spawn {
		cmd.Env = append(cmd.Env, notifyChildEnv+"=spawn")
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _, _ = cmd.Process.Wait() })
	want := 1
	if spawn {
		want = 2
	}
	waitFor(t, 10*time.Second, "the target's start", func() bool { return countLines(events, "start ") >= want })
	return name, events, cmd.Process.Pid
}

func countLines(path, prefix string) int {
	b, _ := os.ReadFile(path)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestNotifyTargetsTopOfTree(t *testing.T) {
	name, events, master := target(t, true)
	got, err := NotifyTargets("/proc", name, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{master}) {
		b, _ := os.ReadFile(events)
		t.Errorf("targets %v, want only the master %d (events %q)", got, master, b)
	}
	// The worker is found when asked for alone (its parent is not a target then)...
	if got, _ := NotifyTargets("/proc", name+"x", os.Getpid()); len(got) != 0 {
		t.Errorf("another name matched: %v", got)
	}
	// ...and never ourselves, nor PID 1.
	self, _ := os.Executable()
	if got, _ := NotifyTargets("/proc", filepath.Base(self), os.Getpid()); slices.Contains(got, os.Getpid()) || slices.Contains(got, 1) {
		t.Errorf("self or PID 1 targeted: %v", got)
	}
}

func TestNotifyTargetsProcParsing(t *testing.T) {
	proc := t.TempDir()
	mk := func(pid int, comm, cmdline string, ppid int) {
		d := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		noErr(t, os.WriteFile(filepath.Join(d, "comm"), []byte(comm+"\n"), 0o644))
		noErr(t, os.WriteFile(filepath.Join(d, "cmdline"), []byte(cmdline), 0o644))
		noErr(t, os.WriteFile(filepath.Join(d, "stat"), []byte(fmt.Sprintf("%d (%s) S %d 1 1 0", pid, comm, ppid)), 0o644))
	}
	mk(1, "pause", "/pause\x00", 0)
	mk(10, "nginx", "nginx: master process /usr/sbin/nginx\x00", 0)
	mk(11, "nginx", "nginx: worker process\x00", 10)
	mk(12, "nginx", "nginx: worker process\x00", 10)
	mk(20, "sh", "/bin/sh\x00-c\x00nginx\x00", 0)
	mk(30, "python3", "/usr/bin/python3\x00app.py\x00", 20)
	mk(40, "a) b (c", "/opt/weird\x00", 20) // a comm with parentheses and spaces
	mk(50, "averyveryverylo", "/opt/averyveryverylongname\x00", 0)
	mk(51, "averyveryverylo", "/opt/averyveryverylongnameB\x00", 0)
	noErr(t, os.WriteFile(filepath.Join(proc, "self"), nil, 0o644))
	for cmd, want := range map[string][]int{
		"nginx":                  {10},
		"python3":                {30},
		"weird":                  {40},
		"a) b (c":                {40},
		"pause":                  nil,
		"sh":                     {20},
		"averyveryverylongname":  {50}, // over 15 bytes: argv[0] decides, not the cut comm
		"averyveryverylongnameB": {51},
	} {
		got, err := NotifyTargets(proc, cmd, 999)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("NotifyTargets(%q) = %v %v, want %v", cmd, got, err, want)
		}
	}
	if got, _ := NotifyTargets(proc, "nginx", 10); !slices.Equal(got, []int{11, 12}) {
		t.Errorf("without the master (self) the workers are the tops: %v", got)
	}
}

// TestRefreshNotifiesOncePerChange: the native sidecar signals the app
// once per refresh that changed the set; never for unchanged refreshes,
// never for failed ones.
func TestRefreshNotifiesOncePerChange(t *testing.T) {
	name, events, _ := target(t, false)
	fake := startFake(t, testState())
	o := testOptions(t, fake, seedObjects)
	o.RefreshInterval = 50 * time.Millisecond
	o.notify = &notifier{sig: syscall.SIGUSR1, sigName: "SIGUSR1", command: name, proc: "/proc", self: os.Getpid()}
	ctx, cancel := context.WithCancel(logr.NewContext(t.Context(), logr.Discard()))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	signals := func() int { return countLines(events, "master user defined signal 1") }
	waitFor(t, 5*time.Second, "first fill", func() bool { return Check(o.MountPath) == nil })
	calls := fake.Calls().Total
	waitFor(t, 5*time.Second, "refreshes", func() bool { return fake.Calls().Total >= calls+4 })
	if n := signals(); n != 0 {
		t.Fatalf("%d signals for the first fill and unchanged refreshes", n)
	}
	if _, err := fake.PutSecret("my-app/db-credentials", `{"username":"admin","password":"rotated-1"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the signal", func() bool { return signals() == 1 })
	calls = fake.Calls().Total
	waitFor(t, 5*time.Second, "refreshes", func() bool { return fake.Calls().Total >= calls+4 })
	fake.SetFault(fakeaws.Fault{API: "*", ErrorCode: "AccessDeniedException"})
	if _, err := fake.PutSecret("my-app/db-credentials", `{"username":"admin","password":"rotated-2"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "failed refreshes", func() bool { return fake.Calls().ByCode["AccessDeniedException"] >= 3 })
	if n := signals(); n != 1 {
		t.Fatalf("%d signals after unchanged and failed refreshes, want 1", n)
	}
	fake.ClearFaults()
	waitFor(t, 5*time.Second, "the second signal", func() bool { return signals() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v", err)
	}
}

func TestNotifyOptions(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	base := map[string]string{contract.EnvSPC: `{"objects":"x"}`, contract.EnvMountPath: "/mnt/s", contract.EnvRefreshInterval: "1m"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	o := &Options{getenv: env(with(contract.EnvNotifySignal, "hup", contract.EnvNotifyCommand, "nginx"))}
	if err := o.Validate(); err != nil || o.notify == nil || o.notify.sig != syscall.SIGHUP || o.notify.command != "nginx" {
		t.Fatalf("got %+v %v", o.notify, err)
	}
	if o := (&Options{getenv: env(base)}); o.Validate() != nil || o.notify != nil {
		t.Error("no notify options should mean no notifier")
	}
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"signal alone":  {with(contract.EnvNotifySignal, "HUP"), "without " + contract.EnvNotifyCommand},
		"command alone": {with(contract.EnvNotifyCommand, "nginx"), "without " + contract.EnvNotifySignal},
		"one-shot":      {with(contract.EnvNotifySignal, "HUP", contract.EnvNotifyCommand, "nginx", contract.EnvRefreshInterval, "0"), "needs refreshing"},
		"bad signal":    {with(contract.EnvNotifySignal, "SIGNOPE", contract.EnvNotifyCommand, "nginx"), contract.EnvNotifySignal + `: "SIGNOPE" is not a signal name`},
		"kill":          {with(contract.EnvNotifySignal, "KILL", contract.EnvNotifyCommand, "nginx"), "cannot be caught"},
		"path":          {with(contract.EnvNotifySignal, "HUP", contract.EnvNotifyCommand, "/usr/sbin/nginx"), contract.EnvNotifyCommand + `: "/usr/sbin/nginx" holds a '/'`},
	} {
		t.Run(name, func(t *testing.T) {
			err := (&Options{getenv: env(c.env)}).Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
