package power

import (
	"os"
	"strings"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// CredentialSources gives diagnostics of the credentials file at path
// its source for their snippets, with the lines holding passwords blanked.
func CredentialSources(path string) map[string]*hcl.File {
	src, err := os.ReadFile(path)
	if err != nil || len(src) > MaxCredentialsFile {
		return nil
	}
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		if strings.Contains(l, "password") {
			lines[i] = strings.Repeat(" ", len(l))
		}
	}
	f, _ := hclparse.NewParser().ParseHCL([]byte(strings.Join(lines, "\n")), path)
	if f == nil {
		return nil
	}
	return map[string]*hcl.File{path: f}
}

// CheckCredentialsFile checks the credentials names of c's bmc blocks
// against the credentials file at path. Without a file it returns a
// warning that they were not checked (when any node names credentials).
func CheckCredentialsFile(c *hclspec.Cluster, path string) hcl.Diagnostics {
	if path == "" {
		for _, n := range c.Nodes {
			if n.BMC != nil && n.BMC.Credentials != "" {
				return hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "BMC credentials not checked",
					Detail: "Nodes name BMC credentials; give --bmc-credentials FILE (the server's credentials file) to check that it defines them."}}
			}
		}
		return nil
	}
	creds, diags := LoadCredentials(path)
	if diags.HasErrors() {
		return diags
	}
	return append(diags, CheckCredentials(c, creds)...)
}
