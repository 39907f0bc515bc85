package client

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gitboot/gitboot/bootsvc/httpboot"
	"github.com/gitboot/gitboot/serve"
)

// TokenEnv names the environment variable that gives the admin token file
// when TokenFile is empty.
const TokenEnv = "GITBOOT_ADMIN_TOKEN_FILE"

// TokenFile is the file holding the admin listener's bearer token, sent
// with every request of this package's clients ("": $GITBOOT_ADMIN_TOKEN_FILE,
// else no token). cmd/gitboot sets it from --admin-token-file.
var TokenFile string

// DefaultURL is where the clients look without --server: serve's admin
// listener at its default address.
const DefaultURL = "http://" + serve.DefaultListenAdmin

// ReadToken reads an admin token file: one line of at least
// httpboot.MinAdminTokenLen characters without spaces.
func ReadToken(path string) (string, error) {
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

// Token is the configured admin token ("" when no file is given).
func Token() (string, error) {
	path := TokenFile
	if path == "" {
		path = os.Getenv(TokenEnv)
	}
	if path == "" {
		return "", nil
	}
	return ReadToken(path)
}

// authTransport adds the admin token, if one is configured, to every
// request it carries.
type authTransport struct{}

func (authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := Token()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if tok != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// HTTP is the client of the short requests (status, rollout): 10 s each,
// with the admin token.
var HTTP = &http.Client{Timeout: 10 * time.Second, Transport: authTransport{}}

// Long is the client of the requests bounded by their context (inventory,
// check-path, apply, the post-receive poke), with the admin token.
var Long = &http.Client{Transport: authTransport{}}

// Hint explains an admin listener's answer that suggests the wrong port
// or a missing token ("" for other codes).
func Hint(code int) string {
	switch code {
	case http.StatusNotFound:
		return " (the boot port serves no operator route: --server is serve's admin listener, --listen-admin, default " + DefaultURL + ")"
	case http.StatusUnauthorized:
		return " (the admin listener wants its token: --admin-token-file FILE or $" + TokenEnv + ")"
	}
	return ""
}
