package envexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
	injcontract "github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
)

// Exit codes of the wrapper's own failures, as env(1) and the shells use
// them, so they cannot be taken for the app's: the app's own exit code (or
// 128+signal) is the wrapper's otherwise.
const (
	// ExitSetup: the file set is missing, unreadable or does not map to an
	// environment; bad flags or contract variables. The app was not started.
	ExitSetup = 125
	// ExitCannotRun: the command was found but could not be executed.
	ExitCannotRun = 126
	// ExitNotFound: the command was not found.
	ExitNotFound = 127
)

// ExitError ends the wrapper with Code; Err, when set, is the one line
// saying why (nil when the code is the app's own).
type ExitError struct {
	// Code is the process exit code.
	Code int
	// Err is the wrapper's failure, or nil.
	Err error
}

// Error is Err's message, or "" when the code is the app's.
func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// ExitCode is the exit code.
func (e *ExitError) ExitCode() int { return e.Code }

// Unwrap returns Err.
func (e *ExitError) Unwrap() error { return e.Err }

func setupError(err error) error { return &ExitError{Code: ExitSetup, Err: err} }

// firstFetchTimeout bounds the fetch source's first load (the SDK retries
// throttling and 5xx within it; a failure exits, and the kubelet's restart
// back-off is the retry).
const firstFetchTimeout = injcontract.DefaultDeadline

// Run runs the wrapper with validated options: Install, or read the set,
// build the app's environment and execve the app (on-change none: Run
// returns only when the exec failed), or start it as a child and supervise
// it until it exits (signal, restart). Every error is an *ExitError.
func Run(ctx context.Context, o *Options) error {
	if o.Install != "" {
		if err := Install(o.Install); err != nil {
			return &ExitError{Code: 1, Err: err}
		}
		return nil
	}
	log := logr.FromContextOrDiscard(ctx)
	// 1. The command, before anything is read: a typo is not a secrets problem.
	path, err := lookPath(o.Argv[0])
	if err != nil {
		return err
	}
	// 2. The whole set, or nothing: no partial environment ever reaches the app.
	var (
		files []secrets.File
		w     watcher
	)
	if o.EnvFrom != "" {
		var gen string
		if files, gen, err = readDir(o.EnvFrom); err != nil {
			return setupError(err)
		}
		w = &dirWatcher{dir: o.EnvFrom, gen: gen, debounce: o.debounce, poll: o.poll}
	} else {
		f, err := newFetcher(ctx, o)
		if err != nil {
			return setupError(err)
		}
		lctx, cancel := context.WithTimeout(ctx, firstFetchTimeout)
		files, err = f.load(lctx)
		cancel()
		if err != nil {
			return setupError(err)
		}
		interval := o.RefreshInterval
		if interval == 0 {
			interval = f.own.Request.Spec.RefreshInterval
		}
		if interval == 0 {
			interval = contract.DefaultRefreshInterval
		}
		w = &fetchWatcher{f: f, interval: interval}
	}
	// 3. The environment, checked against the kernel's limits.
	env, err := o.environ(log, path, files)
	if err != nil {
		return setupError(err)
	}
	log.V(1).Info("starting the app", "command", secrets.Quote(o.Argv[0]), "variables", len(env), "files", len(files), "onChange", o.onChange.String())
	if o.onChange.Action == contract.ActionNone {
		// 4. Become the app: same PID, signals, descriptors and exit code.
		err := syscall.Exec(path, o.Argv, env) //nolint:gosec // running the user's command is the point
		return &ExitError{Code: ExitCannotRun, Err: fmt.Errorf("exec %s: %w", secrets.Quote(path), err)}
	}
	// 4'. Or stay its parent, to act on changes.
	return o.supervise(log, path, env, files, w)
}

// environ binds the set's files to names and builds the app's environment
// from the wrapper's own, checked against the kernel's exec limits.
func (o *Options) environ(log logr.Logger, path string, files []secrets.File) ([]string, error) {
	src := o.EnvFrom
	if src == "" {
		src = "SecretProviderClass " + o.ClassName
	}
	binds, err := contract.Bind(src, paths(files), o.mapping)
	if err != nil {
		return nil, err
	}
	env, overridden, err := environ(os.Environ(), files, binds)
	if err != nil {
		return nil, err
	}
	if len(overridden) > 0 {
		log.Info("files replace variables of the container's environment", "variables", strings.Join(overridden, ","))
	}
	if err := checkExec(path, o.Argv, env, ExecBudget()); err != nil {
		return nil, err
	}
	return env, nil
}

// lookPath finds the command as execvp(3) would, in the wrapper's PATH (a
// file cannot set PATH). Not found is ExitNotFound, not executable
// ExitCannotRun.
func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	code := ExitNotFound
	if errors.Is(err, fs.ErrPermission) {
		code = ExitCannotRun
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	return "", &ExitError{Code: code, Err: fmt.Errorf("command %s: %w", secrets.Quote(name), err)}
}

// Install copies the running binary into dir as contract.Binary's base name,
// mode contract.BinaryMode, through a temporary file renamed into place, so
// an app container never sees a partial binary. It is the copy init
// container's work; the app containers mount dir read-only.
func Install(dir string) error {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("install: open own binary: %w", err)
	}
	defer src.Close() //nolint:errcheck // read-only
	tmp, err := os.CreateTemp(dir, ".install-*")
	if err != nil {
		return fmt.Errorf("install into %s: %w", secrets.Quote(dir), err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, src); err != nil {
		return fmt.Errorf("install into %s: copy: %w", secrets.Quote(dir), err)
	}
	if err := tmp.Chmod(contract.BinaryMode); err != nil {
		return fmt.Errorf("install into %s: %w", secrets.Quote(dir), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install into %s: %w", secrets.Quote(dir), err)
	}
	dst := filepath.Join(dir, filepath.Base(contract.Binary))
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install into %s: %w", secrets.Quote(dir), err)
	}
	done = true
	return nil
}

// jitter spreads d by ±10 %.
func jitter(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*r))
}
