// Command asi-provider is the Secrets Store CSI driver's provider alone
// (`aws-secrets-injector provider`), for the chart's provider-mode DaemonSet:
// it links what the provider uses and not the webhook, the mounter's CSI
// server, the operator tools or cobra.
//
// This file only wires flags, logging, signals and exit codes (cmd/internal/app);
// the work is provider.Run.
package main

import (
	"context"

	"github.com/seed-ddac166a/aws-secrets-injector/cmd/internal/app"
	"github.com/seed-ddac166a/aws-secrets-injector/provider"
)

func main() {
	opts := provider.NewOptions()
	opts.Settled = app.Settled
	app.RunRole(app.Role{
		Binary:      "asi-provider",
		Name:        "provider",
		Short:       "Serve the Secrets Store CSI driver's provider API on <providers dir>/aws.sock: a drop-in for AWS's provider (DaemonSet)",
		LongRunning: true,
		AddFlags:    opts.AddFlags,
		Run: func(ctx context.Context) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return provider.Run(ctx, opts)
		},
	})
}
