// Command ecap is the single ECAP binary: the operator manager, the runtime
// data plane and the tools around them, selected by subcommand.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ecap",
		Short:         "ECAP: Kubernetes-native e-commerce analytics",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newManagerCommand())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands are registered by the files of other subcommands, so that
// each subcommand lives in its own file.
var extraCommands []func() *cobra.Command
