// Command aws-secrets-injector is the operator CLI, with every subcommand:
// the tools for humans (fetch, validate, certs, version) and the roles
// (webhook, mounter, inject), so existing charts, docs and containers keep
// working. In the image the roles also have lean binaries of their own
// (cmd/asi-inject, cmd/asi-mounter, cmd/asi-webhook) that link only what
// their role uses; the chart and the webhook run those.
//
// This file only wires the root command, logging, signals and exit codes
// (cmd/internal/app); every subcommand lives in its own file and calls Run in
// the package that owns the work.
package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/cmd/internal/app"
)

// subcommands is filled by the init functions of the files beside this one, so
// adding a subcommand touches only its own file.
var subcommands []func() *cobra.Command

func main() {
	app.Main(func(ctx context.Context) error { return newRootCommand().ExecuteContext(ctx) })
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           app.FullCLI,
		Short:         "Deliver AWS Secrets Manager and SSM Parameter Store values into Kubernetes pods as files",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	logOpts := &app.LogOptions{}
	logOpts.AddFlags(root.PersistentFlags())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := logOpts.Validate(); err != nil {
			return err
		}
		cmd.SetContext(logOpts.Into(cmd.Context(), cmd.ErrOrStderr()))
		return nil
	}
	for _, newCmd := range subcommands {
		root.AddCommand(newCmd())
	}
	return root
}
