package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/spf13/cobra"
)

// adminTokenEnv names the environment variable that gives the admin token
// file when --admin-token-file is not set.
const adminTokenEnv = "GITBOOT_ADMIN_TOKEN_FILE"

// adminTokenFile is the --admin-token-file flag of every command: serve
// requires the token on its admin listener, the clients (status, plan,
// apply, discover, rollout, power, hooks poke) send it.
var adminTokenFile string

// addAdminTokenFlag registers --admin-token-file on root for every
// command.
func addAdminTokenFlag(root *cobra.Command) {
	root.PersistentFlags().StringVar(&adminTokenFile, "admin-token-file", "",
		"file holding the admin listener's bearer token (one line, at least 16 characters): serve requires it on --listen-admin, "+
			"the clients send it (default: $"+adminTokenEnv+")")
}

// adminToken reads the admin token: "" when no file is given.
func adminToken() (string, error) {
	path := adminTokenFile
	if path == "" {
		path = os.Getenv(adminTokenEnv)
	}
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < httpboot.MinAdminTokenLen || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("--admin-token-file %s: want one line of at least %d characters without spaces (e.g. openssl rand -hex 32 > %s)",
			path, httpboot.MinAdminTokenLen, path)
	}
	return tok, nil
}

// authorize adds the admin token, if one is configured, to a request for
// the admin listener.
func authorize(req *http.Request) error {
	tok, err := adminToken()
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// adminHint explains an answer of the admin listener's routes that
// suggests the wrong port or a missing token ("" for other codes).
func adminHint(code int) string {
	switch code {
	case http.StatusNotFound:
		return " (the boot port serves no operator route: --server is serve's admin listener, --listen-admin, default " + defaultServerURL + ")"
	case http.StatusUnauthorized:
		return " (the admin listener wants its token: --admin-token-file FILE or $" + adminTokenEnv + ")"
	}
	return ""
}
