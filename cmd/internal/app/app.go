// Package app is the wiring every main of the project shares: the logging
// flags, a context cancelled by SIGINT or SIGTERM, exit codes and the one
// "error: ..." line on failure, and the small flag-only front end of the lean
// per-role binaries (asi-inject, asi-mounter, asi-webhook). It owns no work of
// its own: each main hands a Run of the package that owns the work to it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
)

// ExitCoder lets an error choose the process's exit code (validate uses 1 and 2).
type ExitCoder interface{ ExitCode() int }

// ExitCode is the exit code for err: 0 for nil, the error's own when it (or
// an error it wraps) is an ExitCoder, else 1.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ec ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// Main runs run with a context that SIGINT or SIGTERM cancels, then exits:
// 0 on success, else ExitCode(err) after printing "error: MSG" on stderr (an
// error with an empty message prints nothing: it has already said why).
func Main(run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	os.Exit(exit(os.Stderr, err))
}

// exit prints err's line on w and returns the exit code.
func exit(w io.Writer, err error) int {
	if err != nil {
		if msg := err.Error(); msg != "" {
			_, _ = fmt.Fprintln(w, "error:", msg)
		}
	}
	return ExitCode(err)
}

// LogOptions are the logging flags every command shares.
type LogOptions struct {
	// Format is "text" (human) or "json" (one object a line, for log pipelines).
	Format string
	// Verbosity is the logr V-level that is still printed; 0 logs only what an operator needs.
	Verbosity int
}

// AddFlags registers the logging flags.
func (o *LogOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", "text", `log format: "text" or "json"`)
	fs.IntVarP(&o.Verbosity, "v", "v", 0, "log verbosity (0 = operator-relevant only, higher = more detail)")
}

// Validate checks the flag values.
func (o *LogOptions) Validate() error {
	if o.Format != "text" && o.Format != "json" {
		return fmt.Errorf("--log-format %q: must be text or json", o.Format)
	}
	if o.Verbosity < 0 {
		return fmt.Errorf("--v %d: must be 0 or more", o.Verbosity)
	}
	return nil
}

// Into returns ctx carrying a logr.Logger writing to w in the chosen format.
func (o *LogOptions) Into(ctx context.Context, w io.Writer) context.Context {
	opts := &slog.HandlerOptions{Level: slog.Level(-o.Verbosity)}
	var h slog.Handler
	if o.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return logr.NewContext(ctx, logr.FromSlogHandler(h))
}
