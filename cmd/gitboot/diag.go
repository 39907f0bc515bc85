package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/reconcile"
	"github.com/hashicorp/hcl/v2"
)

// writeDiagnostics prints diagnostics the way terraform does (diagfmt.Write).
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	diagfmt.Write(w, files, diags)
}

// configErr prints a *reconcile.ConfigError's diagnostics on w, after a
// line "commit C of REPO is invalid" and why (".", ": because.") when it is not
// empty, and turns it into exit status 1; other errors are returned.
func configErr(w io.Writer, err error, repo, why string) error {
	var ce *reconcile.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	if why != "" {
		fmt.Fprintf(w, "gitboot: commit %s of %s is invalid%s\n\n", ce.Commit, repo, why)
	}
	writeDiagnostics(w, ce.Files, ce.Diags)
	return exitError{Code: 1}
}
