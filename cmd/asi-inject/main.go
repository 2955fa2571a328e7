// Command asi-inject is the in-pod injector alone (`aws-secrets-injector
// inject` and its --check startup probe), for the init container or native
// sidecar the webhook adds to every init-mode pod: it links the AWS SDK and the
// shared core, and no Kubernetes client, gRPC or cobra, so it starts and runs
// in a fraction of the full CLI's memory. It is the image's entrypoint.
//
// This file only wires flags, logging, signals and exit codes (cmd/internal/app);
// the work is injector.Run.
package main

import (
	"context"

	"github.com/seed-ddac166a/aws-secrets-injector/cmd/internal/app"
	"github.com/seed-ddac166a/aws-secrets-injector/injector"
	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

func main() {
	opts := &injector.Options{}
	app.RunRole(app.Role{
		Binary:   "asi-inject",
		Name:     contract.Subcommand,
		Short:    "Write a SecretProviderClass's secrets into a directory inside the pod (init container or native sidecar); --check is the sidecar's startup probe",
		AddFlags: opts.AddFlags,
		Run: func(ctx context.Context) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return injector.Run(ctx, opts)
		},
	})
}
