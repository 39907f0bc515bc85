package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/gitboot/gitboot/internal/overlaysig"
)

// What the agent trusts, from its system overlay (reconcile/artifact puts
// them there, next to the agent: artifact.CAPath, artifact.OverlayKeyPath).
const (
	caFile         = "usr/lib/gitboot/ca.pem"      // the server's CA, pinned: no system roots
	overlayKeyFile = "usr/lib/gitboot/overlay.pub" // checks every runtime overlay's signature
)

// defaultHTTPSPort is the server block's https_port default
// (hclspec.DefaultHTTPSPort), used when only the boot server's plain URL
// is known.
const defaultHTTPSPort = "9874"

// trust is what the agent checks the server and its overlays with.
type trust struct {
	roots *x509.CertPool    // the pinned CA; nil for --once --from
	key   ed25519.PublicKey // the overlay key
}

// loadTrust reads the pinned CA (unless needCA is false: --once --from
// talks to no server) and the overlay key. Without them the agent does
// nothing: it never falls back to plain HTTP or unsigned overlays.
func loadTrust(cfg *config, needCA bool) (*trust, error) {
	t := &trust{}
	data, err := os.ReadFile(cfg.keyFile)
	if err != nil {
		return nil, fmt.Errorf("the overlay signing key (the system overlay has it as /%s): %w", overlayKeyFile, err)
	}
	if t.key, err = overlaysig.ParsePublicKey(data); err != nil {
		return nil, fmt.Errorf("the overlay signing key %s: %w", cfg.keyFile, err)
	}
	if !needCA {
		return t, nil
	}
	data, err = os.ReadFile(cfg.caFile)
	if err != nil {
		return nil, fmt.Errorf("the server's CA certificate to pin (the system overlay has it as /%s): %w", caFile, err)
	}
	t.roots = x509.NewCertPool()
	if !t.roots.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("the server's CA certificate %s: no PEM certificate in it", cfg.caFile)
	}
	return t, nil
}

// agentBase returns the HTTPS base URL the agent talks to: --agent-url
// (or gitboot.agent= on the kernel command line) when given, else --server
// when it is https://, else --server's host at the default https_port.
// Anything but https:// is an error: the agent talks HTTPS only.
func agentBase(agentURL, server string) (string, error) {
	if agentURL == "" {
		u, err := url.Parse(server)
		if err != nil {
			return "", fmt.Errorf("--server %q: %w", server, err)
		}
		if u.Scheme == "https" {
			agentURL = server
		} else {
			agentURL = "https://" + net.JoinHostPort(u.Hostname(), defaultHTTPSPort)
		}
	}
	u, err := url.Parse(agentURL)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--agent-url %q: not a URL like https://10.99.0.1:9874", agentURL)
	}
	if u.Scheme != "https" {
		return "", errors.New("--agent-url " + agentURL + ": the agent talks HTTPS only (the server's https_port, e.g. https://10.99.0.1:9874)")
	}
	return strings.TrimSuffix(agentURL, "/"), nil
}

// trustPath is flag's value, or name under root when it is "".
func trustPath(flag, root, name string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(root, filepath.FromSlash(name))
}

// checkSignature refuses (a *refusal) an overlay whose signature sig is
// missing or not the server's for this node and these bytes.
func (a *agent) checkSignature(data []byte, sig string) error {
	if err := overlaysig.Verify(a.trust.key, a.cfg.mac, data, sig); err != nil {
		return &refusal{name: "(the whole overlay)", why: err.Error()}
	}
	return nil
}
