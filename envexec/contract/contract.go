// Package contract is the exec-wrapper contract between the webhook, which
// rewrites an app container's command, and `aws-secrets-injector exec`, which
// runs in it: the binary's path inside the pod, the copy step, the
// annotations, the environment variables and flags, and the pure checks the
// webhook runs at admission with the same verdicts the wrapper reaches at
// start (the environment-name mapping and its collisions, the signal names,
// the on-change actions). It is a leaf: it imports nothing of the AWS SDK or
// of Kubernetes, so the webhook links none of what the wrapper needs to run.
//
// The whole contract, with the reasons for it, is written down in the doc of
// package envexec.
package contract

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/seed-ddac166a/aws-secrets-injector/secrets"
	"github.com/seed-ddac166a/aws-secrets-injector/secrets/reason"
)

// Subcommand is the wrapper's subcommand of the binary.
const Subcommand = "exec"

// Where the webhook puts the binary in an app container.
const (
	// BinDir is the mount path, in every wrapped app container, of the
	// emptyDir the copy init container filled. It must be mounted readOnly:
	// a writable copy would let an app's file-write bug replace the code
	// that runs as the container's first process on its next start.
	BinDir = "/aws-secrets-injector-bin"
	// Binary is the wrapper's path inside a wrapped app container: the
	// copy of ImageBinary.
	Binary = BinDir + "/asi-exec"
	// ImageBinary is the wrapper's lean binary in the project's image
	// (cmd/asi-exec): the exec subcommand alone, about a fifth of the full
	// CLI, which every wrapped pod would otherwise copy.
	ImageBinary = "/asi-exec"
	// BinaryMode is the copied binary's mode: readable and executable by any
	// uid the app runs as, writable by none.
	BinaryMode = 0o555
)

// Annotations of a pod (prefix aws-secrets-injector.io/) that ask for the
// wrapper; the webhook parses them with the functions of this package.
const (
	// AnnotationExec "true" wraps every container the pod's secrets are
	// mounted into (the containers annotation, default all app containers).
	AnnotationExec = "aws-secrets-injector.io/exec"
	// AnnotationExecContainers is a comma list of the containers to wrap (a
	// subset of those the secrets are mounted into); it implies exec.
	AnnotationExecContainers = "aws-secrets-injector.io/exec-containers"
	// AnnotationExecEnv maps file names to variable names explicitly:
	// "db-password=PGPASSWORD,db-user=PGUSER" (ParseEnvMap); rendered as EnvEnv.
	AnnotationExecEnv = "aws-secrets-injector.io/exec-env"
	// AnnotationExecOnChange is "none", "restart" or "signal:SIGHUP"
	// (ParseOnChange); rendered as EnvOnChange.
	AnnotationExecOnChange = "aws-secrets-injector.io/exec-on-change"
	// AnnotationExecGracePeriod is a Go duration (ParseGracePeriod); rendered
	// as EnvGracePeriod.
	AnnotationExecGracePeriod = "aws-secrets-injector.io/exec-grace-period"
)

// EnvPrefix starts every variable of the project's contracts. The wrapper
// removes every variable with this prefix from the app's environment.
const EnvPrefix = "AWS_SECRETS_INJECTOR_"

// Environment variables the webhook renders on a wrapped app container; the
// matching flag overrides each. The fetch source (no files: the wrapper
// fetches itself) reads the init-mode contract's AWS_SECRETS_INJECTOR_SPC
// and AWS_SECRETS_INJECTOR_SPC_NAME (package injector/contract), in the same
// encoding.
const (
	// EnvEnvFrom is the directory holding the file set: the CSI mount path
	// (csi mode) or the memory emptyDir's mount path (init mode).
	EnvEnvFrom = "AWS_SECRETS_INJECTOR_EXEC_ENV_FROM"
	// EnvEnv is the explicit mapping, "file=NAME,..." (ParseEnvMap).
	EnvEnv = "AWS_SECRETS_INJECTOR_EXEC_ENV"
	// EnvOnChange is the on-change action (ParseOnChange); unset is "none".
	EnvOnChange = "AWS_SECRETS_INJECTOR_EXEC_ON_CHANGE"
	// EnvGracePeriod is the time a restart waits after SIGTERM before SIGKILL
	// (ParseGracePeriod); unset is DefaultGracePeriod.
	EnvGracePeriod = "AWS_SECRETS_INJECTOR_EXEC_GRACE_PERIOD"
	// EnvRefreshInterval is, for the fetch source with "restart", the time
	// between fetches (a Go duration, at least MinRefreshInterval); unset
	// takes the class's refreshInterval, else DefaultRefreshInterval.
	EnvRefreshInterval = "AWS_SECRETS_INJECTOR_EXEC_REFRESH_INTERVAL"
)

// Flags of the exec subcommand.
const (
	FlagEnvFrom         = "env-from"
	FlagSPC             = "spc"
	FlagEnv             = "env"
	FlagOnChange        = "on-change"
	FlagGracePeriod     = "grace-period"
	FlagRefreshInterval = "refresh-interval"
	// FlagInstall makes exec copy its own binary into a directory and exit:
	// the copy init container runs ["/asi-exec", "exec", "--install", BinDir].
	FlagInstall = "install"
)

// Defaults and bounds.
const (
	// DefaultGracePeriod is the time a restart waits between SIGTERM and SIGKILL.
	DefaultGracePeriod = 10 * time.Second
	// MaxGracePeriod bounds the grace period (the pod's own
	// terminationGracePeriodSeconds bounds the pod's end anyway).
	MaxGracePeriod = 10 * time.Minute
	// DefaultRefreshInterval is the fetch source's refresh interval with
	// "restart" when neither the flag, the variable nor the class sets one.
	DefaultRefreshInterval = 2 * time.Minute
	// MinRefreshInterval is the shortest refresh interval of the fetch source.
	MinRefreshInterval = 5 * time.Second
	// MaxMapEntries bounds the explicit mapping (one entry a file at most).
	MaxMapEntries = secrets.MaxFiles
)

// InstallArgs are the copy init container's args after the binary (the
// image's ImageBinary): copy it into dir, the emptyDir's mount
// path in that init container (BinDir).
func InstallArgs(dir string) []string { return []string{Subcommand, "--" + FlagInstall, dir} }

// Command is the rewritten command of a wrapped container: the wrapper at
// binary (Binary) with the container's original command and args after
// "--". The original must be the full argv (the container's command followed
// by its args); a container that sets only args runs its image's ENTRYPOINT,
// which the pod spec does not show: the webhook must deny it (or resolve the
// entrypoint) rather than guess.
func Command(binary string, argv []string) []string {
	return append([]string{binary, Subcommand, "--"}, argv...)
}

// problem is a bad value of a contract field (an annotation, a variable, a
// flag): a Problem naming it, with the fix.
func problem(field, what, fix string) *secrets.Problem {
	return &secrets.Problem{Object: -1, Field: field, Problem: what, Fix: fix, Kind: reason.InvalidRequest}
}

// ParseGracePeriod parses a grace period: "" is DefaultGracePeriod, else a
// Go duration above 0 and at most MaxGracePeriod; field names the
// annotation, variable or flag for the error.
func ParseGracePeriod(field, v string) (time.Duration, error) {
	if v == "" {
		return DefaultGracePeriod, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, problem(field, fmt.Sprintf("%s is not a duration", secrets.Quote(v)), `use a Go duration such as "10s"`)
	case d <= 0:
		return 0, problem(field, fmt.Sprintf("%s is not positive", d), `use a positive duration such as "10s"`)
	case d > MaxGracePeriod:
		return 0, problem(field, fmt.Sprintf("%s is longer than %s", d, MaxGracePeriod), fmt.Sprintf("use at most %s", MaxGracePeriod))
	}
	return d, nil
}

// ParseRefreshInterval parses the fetch source's refresh interval: "" is 0
// (not set), else a Go duration of at least MinRefreshInterval.
func ParseRefreshInterval(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, problem(field, fmt.Sprintf("%s is not a duration", secrets.Quote(v)), `use a Go duration such as "2m"`)
	case d < MinRefreshInterval:
		return 0, problem(field, fmt.Sprintf("%s is shorter than %s", d, MinRefreshInterval), fmt.Sprintf("use %s or more", MinRefreshInterval))
	}
	return d, nil
}

// Vars is what the webhook renders on a wrapped container, in this order,
// omitting what is unset.
type Vars struct {
	// EnvFrom is the file set's directory (EnvEnvFrom).
	EnvFrom string
	// Env is the explicit mapping as the annotation wrote it (EnvEnv), checked with ParseEnvMap.
	Env string
	// OnChange is the on-change action as the annotation wrote it (EnvOnChange), checked with ParseOnChange.
	OnChange string
	// GracePeriod is the grace period as the annotation wrote it (EnvGracePeriod).
	GracePeriod string
}

// List returns the variables as name/value pairs in a fixed order, after
// checking every value with the wrapper's own parsers (a value it accepts
// here, the wrapper accepts at start).
func (v Vars) List() ([][2]string, error) {
	if v.EnvFrom == "" || !strings.HasPrefix(v.EnvFrom, "/") {
		return nil, problem(EnvEnvFrom, fmt.Sprintf("%s is not an absolute path", secrets.Quote(v.EnvFrom)), "use the mount path of the secrets volume in this container")
	}
	if _, err := ParseEnvMap(EnvEnv, v.Env); err != nil {
		return nil, err
	}
	if _, err := ParseOnChange(EnvOnChange, v.OnChange); err != nil {
		return nil, err
	}
	if _, err := ParseGracePeriod(EnvGracePeriod, v.GracePeriod); err != nil {
		return nil, err
	}
	out := [][2]string{{EnvEnvFrom, v.EnvFrom}}
	for _, kv := range [][2]string{{EnvEnv, v.Env}, {EnvOnChange, v.OnChange}, {EnvGracePeriod, v.GracePeriod}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out, nil
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Signal numbers by canonical name: the signals an app may be asked to
// reload on. SIGKILL and SIGSTOP cannot be caught, so no app reloads on them
// (use "restart"); the synchronous fault signals (SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGTRAP, SIGABRT, SIGSYS) would make the app believe it crashed;
// SIGCHLD, SIGPIPE, SIGURG, SIGTTIN, SIGTTOU and SIGTSTP mean something else
// to every program. Numbers are those of the platform (Linux in a pod).
var signals = map[string]syscall.Signal{
	"SIGHUP":    syscall.SIGHUP,
	"SIGINT":    syscall.SIGINT,
	"SIGQUIT":   syscall.SIGQUIT,
	"SIGTERM":   syscall.SIGTERM,
	"SIGUSR1":   syscall.SIGUSR1,
	"SIGUSR2":   syscall.SIGUSR2,
	"SIGWINCH":  syscall.SIGWINCH,
	"SIGALRM":   syscall.SIGALRM,
	"SIGCONT":   syscall.SIGCONT,
	"SIGVTALRM": syscall.SIGVTALRM,
	"SIGPROF":   syscall.SIGPROF,
	"SIGXCPU":   syscall.SIGXCPU,
	"SIGXFSZ":   syscall.SIGXFSZ,
	"SIGIO":     syscall.SIGIO,
}

// refused are signal names that exist but cannot be asked for, with why.
var refused = map[string]string{
	"SIGKILL": "cannot be caught, so no app reloads on it; use restart",
	"SIGSTOP": "cannot be caught, so no app reloads on it; use restart",
	"SIGSEGV": "is a fault signal: the app would believe it crashed",
	"SIGBUS":  "is a fault signal: the app would believe it crashed",
	"SIGFPE":  "is a fault signal: the app would believe it crashed",
	"SIGILL":  "is a fault signal: the app would believe it crashed",
	"SIGTRAP": "is a fault signal: the app would believe it crashed",
	"SIGABRT": "is a fault signal: the app would believe it crashed",
	"SIGSYS":  "is a fault signal: the app would believe it crashed",
	"SIGCHLD": "tells a process about its children, not about its files",
	"SIGPIPE": "tells a process about a closed pipe, not about its files",
	"SIGURG":  "is used by the Go runtime and by sockets, not for reloads",
	"SIGTTIN": "is job control, not a reload",
	"SIGTTOU": "is job control, not a reload",
	"SIGTSTP": "is job control, not a reload",
}

// SignalNames lists the accepted signal names, sorted.
func SignalNames() []string { return sortedKeys(signals) }

// ParseSignal parses a signal name for a reload: "SIGHUP" or "HUP", in any
// case. Numbers are refused (they differ between architectures), and so are
// the signals no app can reload on (see signals). It returns the canonical
// name ("SIGHUP") and the signal; field names the annotation, variable or
// flag for the error.
func ParseSignal(field, s string) (string, syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if name != "" && !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	fix := "use one of " + strings.Join(SignalNames(), ", ")
	if sig, ok := signals[name]; ok {
		return name, sig, nil
	}
	if why, ok := refused[name]; ok {
		return "", 0, problem(field, fmt.Sprintf("%s %s", name, why), fix)
	}
	if s == "" {
		return "", 0, problem(field, "no signal name", fix)
	}
	return "", 0, problem(field, fmt.Sprintf("%s is not a signal name", secrets.Quote(s)), fix)
}

// Action is what the wrapper does when the file set changes.
type Action int

// The actions.
const (
	// ActionNone: execve the app; nothing watches the set.
	ActionNone Action = iota
	// ActionSignal: stay the app's parent and send it a signal on a change.
	ActionSignal
	// ActionRestart: stay the app's parent and start it again with the new
	// environment on a change.
	ActionRestart
)

// OnChange is a parsed on-change value.
type OnChange struct {
	// Action is what to do.
	Action Action
	// Signal is the signal of ActionSignal.
	Signal syscall.Signal
	// SignalName is its canonical name ("SIGHUP").
	SignalName string
}

// String renders o as ParseOnChange reads it.
func (o OnChange) String() string {
	switch o.Action {
	case ActionSignal:
		return "signal:" + o.SignalName
	case ActionRestart:
		return "restart"
	}
	return "none"
}

// ParseOnChange parses an on-change value: "" or "none", "restart", or
// "signal:NAME" (ParseSignal). field names the annotation, variable or flag.
func ParseOnChange(field, s string) (OnChange, error) {
	switch v := strings.TrimSpace(s); {
	case v == "" || v == "none":
		return OnChange{Action: ActionNone}, nil
	case v == "restart":
		return OnChange{Action: ActionRestart}, nil
	case strings.HasPrefix(v, "signal:"):
		name, sig, err := ParseSignal(field, strings.TrimPrefix(v, "signal:"))
		if err != nil {
			return OnChange{}, err
		}
		return OnChange{Action: ActionSignal, Signal: sig, SignalName: name}, nil
	}
	return OnChange{}, problem(field, fmt.Sprintf("%s is not an on-change action", secrets.Quote(s)),
		`use "none", "restart" or "signal:NAME" (e.g. "signal:SIGHUP")`)
}
