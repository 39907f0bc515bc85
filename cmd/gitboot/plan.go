package main

import (
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/serve/client"
	"github.com/spf13/cobra"
)

// planFlags are the flags plan and apply share.
type planFlags struct {
	repo, ref, state, server, block string
	bmcCreds                        string
	vars                            []string
	signing                         signingFlags
	roots                           rootFlags
	force                           bool // apply only: a plan of a commit off --ref

	age ageFlags
}

func (f *planFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", ".", "git repository (a path): the committed tree of --ref is planned, never the work tree")
	fl.StringVar(&f.ref, "ref", "main", "branch, tag or commit to plan")
	fl.StringVar(&f.state, "state", "/var/lib/gitboot", "state directory of the server whose running inventory is compared (when --server is not given; plan without either asks the admin listener)")
	fl.StringVar(&f.server, "server", "", "URL of a running gitboot serve: its running inventory (GET /inventory) is compared")
	fl.StringVar(&f.block, "server-block", "", "server block to plan for (default: the running one, or the only one)")
	fl.StringArrayVar(&f.vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	fl.StringVar(&f.bmcCreds, "bmc-credentials", "", "BMC credentials file: check that it defines every credentials name the nodes' bmc blocks use")
	f.signing.register(fl)
	f.roots.register(fl)
	f.age.register(fl)
}

// config is the flags' plan configuration.
func (f *planFlags) config() client.PlanConfig {
	return client.PlanConfig{Repo: f.repo, Ref: f.ref, State: f.state, Server: f.server, Block: f.block, Vars: f.vars,
		BMCCredentials: f.bmcCreds, Require: f.signing.require, KeysFile: f.signing.keys, Roots: f.roots.roots, Force: f.force,
		AgeIdentities: f.age.files}
}

func newPlanCmd() *cobra.Command {
	var f planFlags
	var o client.PlanOutput
	cmd := &cobra.Command{
		Use:   "plan [--repo R] [--ref REF] [--state DIR | --server URL] [--out FILE] [--json] [--detailed-exitcode]",
		Short: "Show what applying a commit would change in the running state",
		Long: "Plan compares the desired state of a commit (the HCL model, every overlay file and template,\n" +
			"file() inputs and each image's content) with the running inventory of a server (its state\n" +
			"directory, or GET /inventory of a running server with --server) and prints the difference:\n" +
			"+ create, ~ update, - destroy, -/+ replace, the nodes that need a reboot, and a summary.\n" +
			"An image whose source is not readable here shows (known after apply). Nothing is changed.\n" +
			"--out saves the plan for `gitboot apply FILE`, bound to the commit and the running state.\n" +
			"Exit status: 0 success; with --detailed-exitcode 0 no changes, 1 error, 2 changes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.server = planServer(cmd, f)
			p, err := client.MakePlan(cmd.Context(), cmd.ErrOrStderr(), f.config())
			if err != nil {
				return err
			}
			return o.Write(cmd.OutOrStdout(), p)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.Lookup("server").Usage = "URL of a running gitboot serve's admin listener: its running inventory (GET /inventory) is compared (default " +
		defaultServerURL + " unless --state is given)"
	fl.StringVar(&o.Out, "out", "", "save the plan to FILE (for gitboot apply FILE)")
	fl.BoolVar(&o.JSON, "json", false, "print the plan as JSON (format_version "+reconcile.PlanFormatVersion+", see README)")
	fl.BoolVar(&o.Detailed, "detailed-exitcode", false, "exit 0 when there are no changes, 1 on error, 2 when there are changes")
	return cmd
}

// planServer is the server plan asks: --server, else serve's admin
// listener at its default address unless --state names a state directory
// to read instead.
func planServer(cmd *cobra.Command, f planFlags) string {
	if f.server != "" || cmd.Flags().Changed("state") {
		return f.server
	}
	return defaultServerURL
}
