package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/injector"
	"github.com/seed-ddac166a/aws-secrets-injector/injector/contract"
)

func init() { subcommands = append(subcommands, newInjectCommand) }

func newInjectCommand() *cobra.Command {
	opts := &injector.Options{}
	cmd := &cobra.Command{
		Use:   "inject",
		Short: "Write a SecretProviderClass's secrets into a directory inside the pod (init container or native sidecar)",
		Long: `inject runs inside the pod in init mode. It reads the SecretProviderClass parameters the webhook put in
` + contract.EnvSPC + `, fetches them with the pod's own AWS credentials and writes the files atomically
into the mount path. Without --refresh-interval it writes once and exits; with it, it keeps the files fresh
until SIGTERM. --check is the native sidecar's startup probe.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return injector.Run(cmd.Context(), opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
