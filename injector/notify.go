package injector

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// commLen is the most bytes of a command name the kernel keeps in
// /proc/<pid>/comm (TASK_COMM_LEN less the NUL).
const commLen = 15

// notifier signals the app after a refresh changed the set: the native
// sidecar's way of telling an app that reads plain files (no exec wrapper)
// that a rotation happened. It needs the pod's shareProcessNamespace: true,
// which puts every container in one PID namespace (the pause process is PID
// 1), and the right to signal the app: the same uid, or CAP_KILL.
type notifier struct {
	sig     syscall.Signal
	sigName string
	command string
	// proc is the procfs root ("/proc").
	proc string
	// self is this process's PID, never signalled.
	self int
}

// notify sends the signal to every target; it is called once per refresh
// that changed the set, never after a failed one. What it could not do is
// logged with the fix; a refresh never fails for it.
func (n *notifier) notify(log logr.Logger) {
	pids, err := NotifyTargets(n.proc, n.command, n.self)
	if err != nil {
		log.Error(err, "find the app to signal", "command", secrets.Quote(n.command))
		return
	}
	if len(pids) == 0 {
		log.Info("no process to signal after the rotation", "command", secrets.Quote(n.command),
			"fix", "set shareProcessNamespace: true on the pod and check the command name (ps -o comm)")
		return
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, n.sig); err != nil {
			fix := ""
			if errors.Is(err, syscall.EPERM) {
				fix = "run the sidecar as the app's user (runAsUser) or add the KILL capability to it"
			}
			log.Error(err, "signal the app", "signal", n.sigName, "pid", pid, "fix", fix)
			continue
		}
		log.Info("app signalled after the rotation", "signal", n.sigName, "pid", pid, "command", secrets.Quote(n.command))
	}
}

// NotifyTargets returns the PIDs to signal for command, read from the procfs
// at proc: the processes whose name is command: /proc/<pid>/comm (the
// executable's name, kept when an app rewrites its argv as nginx does; for a
// command of at most 15 bytes, which is all comm holds) or the base name of
// argv[0] from /proc/<pid>/cmdline, other than self and PID 1 (the pause process, or in a pod
// without a shared namespace this container's own first process), and of
// those only the top of each tree: one whose parent is a target too is
// left out. An nginx or gunicorn master reloads its workers itself, and a
// worker that got the master's signal would act on it alone; a process
// whose parent is another program (a shell, a wrapper) is a top.
func NotifyTargets(proc, command string, self int) ([]int, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", proc, err)
	}
	// A name longer than comm holds is told apart by argv[0] alone: its cut
	// comm could be another program's.
	comm := command
	if len(comm) > commLen {
		comm = ""
	}
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		dir := filepath.Join(proc, e.Name())
		if !matches(dir, comm, command) {
			continue
		}
		ppid, ok := parentOf(dir)
		if !ok {
			continue // gone meanwhile
		}
		parent[pid] = ppid
	}
	var out []int
	for pid, ppid := range parent {
		if _, nested := parent[ppid]; !nested {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out, nil
}

// matches reports whether the process at dir is named comm (its comm,
// unless comm is "") or command (argv[0]'s base name).
func matches(dir, comm, command string) bool {
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); comm != "" && err == nil && string(bytes.TrimSuffix(b, []byte("\n"))) == comm {
		return true
	}
	b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(b) == 0 {
		return false
	}
	argv0, _, _ := bytes.Cut(b, []byte{0})
	return filepath.Base(string(argv0)) == command
}

// parentOf reads the parent PID from /proc/<pid>/stat: the field after the
// state, after the command name in parentheses (which may hold spaces and
// parentheses itself: the last ')' ends it).
func parentOf(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	return ppid, err == nil
}
