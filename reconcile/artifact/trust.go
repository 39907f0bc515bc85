package artifact

// Where every system overlay has what the agent trusts, next to the agent
// (cmd/gitboot-agent reads them there).
const (
	// CAPath is the server's CA certificate (PEM): the agent pins it for
	// HTTPS and trusts no other.
	CAPath = "usr/lib/gitboot/ca.pem"
	// OverlayKeyPath is the runtime overlay signing key's public half
	// (PEM): the agent applies only overlays it signed.
	OverlayKeyPath = "usr/lib/gitboot/overlay.pub"
)

// Trust is what the server hands every node in its system overlay so the
// agent can tell the server from a neighbour: the CA to pin and the
// overlay key (internal/tlsca keeps both in the state directory). Both
// are part of every system overlay's input key and of AgentDigest, so a
// new CA or key is a change of desired state: rebuilt overlays, nodes
// marked as needing a reboot.
type Trust struct {
	CA         []byte // PEM certificate(s)
	OverlayKey []byte // PEM public key
}

// files returns the trust as overlay files, mode 0644, owned by root.
func (t *Trust) files() []ovFile {
	return []ovFile{
		{name: CAPath, src: "(the server's CA, internal/tlsca)", mode: typeReg | 0o644, data: t.CA},
		{name: OverlayKeyPath, src: "(the server's overlay key, internal/tlsca)", mode: typeReg | 0o644, data: t.OverlayKey},
	}
}
