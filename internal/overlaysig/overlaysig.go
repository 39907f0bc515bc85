// Package overlaysig signs and checks runtime overlays, so that a node's
// agent applies only what its own gitboot server built for it, even when
// the overlay reached it over plain HTTP (iPXE's /runtime-initrd/) or a
// neighbour on the boot network answered in the server's place.
//
// The server signs, with its ed25519 overlay key, a short message naming
// the node's MAC address and the sha256 of the overlay artifact's bytes
// (Message); the agent, which has the public key from its system overlay,
// hashes the bytes it got and checks the signature against the same
// message. Binding the MAC means one node's overlay cannot be replayed to
// another. The signature travels as the X-Gitboot-Signature header of
// /runtime/{mac}, and as the file RuntimeInitrdFile+".sig" next to the
// overlay in /runtime-initrd/{mac}.
//
// Imported by bootsvc/httpboot (signing), cmd/gitboot-agent (checking) and
// internal/tlsca (the key files). It imports only the standard library.
package overlaysig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Header is the HTTP response header carrying a runtime overlay's
// signature (the form Sign returns).
const Header = "X-Gitboot-Signature"

// FileSuffix is added to a runtime overlay file's name to name the file
// holding its signature (the same text as Header), e.g.
// /.gitboot-runtime.img.gz.sig.
const FileSuffix = ".sig"

// prefix marks the signature scheme, so a later one can be told apart.
const prefix = "ed25519:"

// ErrUnsigned is an overlay without a signature.
var ErrUnsigned = errors.New("the runtime overlay is not signed")

// Message is what is signed for the overlay artifact of the node with MAC
// mac (canonical lower-case colon form) whose bytes have the sha256 digest
// hexDigest (64 lower-case hex digits).
func Message(mac, hexDigest string) []byte {
	return []byte("gitboot runtime overlay v1\nmac=" + strings.ToLower(mac) + "\nsha256=" + hexDigest + "\n")
}

// Sign returns the signature of the overlay whose digest is digest
// ("sha256:<hex>" or the bare hex) for the node with MAC mac, in the form
// Header carries: "ed25519:" and the standard base64 of the signature.
func Sign(key ed25519.PrivateKey, mac, digest string) string {
	hexDigest := strings.TrimPrefix(digest, "sha256:")
	return prefix + base64.StdEncoding.EncodeToString(ed25519.Sign(key, Message(mac, hexDigest)))
}

// Verify checks that sig (as Sign returns it; "" is ErrUnsigned) is pub's
// signature of data as the runtime overlay of the node with MAC mac.
func Verify(pub ed25519.PublicKey, mac string, data []byte, sig string) error {
	sig = strings.TrimSpace(sig)
	if sig == "" {
		return ErrUnsigned
	}
	b64, ok := strings.CutPrefix(sig, prefix)
	if !ok {
		return fmt.Errorf("the runtime overlay's signature %q is not an %s signature", clip(sig), strings.TrimSuffix(prefix, ":"))
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("the runtime overlay's signature %q is malformed", clip(sig))
	}
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("no valid overlay public key to check the signature with")
	}
	sum := sha256.Sum256(data)
	if !ed25519.Verify(pub, Message(mac, hex.EncodeToString(sum[:])), raw) {
		return fmt.Errorf("the runtime overlay's signature does not match (sha256 %x, mac %s): not signed by this node's gitboot server, or altered", sum[:6], mac)
	}
	return nil
}

// MarshalPublicKey returns pub as a PEM "PUBLIC KEY" block (PKIX).
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an ed25519 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey reads an ed25519 public key from a PEM "PUBLIC KEY"
// block, as MarshalPublicKey writes it.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ed25519 public key", k)
	}
	return pub, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
