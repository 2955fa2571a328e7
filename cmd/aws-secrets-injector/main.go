// Command aws-secrets-injector is the one binary of the project: the admission
// webhook, the CSI node mounter, the in-pod injector and the operator tools
// (fetch, validate, certs, version) are its subcommands.
//
// This file only wires the root command, logging, signals and exit codes; every
// subcommand lives in its own file and calls Run in the package that owns the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// subcommands is filled by the init functions of the files beside this one, so
// adding a subcommand touches only its own file.
var subcommands []func() *cobra.Command

// exitCoder lets a subcommand choose its exit code (validate uses 1 and 2).
type exitCoder interface{ ExitCode() int }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ec exitCoder
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, "error:", msg)
	}
	os.Exit(code)
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "aws-secrets-injector",
		Short:         "Deliver AWS Secrets Manager and SSM Parameter Store values into Kubernetes pods as files",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	logOpts := &logOptions{}
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
