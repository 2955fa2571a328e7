package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// FullCLI is the file name of the operator CLI (cmd/aws-secrets-injector),
// which has every subcommand; in the image it sits beside the lean binaries.
const FullCLI = "aws-secrets-injector"

// Role is one lean binary: one role of the full CLI, with that subcommand's
// flags and the logging flags, parsed by pflag alone (no cobra).
//
// Its command line is `BINARY [NAME] [FLAGS]`: the role's subcommand NAME may
// lead, so the args a container was rendered with for the full CLI ("inject
// --check", "mounter --endpoint=...") run the lean binary unchanged. Any other
// leading word is another command of the full CLI: RunRole hands the whole
// command line to FullCLI beside the binary (exec, same process), so an image
// whose entrypoint is a lean binary still answers `IMAGE version`, `IMAGE
// fetch ...` and a chart that names a subcommand without a command.
type Role struct {
	// Binary is the program name, for usage and messages (e.g. "asi-inject").
	Binary string
	// Name is the role's subcommand in the full CLI (e.g. "inject").
	Name string
	// Short is one line saying what the binary does.
	Short string
	// AddFlags registers the role's own flags (its Options.AddFlags).
	AddFlags func(fs *pflag.FlagSet)
	// Run validates the role's options and runs it with a context carrying the logger.
	Run func(ctx context.Context) error
	// SetArgs, when set, takes the positional arguments: flags end at the
	// first argument that is not one (or at "--"), and the rest, the role's
	// own command line (exec's CMD ARGS...), is given to SetArgs before Run.
	// Without it any positional argument is a usage error.
	SetArgs func(args []string)
	// LongRunning marks a server or supervisor: its resident set should be
	// what it runs, not what it ran once. RunRole gives back the pages of the
	// executable's code and read-only data at start (after every package's
	// initialiser ran) and then every ShedPeriod (shedExecutablePages); what
	// the role still runs comes back from the page cache as it runs.
	LongRunning bool
}

// ShedPeriod is how often a LongRunning role gives back its executable's
// pages: its resident code is then what it ran in the last period. A shed
// costs a few system calls, and the minor faults of the code that runs next.
const ShedPeriod = time.Minute

// Settled gives back the executable's pages now, as RunRole does at start
// and every ShedPeriod: a LongRunning role calls it when its start-up is over
// (a server whose caches have synced), so its resident set is the code it
// serves with, not the code that built it, from the first minute.
func Settled() { shedExecutablePages() }

// UsageError is a command line the binary refuses; it exits 2.
type UsageError struct{ Err error }

// Error returns the underlying message.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode is 2, the usual code of a usage error.
func (e *UsageError) ExitCode() int { return 2 }

// RunRole is the whole main of a lean binary: hand another command to the
// full CLI, else parse os.Args, then run the role until it returns or a
// signal cancels it, and exit.
func RunRole(r Role) {
	if target, ok := r.handOff(os.Args[1:]); ok {
		exe, err := os.Executable()
		if err == nil {
			full := filepath.Join(filepath.Dir(exe), FullCLI)
			// Exec replaces this process: same PID, same signals, the full CLI's exit code.
			err = syscall.Exec(full, append([]string{full}, os.Args[1:]...), os.Environ()) //nolint:gosec // the sibling binary of the same image, argv as given
		}
		// Only a failed exec gets here.
		os.Exit(exit(os.Stderr, &UsageError{fmt.Errorf("unknown command %q: %s runs only %q, and %s beside it, which has the others, cannot be run: %w",
			target, r.Binary, r.Name, FullCLI, err)}))
	}
	if r.LongRunning {
		shedExecutablePages()
		go func() {
			for range time.Tick(ShedPeriod) {
				shedExecutablePages()
			}
		}()
	}
	Main(func(ctx context.Context) error { return r.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

// handOff reports whether args name another command than the role (a
// leading word that is neither a flag nor the role's name), and which.
func (r Role) handOff(args []string) (string, bool) {
	if len(args) == 0 || args[0] == r.Name || strings.HasPrefix(args[0], "-") {
		return "", false
	}
	return args[0], true
}

// Execute parses args (without the program name), sets up logging on stderr
// and runs the role. --help prints the usage on stdout and returns nil; a bad
// command line is a *UsageError.
func (r Role) Execute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == r.Name {
		args = args[1:]
	}
	fs := pflag.NewFlagSet(r.Binary, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; usage is printed on request only
	fs.SortFlags = false
	fs.SetInterspersed(r.SetArgs == nil)
	logOpts := &LogOptions{}
	r.AddFlags(fs)
	logOpts.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			_, err := fmt.Fprint(stdout, r.usage(fs))
			return err
		}
		return &UsageError{fmt.Errorf("%w (see %s --help)", err, r.Binary)}
	}
	switch {
	case r.SetArgs != nil:
		r.SetArgs(fs.Args())
	case fs.NArg() > 0:
		return &UsageError{fmt.Errorf("unexpected arguments %q (see %s --help)", fs.Args(), r.Binary)}
	}
	if err := logOpts.Validate(); err != nil {
		return &UsageError{err}
	}
	return r.Run(logOpts.Into(ctx, stderr))
}

func (r Role) usage(fs *pflag.FlagSet) string {
	return fmt.Sprintf("%s\n\nUsage:\n  %s [%s] [flags]\n\nFlags:\n%s\nThe other commands (fetch, validate, certs, version, ...) are in %s; given one, %s runs it.\n",
		r.Short, r.Binary, r.Name, fs.FlagUsages(), FullCLI, r.Binary)
}
