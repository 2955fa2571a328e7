package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/envexec"
	"github.com/seed-ddac166a/aws-secrets-injector/envexec/contract"
)

func init() { subcommands = append(subcommands, newExecCommand) }

func newExecCommand() *cobra.Command {
	opts := &envexec.Options{}
	cmd := &cobra.Command{
		Use:   "exec [--env-from DIR | --spc FILE] [--env FILE=NAME]... [--on-change none|restart|signal:NAME] -- CMD [ARGS...]",
		Short: "Run a command with one environment variable per secret file; signal or restart it when the files change",
		Long: `exec reads the file set from a directory (the secrets mount: --env-from or $` + contract.EnvEnvFrom + `),
or fetches a SecretProviderClass with this process's own AWS identity (--spc FILE or the parameters in
$AWS_SECRETS_INJECTOR_SPC), sets one variable per file (db-user -> DB_USER; --env maps names explicitly)
and execs the command: its PID, signals, descriptors and exit code are the command's own. With
--on-change signal:NAME or restart it stays the command's parent instead, forwards every signal,
and signals or restarts it once per real change of the set. Values appear in the command's
environment only, never in an argument, a log line or an error.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Argv = args
			if err := opts.Validate(); err != nil {
				return &envexec.ExitError{Code: envexec.ExitSetup, Err: err}
			}
			return envexec.Run(cmd.Context(), opts)
		},
	}
	// The command's own flags belong to it: parsing stops at the first argument.
	cmd.Flags().SetInterspersed(false)
	opts.AddFlags(cmd.Flags())
	return cmd
}
