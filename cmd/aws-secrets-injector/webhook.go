package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/webhook"
)

func init() { subcommands = append(subcommands, newWebhookCommand) }

func newWebhookCommand() *cobra.Command {
	opts := webhook.NewOptions()
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Run the mutating admission webhook that adds secret volumes to annotated pods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return webhook.Run(cmd.Context(), opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
