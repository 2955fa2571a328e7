// Command peakrss runs one command and reports its wall time and peak
// resident set size (VmHWM) exactly, for benchmarks of the real binaries.
//
//	peakrss RESULT-FILE [NAME=VALUE...] BIN [ARG...]
//
// It passes stdin, stdout, stderr, the environment and the exit code through,
// plus the NAME=VALUE variables for the child only (like env(1); GODEBUG
// given in peakrss's own environment would trace peakrss too),
// and writes "WALL_NS MAXRSS_KIB OWN_KIB CPU_NS" to RESULT-FILE (CPU is the
// child's user plus system time).
//
// Why a process of its own: Go starts a child with vfork (CLONE_VM), and the
// kernel records the parent's peak into the child's ru_maxrss when the child
// execs, so a large parent (a test process running the fake AWS) hides the
// child's own figure. This parent is small: OWN_KIB is its own VmHWM, and a
// MAXRSS_KIB equal to it means the child stayed below it (an upper bound).
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[2:]
	env := os.Environ()
	for len(args) > 0 && strings.Contains(args[0], "=") {
		env = append(env, args[0])
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: peakrss RESULT-FILE [NAME=VALUE...] BIN [ARG...]")
		os.Exit(2)
	}
	cmd := exec.CommandContext(context.Background(), args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "peakrss:", err)
		os.Exit(127)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	res := fmt.Sprintf("%d %d %d %d\n", wall.Nanoseconds(), ru.Maxrss, ownHWM(), cpu.Nanoseconds()) // Maxrss: KiB on Linux
	if werr := os.WriteFile(os.Args[1], []byte(res), 0o600); werr != nil {
		fmt.Fprintln(os.Stderr, "peakrss:", werr)
		os.Exit(127)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}

// ownHWM is this process's VmHWM in KiB (0 when unreadable).
func ownHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
