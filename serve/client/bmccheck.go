package client

import (
	"fmt"
	"io"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// checkPlanCredentials is plan's (and apply's) credentials check of
// c.Ref: with c.BMCCredentials the commit is loaded and each unknown name
// is an error naming its nodes; without it, a note that nothing was
// checked when the plan's nodes name any.
func checkPlanCredentials(stderr io.Writer, c PlanConfig, desired *reconcile.Inventory) error {
	if c.BMCCredentials == "" {
		if desired != nil {
			for _, n := range desired.Nodes {
				if n.BMC != nil && n.BMC.Credentials != "" {
					fmt.Fprintln(stderr, "gitboot: BMC credentials names not checked: give --bmc-credentials FILE to check them.")
					return nil
				}
			}
		}
		return nil
	}
	opts, err := hclspec.OptionsFor(".", c.Vars)
	if err != nil {
		return err
	}
	src, err := gitsrc.Open(c.Repo)
	if err != nil {
		return err
	}
	commit, err := src.Resolve(c.Ref)
	if err != nil {
		return err
	}
	cl, diags := hclspec.Load(commit.FS, opts)
	if diags.HasErrors() {
		return fmt.Errorf("loading %s again to check BMC credentials: %s", c.Ref, diags.Error())
	}
	diags = power.CheckCredentialsFile(cl, c.BMCCredentials)
	if len(diags) == 0 {
		return nil
	}
	files := opts.Parser.Files()
	for k, v := range power.CredentialSources(c.BMCCredentials) {
		files[k] = v
	}
	diagfmt.Write(stderr, files, diags)
	if diags.HasErrors() {
		return clio.Exit{Code: 1}
	}
	return nil
}
