// Command asi-webhook is the mutating admission webhook alone
// (`aws-secrets-injector webhook`), for the chart's Deployment: it links what
// the webhook uses and not the mounter, the AWS fetch path, the operator tools
// or cobra.
//
// This file only wires flags, logging, signals and exit codes (cmd/internal/app);
// the work is webhook.Run.
package main

import (
	"context"

	"github.com/seed-ddac166a/aws-secrets-injector/cmd/internal/app"
	"github.com/seed-ddac166a/aws-secrets-injector/webhook"
)

func main() {
	opts := webhook.NewOptions()
	opts.Settled = app.Settled
	app.RunRole(app.Role{
		Binary:      "asi-webhook",
		Name:        "webhook",
		Short:       "Run the mutating admission webhook that adds secret volumes to annotated pods",
		LongRunning: true,
		AddFlags:    opts.AddFlags,
		Run: func(ctx context.Context) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return webhook.Run(ctx, opts)
		},
	})
}
