package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/cli/fetch"
)

func init() { subcommands = append(subcommands, newFetchCommand) }

func newFetchCommand() *cobra.Command {
	opts := &fetch.Options{}
	cmd := &cobra.Command{
		Use:   "fetch --spc FILE [--out DIR | --list]",
		Short: "Fetch a SecretProviderClass's secrets with the local AWS credentials and write or list the files",
		Long: `Reads a SecretProviderClass manifest (as you kubectl apply it), fetches its objects with the
default AWS credential chain (environment, profile, IRSA environment, instance metadata;
AWS_ENDPOINT_URL is honoured) and writes the files exactly as a pod would see them into --out,
or lists their names, sizes and modes (never the values). Nothing is written when any object fails.`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			return opts.Validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Out = cmd.OutOrStdout()
			return fetch.Run(cmd.Context(), opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
