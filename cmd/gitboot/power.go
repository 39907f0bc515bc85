package main

import (
	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/gitboot/gitboot/power"
	"github.com/spf13/cobra"
)

func newPowerCmd() *cobra.Command {
	c := power.Command{AdminToken: adminToken}
	cmd := &cobra.Command{
		Use:   "power on|off|cycle|reset|status [NODE...] [--all] [--tag KEY=VALUE]",
		Short: "Switch nodes on or off through their BMCs (IPMI lanplus, Redfish)",
		Long: "Power talks to the BMC each selected node's bmc block names: on, off (hard), cycle (off and on;\n" +
			"a node that is off is switched on), reset (hard reset of a running node) or status.\n" +
			"Nodes: names, --all (every node with a bmc block), --tag KEY=VALUE (repeatable; all must match).\n" +
			"With --server URL the running server does the work with its own --bmc-credentials (POST /power,\n" +
			"from the server's host only), so the credentials stay on the server. Without it, power reads\n" +
			"--ref of --repo and the credentials file --bmc-credentials itself.\n" +
			"Prints NODE POWER RESULT (or --json); exit status 1 when any node failed.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if c.Action, err = power.ParseAction(args[0]); err != nil {
				return err
			}
			if c.Names, err = hostlist.ExpandArgs(args[1:]); err != nil {
				return err
			}
			return c.Run(contextOf(cmd), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.Repo, "repo", ".", "git repository (a path) whose --ref declares the nodes (without --server)")
	fl.StringVar(&c.Ref, "ref", "main", "branch, tag or commit to read (without --server)")
	fl.StringVar(&c.Server, "server", "", "URL of a running gitboot serve (its admin listener) to do the work")
	fl.StringVar(&c.Creds, "bmc-credentials", "", "BMC credentials file (HCL credentials blocks; without --server)")
	fl.StringArrayVar(&c.Vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	fl.StringArrayVar(&c.Tags, "tag", nil, "select nodes with tag KEY=VALUE (repeatable: all must match)")
	fl.BoolVar(&c.All, "all", false, "select every node with a bmc block")
	fl.BoolVar(&c.JSON, "json", false, "print the results as JSON")
	fl.IntVar(&c.Parallel, "parallel", power.DefaultParallel, "BMCs to talk to at once")
	fl.DurationVar(&c.Timeout, "timeout", power.DefaultTimeout, "time allowed per BMC")
	return cmd
}
