package main

import (
	"fmt"
	"io"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/power"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// checkPlanCredentials is plan's (and apply's) credentials check of ref:
// with --bmc-credentials the commit is loaded and each unknown name is an
// error naming its nodes; without it, a note that nothing was checked when
// the plan's nodes name any.
func checkPlanCredentials(stderr io.Writer, f planFlags, desired *reconcile.Inventory) error {
	if f.bmcCreds == "" {
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
	opts, err := loadOptions(".", f.vars)
	if err != nil {
		return err
	}
	src, err := gitsrc.Open(f.repo)
	if err != nil {
		return err
	}
	commit, err := src.Resolve(f.ref)
	if err != nil {
		return err
	}
	c, diags := hclspec.Load(commit.FS, opts)
	if diags.HasErrors() {
		return fmt.Errorf("loading %s again to check BMC credentials: %s", f.ref, diags.Error())
	}
	diags = power.CheckCredentialsFile(c, f.bmcCreds)
	if len(diags) == 0 {
		return nil
	}
	files := opts.Parser.Files()
	for k, v := range credFiles(f.bmcCreds) {
		files[k] = v
	}
	writeDiagnostics(stderr, files, diags)
	if diags.HasErrors() {
		return exitError{1}
	}
	return nil
}
