// Package hclfmt rewrites HCL source into gitboot's canonical layout, the
// layout `terraform fmt` produces: hclwrite's indentation, spacing and
// alignment, LF line endings, no leading blank lines and exactly one trailing
// newline. It also renders unified diffs between a file and its formatted
// form.
//
// Imported by cmd/gitboot (the `gitboot fmt` command) and by tests that
// check a repository is formatted. It never reads or writes files.
package hclfmt

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical form. filename only labels diagnostics.
// When src does not parse, Format returns nil and the parser's diagnostics
// (with ranges in src); otherwise it returns the formatted bytes and any
// warnings. Formatting changes only whitespace (and CR before LF), so the
// result means the same as src, and Format(Format(src)) == Format(src).
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	_, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	out := hclwrite.Format(toLF(src))
	out = bytes.TrimLeft(out, " \t\n")
	out = bytes.TrimRight(out, " \t\r\n")
	if len(out) == 0 {
		return []byte{}, diags
	}
	return append(out, '\n'), diags
}

// IsFormatted reports whether src parses and is already in canonical form.
func IsFormatted(src []byte, filename string) (bool, hcl.Diagnostics) {
	out, diags := Format(src, filename)
	if diags.HasErrors() {
		return false, diags
	}
	return bytes.Equal(out, src), diags
}

// toLF turns CRLF line endings into LF. It repeats until no CRLF is left, so
// "\r\r\n" does not become a new "\r\n" that a second pass would change.
func toLF(src []byte) []byte {
	for bytes.Contains(src, []byte("\r\n")) {
		src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	}
	return src
}
