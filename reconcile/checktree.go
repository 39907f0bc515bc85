package reconcile

import (
	"io/fs"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/reconcile/artifact"
	"github.com/hashicorp/hcl/v2"
)

// CheckTree validates a repository tree (gitboot validate, the
// pre-receive hook) as the server would, step by step, stopping at the
// first step with errors: load and validate; the server paths against
// roots (nil: not checked; nothing outside them is read); extra (the BMC
// credentials file; nil: none); what the server's build would refuse
// (.age files that are not well-formed age files, overlays that do not
// load, templates that fail for some node).
func CheckTree(fsys fs.FS, opts hclspec.Options, roots hclspec.PathChecker, extra func(*hclspec.Cluster) hcl.Diagnostics) hcl.Diagnostics {
	c, diags := hclspec.Load(fsys, opts)
	if !diags.HasErrors() && roots != nil {
		diags = append(diags, hclspec.CheckRoots(c, nil, roots)...)
	}
	if !diags.HasErrors() && extra != nil {
		diags = append(diags, extra(c)...)
	}
	if !diags.HasErrors() {
		diags = append(diags, artifact.CheckSecretFiles(c)...)
	}
	if !diags.HasErrors() {
		diags = append(diags, artifact.Check(c, "")...)
	}
	return diags
}
