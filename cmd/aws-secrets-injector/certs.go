package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/certs"
)

func init() { subcommands = append(subcommands, newCertsCommand) }

func newCertsCommand() *cobra.Command {
	opts := &certs.WriteOptions{}
	cmd := &cobra.Command{
		Use:   "certs --dns-names NAME[,NAME...] --out DIR",
		Short: "Write a CA and a serving certificate for the webhook (ca.crt, tls.crt, tls.key) for manual setups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			return certs.Write(cmd.Context(), opts)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
