package hclspec

import (
	"errors"
	"text/template"
)

// addSSHKeyFuncs adds the SSH host key template functions as validation
// parses templates with them: reconcile/artifact binds the real ones
// (which read the repository's secrets/ssh/NODE/*.pub) for each build.
func addSSHKeyFuncs(m template.FuncMap) {
	unbound := errors.New("sshPublicKey: only available when the overlay is built")
	m["sshPublicKey"] = func(string, string) (string, error) { return "", unbound }
	m["sshPublicKeys"] = func(string) ([]string, error) { return nil, unbound }
}
