package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/cli/validate"
)

func init() { subcommands = append(subcommands, newValidateCommand) }

func newValidateCommand() *cobra.Command {
	opts := &validate.Options{}
	cmd := &cobra.Command{
		Use:   "validate [FILE|DIR|-]...",
		Short: "Check SecretProviderClass manifests offline: no AWS call, no cluster",
		Long: `Check every SecretProviderClass (provider aws) in the given manifests with the same
validation the mounter, webhook and injector use, and list the files each produces or
every error found. Directories are searched recursively for *.yaml, *.yml and *.json;
"-" reads stdin; other kinds and providers are skipped.

Exit codes: 0 all valid, 1 any invalid (or any warning with --strict), 2 usage error
or unreadable input.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			opts.Stdin = cmd.InOrStdin()
			return validate.Run(cmd.Context(), opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return validate.UsageError(err) })
	return cmd
}
