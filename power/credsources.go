package power

import (
	"os"
	"strings"

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
