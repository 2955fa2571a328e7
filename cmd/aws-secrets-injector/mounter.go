package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/mounter"
)

func init() { subcommands = append(subcommands, newMounterCommand) }

func newMounterCommand() *cobra.Command {
	opts := mounter.NewOptions()
	cmd := &cobra.Command{
		Use:   "mounter",
		Short: "Run the CSI node plugin that mounts a pod's AWS secrets on tmpfs (DaemonSet, privileged)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return mounter.Run(cmd.Context(), opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
