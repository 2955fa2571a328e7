package main

import (
	"github.com/spf13/cobra"

	"github.com/seed-ddac166a/aws-secrets-injector/cli/doctor"
)

func init() { subcommands = append(subcommands, newDoctorCommand) }

func newDoctorCommand() *cobra.Command {
	opts := &doctor.Options{}
	cmd := &cobra.Command{
		Use:   "doctor pod NAMESPACE/NAME | class NAMESPACE/NAME | namespace NAME",
		Short: "Explain why a pod has its secrets or not, one step per line (reads metadata only, never a secret)",
		Long: `A kubeconfig client. doctor pod walks the path of a pod's secrets: the pod, its annotations or
CSI volume, the namespace's opt-in label, the webhook's mutation, the SecretProviderClass and
its warnings, the ServiceAccount's identity, the mounter's status of the volume on the pod's
node (through the API server's pods/proxy) or the init container's state, and the pod's
warning Events. Each step is ✓ or ✗ with the fix. doctor class lists the pods that use a
class; doctor namespace says whether the webhook serves it and which pods it missed.

It reads pods, namespaces, ServiceAccounts, SecretProviderClasses and Events, and gets
pods/proxy of the mounter pods: never a Secret, never a secret value.

Exit codes: 0 every step ✓, 1 any ✗, 2 usage error or no cluster.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return doctor.Run(cmd.Context(), opts, args, cmd.OutOrStdout())
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}
