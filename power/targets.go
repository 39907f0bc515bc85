package power

import (
	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
)

// Selection picks nodes of a cluster: by name, all of them, or by tags
// (every given tag must match). Names and tags combine as a union of names
// and an intersection of tags: Names selects those nodes, Tags filters All
// or, with no names, the whole cluster.
type Selection struct {
	Names []string
	All   bool
	Tags  map[string]string
}

// Select returns the targets of the selected nodes, sorted by node name.
// A named node that does not exist, a selected node without a bmc block, or
// one whose credentials are not in creds is an error naming it.
func Select(c *hclspec.Cluster, creds map[string]Cred, sel Selection) ([]Target, error) {
	return nil, ErrNotImplemented
}

// LoadCredentials reads a credentials file: HCL with
// `credentials "NAME" { username = "...", password = "..." }` blocks.
func LoadCredentials(path string) (map[string]Cred, hcl.Diagnostics) {
	return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Not implemented", Detail: ErrNotImplemented.Error()}}
}

// CheckCredentials reports each node whose bmc names credentials that creds
// lacks, at the credentials attribute's range.
func CheckCredentials(c *hclspec.Cluster, creds map[string]Cred) hcl.Diagnostics {
	return nil
}
