package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
)

// logOptions are the logging flags every subcommand shares.
type logOptions struct {
	// Format is "text" (human) or "json" (one object a line, for log pipelines).
	Format string
	// Verbosity is the logr V-level that is still printed; 0 logs only what an operator needs.
	Verbosity int
}

// AddFlags registers the logging flags.
func (o *logOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", "text", `log format: "text" or "json"`)
	fs.IntVarP(&o.Verbosity, "v", "v", 0, "log verbosity (0 = operator-relevant only, higher = more detail)")
}

// Validate checks the flag values.
func (o *logOptions) Validate() error {
	if o.Format != "text" && o.Format != "json" {
		return fmt.Errorf("--log-format %q: must be text or json", o.Format)
	}
	if o.Verbosity < 0 {
		return fmt.Errorf("--v %d: must be 0 or more", o.Verbosity)
	}
	return nil
}

// Into returns ctx carrying a logr.Logger writing to w in the chosen format.
func (o *logOptions) Into(ctx context.Context, w io.Writer) context.Context {
	opts := &slog.HandlerOptions{Level: slog.Level(-o.Verbosity)}
	var h slog.Handler
	if o.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return logr.NewContext(ctx, logr.FromSlogHandler(h))
}
