package wwimport

import (
	"fmt"
	"io"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/clio"
	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/gitboot/gitboot/reconcile/artifact"
)

// Command is `gitboot import warewulf`: Run, what was imported said on
// out, then the result validated like `gitboot validate` (its
// diagnostics on errOut; exit status 1 when it does not validate).
func Command(out, errOut io.Writer, cfg Config) error {
	rep, err := Run(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Imported %d nodes (%d for_each blocks) and %d profiles into %s; %d files changed.\n",
		rep.Nodes, rep.ForEach, rep.Profiles, cfg.Out, len(rep.Written))
	if rep.Credentials != "" {
		fmt.Fprintf(out, "BMC credentials: %s (keep it on the server: gitboot serve --bmc-credentials).\n", rep.Credentials)
	}
	fmt.Fprintf(out, "MIGRATION.md lists %d things not mapped.\n", rep.Unmapped)
	opts, err := hclspec.OptionsFor(cfg.Out, nil)
	if err != nil {
		return err
	}
	fsys, closeFS, err := hclspec.OpenDir(cfg.Out)
	if err != nil {
		return err
	}
	defer closeFS()
	c, diags := hclspec.Load(fsys, opts)
	if !diags.HasErrors() {
		diags = append(diags, artifact.Check(c, "")...)
	}
	diagfmt.Write(errOut, diagfmt.WithSources(fsys, opts.FilePrefix, opts.Parser.Files(), diags), diags)
	if diags.HasErrors() {
		fmt.Fprintf(errOut, "gitboot import warewulf: the repository in %s does not validate; fix the errors above (MIGRATION.md may say why).\n", cfg.Out)
		return clio.Exit{Code: 1}
	}
	return nil
}
