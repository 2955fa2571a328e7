package envexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// Forwarded are the signals the supervising wrapper passes on to the app:
// every signal another process may send to stop, reload, resize or
// job-control a program. Not forwarded: SIGCHLD (the wrapper's own, to
// reap), SIGPIPE (about the wrapper's own writes), SIGURG (the Go runtime's
// preemption), the uncatchable SIGKILL and SIGSTOP, and the synchronous
// fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS).
var Forwarded = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGWINCH, unix.SIGALRM, unix.SIGCONT, unix.SIGPWR, unix.SIGVTALRM, unix.SIGPROF,
	unix.SIGXCPU, unix.SIGXFSZ, unix.SIGIO, unix.SIGABRT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
}

// reapEvery is how often the supervisor reaps even without a SIGCHLD (one
// can be lost when the signal channel is full).
const reapEvery = time.Second

// supervise starts the app as a child and stays its parent until it exits:
// it forwards every signal of Forwarded, reaps the app and any orphan
// handed to it (as PID 1 of the container it is their parent too), acts on
// each change w reports (a signal, or a restart with the new environment),
// and returns an *ExitError with the app's exit code, 128+n when a signal n
// killed it. Cancelling nothing stops it but the app's end: the pod's
// SIGTERM reaches the app, forwarded, and from then on no restart happens.
func (o *Options) supervise(log logr.Logger, path string, env []string, files []secrets.File, w watcher) error {
	// 1. Catch the signals before the child exists: a SIGTERM meant for the
	//    app must never kill the wrapper first, and no SIGCHLD may be missed.
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs, append([]os.Signal{unix.SIGCHLD}, Forwarded...)...)
	defer signal.Stop(sigs)
	// Every start below runs on this thread, which the app's death signal
	// follows (see start): locked, no other goroutine's exit can end it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	app, err := start(path, o.Argv, env)
	if err != nil {
		return &ExitError{Code: ExitCannotRun, Err: fmt.Errorf("start %s: %w", secrets.Quote(path), err)}
	}
	log.Info("app started", "pid", app.Pid, "onChange", o.onChange.String())

	// 2. Watch the set in the background; the newest change wins.
	changes := make(chan []secrets.File, 1)
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go w.run(wctx, log, files, func(set []secrets.File) {
		select {
		case <-changes:
		default:
		}
		changes <- set
	})

	tick := time.NewTicker(reapEvery)
	defer tick.Stop()
	var (
		restarting bool             // the app was asked to stop for a restart
		pending    []string         // the environment of the next start
		kill       *time.Timer      // the grace period of a restart
		killC      <-chan time.Time // kill's channel while armed
		stopping   bool             // SIGTERM was forwarded: the pod is ending, no more restarts
	)
	for {
		select {
		case s := <-sigs:
			if s != unix.SIGCHLD {
				// 3. Forward. A signal for an app that just ended is lost with it.
				if s == unix.SIGTERM && !stopping {
					stopping = true
					stopWatch()
				}
				if err := app.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
					log.Error(err, "forward signal", "signal", unix.SignalName(s.(syscall.Signal)), "pid", app.Pid)
				}
				continue
			}
		case <-tick.C:
		case set := <-changes:
			// 4. A real change (the watcher compared the content).
			if stopping {
				continue
			}
			next, err := o.environ(log, path, set)
			if err != nil {
				log.Error(err, "the changed file set cannot become the app's environment; the app keeps running as it is")
				continue
			}
			if o.onChange.Action == contract.ActionSignal {
				if err := app.Signal(o.onChange.Signal); err != nil {
					log.Error(err, "signal the app", "signal", o.onChange.SignalName, "pid", app.Pid)
				} else {
					log.Info("file set changed: app signalled", "signal", o.onChange.SignalName, "pid", app.Pid, "files", len(set))
				}
				continue
			}
			pending = next
			if !restarting {
				restarting = true
				log.Info("file set changed: restarting the app", "pid", app.Pid, "files", len(set), "gracePeriod", o.GracePeriod)
				if err := app.Signal(unix.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
					log.Error(err, "stop the app for a restart", "pid", app.Pid)
				}
				kill = time.NewTimer(o.GracePeriod)
				killC = kill.C
			}
			continue
		case <-killC:
			killC = nil
			log.Info("grace period over: killing the app", "pid", app.Pid, "gracePeriod", o.GracePeriod)
			if err := app.Signal(unix.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
				log.Error(err, "kill the app", "pid", app.Pid)
			}
			continue
		}
		// 5. Reap: the app, and any orphan handed to the wrapper.
		ws, ended := reap(app.Pid)
		if !ended {
			continue
		}
		_ = app.Release()
		if !restarting || stopping {
			return &ExitError{Code: exitCode(ws)}
		}
		// 6. The restart: the new app with the newest environment.
		kill.Stop()
		killC, restarting = nil, false
		if app, err = start(path, o.Argv, pending); err != nil {
			return &ExitError{Code: ExitCannotRun, Err: fmt.Errorf("restart %s: %w", secrets.Quote(path), err)}
		}
		log.Info("app restarted", "pid", app.Pid, "previousExit", exitCode(ws))
	}
}

// start starts the app with the wrapper's standard input, output and error.
//
// The app is killed when the wrapper dies (PR_SET_PDEATHSIG), as it is when
// the wrapper is PID 1 of its container and the kernel ends the namespace
// with it: a wrapper that a shell started, SIGKILLed or OOM-killed,
// otherwise left the app running without a supervisor (no forwarded
// signals, no reloads, nobody to reap it). Linux sends the signal when the
// thread that started the child ends: supervise keeps its goroutine on one
// thread for the app's whole life, so that thread ends only with the
// wrapper. Linux drops the setting when the app execs a set-user-ID,
// set-group-ID or file-capability binary (gosu, su-exec) or changes its
// credentials; such an app still outlives a wrapper that is not PID 1.
func start(path string, argv, env []string) (*os.Process, error) {
	return os.StartProcess(path, argv, &os.ProcAttr{Env: env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}})
}

// reap collects every ended child without blocking and reports whether app
// was one of them, with its status.
func reap(app int) (unix.WaitStatus, bool) {
	var (
		status unix.WaitStatus
		ended  bool
	)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return status, ended
		}
		if pid == app {
			status, ended = ws, true
		}
	}
}

// exitCode is a status as a shell reports it: the exit code, or 128+n for
// a death by signal n.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
