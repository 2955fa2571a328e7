// Command asi-mounter is the CSI node plugin alone (`aws-secrets-injector
// mounter`), for the chart's DaemonSet: it links what the mounter uses and not
// the webhook, the operator tools or cobra.
//
// This file only wires flags, logging, signals and exit codes (cmd/internal/app);
// the work is mounter.Run.
package main

import (
	"context"

	"github.com/seed-ddac166a/aws-secrets-injector/cmd/internal/app"
	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
)

func main() {
	opts := mounter.NewOptions()
	opts.Settled = app.Settled
	app.RunRole(app.Role{
		Binary:      "asi-mounter",
		Name:        "mounter",
		Short:       "Run the CSI node plugin that mounts a pod's AWS secrets on tmpfs (DaemonSet, privileged)",
		LongRunning: true,
		AddFlags:    opts.AddFlags,
		Run: func(ctx context.Context) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return mounter.Run(ctx, opts)
		},
	})
}
