package main

import (
	"fmt"
	"time"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/hostlist"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
)

// powerFlags are the flags of `gitboot power`.
type powerFlags struct {
	repo, ref, server, creds string
	vars, tags               []string
	all, asJSON              bool
	parallel                 int
	timeout                  time.Duration
}

func newPowerCmd() *cobra.Command {
	var f powerFlags
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
			action, err := power.ParseAction(args[0])
			if err != nil {
				return err
			}
			names, err := hostlist.ExpandArgs(args[1:])
			if err != nil {
				return err
			}
			return f.run(cmd, action, names)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", ".", "git repository (a path) whose --ref declares the nodes (without --server)")
	fl.StringVar(&f.ref, "ref", "main", "branch, tag or commit to read (without --server)")
	fl.StringVar(&f.server, "server", "", "URL of a running gitboot serve (its admin listener) to do the work")
	fl.StringVar(&f.creds, "bmc-credentials", "", "BMC credentials file (HCL credentials blocks; without --server)")
	fl.StringArrayVar(&f.vars, "var", nil, "set an input variable: --var name=value (repeatable)")
	fl.StringArrayVar(&f.tags, "tag", nil, "select nodes with tag KEY=VALUE (repeatable: all must match)")
	fl.BoolVar(&f.all, "all", false, "select every node with a bmc block")
	fl.BoolVar(&f.asJSON, "json", false, "print the results as JSON")
	fl.IntVar(&f.parallel, "parallel", power.DefaultParallel, "BMCs to talk to at once")
	fl.DurationVar(&f.timeout, "timeout", power.DefaultTimeout, "time allowed per BMC")
	return cmd
}

// run selects the nodes, runs the action (here or on --server) and prints
// the results.
func (f *powerFlags) run(cmd *cobra.Command, action power.Action, names []string) error {
	tags, err := power.ParseTags(f.tags)
	if err != nil {
		return err
	}
	if f.parallel < 1 || f.parallel > power.MaxParallel {
		return fmt.Errorf("--parallel %d: must be 1 to %d", f.parallel, power.MaxParallel)
	}
	if f.timeout <= 0 || f.timeout > power.MaxTimeout {
		return fmt.Errorf("--timeout %s: must be positive and at most %s", f.timeout, power.MaxTimeout)
	}
	sel := power.Selection{Names: names, All: f.all, Tags: tags}
	if sel.Empty() {
		return fmt.Errorf("power %s: name nodes, or give --all or --tag KEY=VALUE", action)
	}
	ctx := contextOf(cmd)
	var results []power.Result
	if f.server != "" {
		if f.creds != "" {
			return fmt.Errorf("--bmc-credentials is read by the server with --server; give it to `gitboot serve`")
		}
		tok, err := adminToken()
		if err != nil {
			return err
		}
		results, err = power.RunRemote(ctx, f.server, tok, power.Request{Action: action, Nodes: names, All: f.all, Tags: tags,
			Parallel: f.parallel, Timeout: power.Duration(f.timeout)})
		if err != nil {
			return err
		}
	} else {
		targets, err := f.localTargets(cmd, sel)
		if err != nil {
			return err
		}
		results = power.Run(ctx, targets, action, power.Options{Parallel: f.parallel, Timeout: f.timeout})
	}
	w := cmd.OutOrStdout()
	if f.asJSON {
		err = power.WriteJSON(w, action, results)
	} else {
		err = power.WriteTable(w, results)
	}
	if err != nil {
		return err
	}
	if power.Failed(results) > 0 {
		return exitError{Code: 1}
	}
	return nil
}

// localTargets reads the cluster of --ref and the credentials file.
func (f *powerFlags) localTargets(cmd *cobra.Command, sel power.Selection) ([]power.Target, error) {
	if f.creds == "" {
		return nil, fmt.Errorf("--bmc-credentials FILE is needed without --server (the BMCs' user names and passwords)")
	}
	creds, diags := power.LoadCredentials(f.creds)
	if len(diags) > 0 {
		writeDiagnostics(cmd.ErrOrStderr(), credFiles(f.creds), diags)
	}
	if diags.HasErrors() {
		return nil, exitError{Code: 1}
	}
	c, err := loadCluster(cmd, f.repo, f.ref, f.vars)
	if err != nil {
		return nil, err
	}
	return power.Select(c, creds, sel)
}

// loadCluster loads ref of repo; an invalid commit prints its diagnostics.
func loadCluster(cmd *cobra.Command, repo, ref string, vars []string) (*hclspec.Cluster, error) {
	opts, err := loadOptions(".", vars)
	if err != nil {
		return nil, err
	}
	src, err := gitsrc.Open(repo)
	if err != nil {
		return nil, err
	}
	commit, err := src.Resolve(ref)
	if err != nil {
		return nil, err
	}
	c, diags := hclspec.LoadContext(contextOf(cmd), commit.FS, opts)
	if diags.HasErrors() {
		fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: commit %s of %s is invalid.\n\n", commit.Short(), repo)
		writeDiagnostics(cmd.ErrOrStderr(), opts.Parser.Files(), diags)
		return nil, exitError{Code: 1}
	}
	return c, nil
}

// credFiles gives writeDiagnostics the credentials file's source for its
// snippets, except the lines holding passwords.
func credFiles(path string) map[string]*hcl.File { return power.CredentialSources(path) }
