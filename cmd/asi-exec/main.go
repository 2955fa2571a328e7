// Command asi-exec is the exec wrapper alone (`aws-secrets-injector exec`),
// the binary the webhook copies into every pod that asks for exec: it links
// the wrapper and the shared core (the AWS SDK for --spc), and no Kubernetes
// client, gRPC or cobra, so each wrapped pod copies and runs a fifth of the
// full CLI. The copy init container runs `/asi-exec exec --install DIR`; the
// app container runs `DIR/asi-exec exec -- CMD ARGS...`.
//
// This file only wires flags, logging, signals and exit codes (cmd/internal/app);
// the work is envexec.Run.
package main

import (
	"context"

	"github.com/seed-ddac166a/aws-secrets-injector/cmd/internal/app"
	"github.com/seed-ddac166a/aws-secrets-injector/envexec"
	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
)

func main() {
	opts := &envexec.Options{}
	app.RunRole(app.Role{
		Binary:      "asi-exec",
		Name:        contract.Subcommand,
		Short:       "Run a command with one environment variable per secret file (exec CMD ARGS... after --); --install copies this binary into a directory",
		LongRunning: true,
		AddFlags:    opts.AddFlags,
		SetArgs:     func(args []string) { opts.Argv = args },
		Run: func(ctx context.Context) error {
			if err := opts.Validate(); err != nil {
				return &envexec.ExitError{Code: envexec.ExitSetup, Err: err}
			}
			return envexec.Run(ctx, opts)
		},
	})
}
