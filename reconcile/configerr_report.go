package reconcile

import (
	"errors"
	"fmt"
	"io"

	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/diagfmt"
)

// ReportConfigError prints a *ConfigError's diagnostics on w, after a
// line "commit C of REPO is invalid" and why (".", ": because.") when why
// is not empty, and turns it into exit status 1; other errors are
// returned as they are.
func ReportConfigError(w io.Writer, err error, repo, why string) error {
	var ce *ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	if why != "" {
		fmt.Fprintf(w, "gitboot: commit %s of %s is invalid%s\n\n", ce.Commit, repo, why)
	}
	diagfmt.Write(w, ce.Files, ce.Diags)
	return clio.Exit{Code: 1}
}
