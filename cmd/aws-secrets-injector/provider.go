package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/provider"
)

func init() { subcommands = append(subcommands, newProviderCommand) }

func newProviderCommand() *cobra.Command {
	opts := provider.NewOptions()
	cmd := &cobra.Command{
		Use:   "provider",
		Short: "Serve the Secrets Store CSI driver's provider API on <providers dir>/aws.sock: a drop-in for AWS's provider (DaemonSet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return provider.Run(cmd.Context(), opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
