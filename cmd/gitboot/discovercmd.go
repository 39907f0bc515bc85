package main

import (
	"github.com/gitboot/gitboot/internal/discover"
	"github.com/gitboot/gitboot/internal/nodeblock"
	"github.com/spf13/cobra"
)

func newDiscoverCmd() *cobra.Command {
	var o discover.Command
	cmd := &cobra.Command{
		Use:   "discover [--server URL | --macs FILE] [--network NAME] [--profile NAME] [--name-format n%03d] [--write FILE]",
		Short: "Propose node blocks for unknown MACs: discovery through git",
		Long: "Take the MACs a running server has seen but no node declares (GET /status), or the MACs\n" +
			"of a vendor file in rack order (--macs FILE: one MAC a line, the first field of each\n" +
			"line; '#' comments and blank lines skipped), and propose one node block each: a name\n" +
			"from --name-format, the next free address of the network outside its dynamic range\n" +
			"and away from every declared node, gateway, DNS server and server address, and the\n" +
			"profile, in `gitboot fmt` style. They are printed, or with --write FILE appended to FILE\n" +
			"(an .hcl file in a working tree of the cluster repository, whose declarations are then\n" +
			"what the proposal avoids): review, commit and push. Nothing changes behind git's back.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.Run(contextOf(cmd), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", defaultServerURL, "base URL of the gitboot server (its unknown MACs, and without --write its inventory)")
	f.StringVar(&o.Network, "network", "", "the network the new nodes join (default: where the first MAC was seen, else the only or first network)")
	f.StringVar(&o.Profile, "profile", "", "the profile the new nodes list (default: compute when declared, else the only profile)")
	f.StringVar(&o.NameFormat, "name-format", nodeblock.DefaultNameFormat, "node names: a format with one integer verb, numbered from 1, skipping declared names")
	f.StringVar(&o.Write, "write", "", "append the blocks to this .hcl file of a working tree instead of printing them")
	f.StringVar(&o.MACs, "macs", "", "read the MACs from this vendor file, in its order, instead of the server's unknown MACs")
	f.StringArrayVar(&o.Vars, "var", nil, "with --write: set an input variable of the repository: --var name=value (repeatable)")
	return cmd
}
