package reconcile

import (
	"fmt"
	"io"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/power"
	"github.com/hashicorp/hcl/v2"
)

// ValidateCommand is `gitboot validate`: CheckTree on a directory, the
// diagnostics printed as text or JSON.
type ValidateCommand struct {
	Dir  string
	Vars []string // --var name=value
	// Roots are the allowed server directories; nil: server paths are
	// not checked.
	Roots          func() (hclspec.Roots, error)
	BMCCredentials string // check the bmc blocks' credentials names against this file
	JSON           bool
}

// Run checks the directory and prints the result; exit status 1 when
// it is invalid.
func (v ValidateCommand) Run(out, errOut io.Writer) error {
	opts, err := hclspec.OptionsFor(v.Dir, v.Vars)
	if err != nil {
		return err
	}
	fsys, closeFS, err := hclspec.OpenDir(v.Dir)
	if err != nil {
		return err
	}
	defer closeFS()
	var pc hclspec.PathChecker
	if v.Roots != nil {
		r, err := v.Roots()
		if err != nil {
			return err
		}
		pc = r
	}
	diags := CheckTree(fsys, opts, pc, func(c *hclspec.Cluster) hcl.Diagnostics {
		return power.CheckCredentialsFile(c, v.BMCCredentials)
	})
	files := diagfmt.WithSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags)
	if cf := power.CredentialSources(v.BMCCredentials); cf != nil && files != nil {
		for k, f := range cf {
			files[k] = f
		}
	}
	if v.JSON {
		if err := clio.WriteJSON(out, diagfmt.JSON(files, diags)); err != nil {
			return err
		}
	} else {
		diagfmt.Write(errOut, files, diags)
		if !diags.HasErrors() {
			fmt.Fprintf(out, "Success! The configuration in %s is valid.\n", v.Dir)
		}
	}
	if diags.HasErrors() {
		return clio.Exit{Code: 1}
	}
	return nil
}
