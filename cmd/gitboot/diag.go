package main

import (
	"io"

	"github.com/gitboot/gitboot/internal/diagfmt"
	"github.com/hashicorp/hcl/v2"
)

// writeDiagnostics prints diagnostics the way terraform does (diagfmt.Write).
func writeDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	diagfmt.Write(w, files, diags)
}
