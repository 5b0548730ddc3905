package main

import "github.com/spf13/cobra"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "warden",
		Short:         "Multi-team delegation policy for Contour HTTPProxy: admission, controller and xDS",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCheckCommand(), newServeCommand(), newBootstrapCommand(), newEnvoyCommand(), newXDSCommand())
	return root
}
