// Package sshhostkeys generates nodes' SSH host keys into a cluster
// repository's working tree, encrypted with age: for each node, under
// secrets/ssh/NODE/, ssh_host_{ed25519,ecdsa,rsa}_key.age (the OpenSSH
// private key, encrypted to the given recipients) and the public
// ssh_host_*_key.pub in clear. The built-in overlay ssh_host_keys
// (reconcile/artifact) places them on the node.
//
// Imported by cmd/gitboot (`gitboot secrets ssh-host-keys`).
package sshhostkeys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/gitboot/gitboot/internal/atomicfile"
)

// Root is the repository directory that holds one directory of keys per
// node.
const Root = "secrets/ssh"

// RecipientsFile is the repository file whose age recipients (one a line,
// # comments) the keys are encrypted to when no recipient is given.
const RecipientsFile = "secrets/recipients.txt"

// Types are the host key types generated for every node, in the order
// they are written.
var Types = []string{"ed25519", "ecdsa", "rsa"}

// RSABits is the size of the generated RSA host keys.
const RSABits = 3072

// Dir returns the repository directory (slash path) of node's keys.
func Dir(node string) string { return path.Join(Root, node) }

// PrivateFile returns the repository path of node's encrypted private key
// of type typ ("ed25519", "ecdsa", "rsa").
func PrivateFile(node, typ string) string {
	return path.Join(Dir(node), "ssh_host_"+typ+"_key.age")
}

// PublicFile returns the repository path of node's public key of type typ.
func PublicFile(node, typ string) string {
	return path.Join(Dir(node), "ssh_host_"+typ+"_key.pub")
}

// Result says what Generate did for one node.
type Result struct {
	Node string
	// Written are the repository paths written, private and public keys.
	Written []string
	// Kept are the key types the node already had (never replaced).
	Kept []string
}

// Generate writes the missing host keys of each of nodes into the
// repository working tree repo, private keys encrypted to recipients. A
// key type whose .age and .pub files are both there is kept as it is; one
// of the two without the other is an error (nothing is written then, for
// any node). rnd is the randomness (nil: crypto/rand).
func Generate(repo string, nodes []string, recipients []age.Recipient, rnd io.Reader) ([]Result, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no age recipients to encrypt the keys to")
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	results := make([]Result, len(nodes))
	missing := make([][]string, len(nodes))
	for i, n := range nodes {
		if !validNode(n) {
			return nil, fmt.Errorf("node name %q cannot name a directory", n)
		}
		results[i].Node = n
		for _, typ := range Types {
			has, err := hasKey(repo, n, typ)
			if err != nil {
				return nil, err
			}
			if has {
				results[i].Kept = append(results[i].Kept, typ)
			} else {
				missing[i] = append(missing[i], typ)
			}
		}
	}
	for i, n := range nodes {
		for _, typ := range missing[i] {
			written, err := writeKey(repo, n, typ, recipients, rnd)
			results[i].Written = append(results[i].Written, written...)
			if err != nil {
				return results, err
			}
		}
	}
	return results, nil
}

// hasKey reports whether node's key of type typ is in repo: both files,
// or neither (false); one alone is an error saying how to fix it.
func hasKey(repo, node, typ string) (bool, error) {
	priv, pub := PrivateFile(node, typ), PublicFile(node, typ)
	a, err := exists(filepath.Join(repo, filepath.FromSlash(priv)))
	if err != nil {
		return false, err
	}
	b, err := exists(filepath.Join(repo, filepath.FromSlash(pub)))
	if err != nil {
		return false, err
	}
	switch {
	case a && !b:
		return false, fmt.Errorf("%s has no %s: restore it from git, or remove %s to generate a new key", priv, path.Base(pub), priv)
	case b && !a:
		return false, fmt.Errorf("%s has no %s: restore it from git, or remove %s to generate a new key", pub, path.Base(priv), pub)
	}
	return a, nil
}

func exists(p string) (bool, error) {
	_, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// writeKey generates one key and writes its two files, the private one
// first; it returns the repository paths it wrote.
func writeKey(repo, node, typ string, recipients []age.Recipient, rnd io.Reader) ([]string, error) {
	priv, pub, err := newKey(typ, rnd)
	if err != nil {
		return nil, fmt.Errorf("generating %s host key of %s: %w", typ, node, err)
	}
	comment := "root@" + node
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encoding %s host key of %s: %w", typ, node, err)
	}
	var enc bytes.Buffer
	w, err := age.Encrypt(&enc, recipients...)
	if err != nil {
		return nil, fmt.Errorf("encrypting %s host key of %s: %w", typ, node, err)
	}
	if err := pem.Encode(w, block); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypting %s host key of %s: %w", typ, node, err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(sshPub)), "\n") + " " + comment + "\n"

	dir := filepath.Join(repo, filepath.FromSlash(Dir(node)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range []struct {
		name string
		data []byte
	}{{PrivateFile(node, typ), enc.Bytes()}, {PublicFile(node, typ), []byte(line)}} {
		if err := atomicfile.WriteFile(filepath.Join(repo, filepath.FromSlash(f.name)), f.data, 0o644); err != nil {
			return written, fmt.Errorf("writing %s: %w", f.name, err)
		}
		written = append(written, f.name)
	}
	return written, nil
}

// newKey generates a private key of type typ and returns it with its
// public key.
func newKey(typ string, rnd io.Reader) (crypto.Signer, crypto.PublicKey, error) {
	switch typ {
	case "ed25519":
		pub, priv, err := ed25519.GenerateKey(rnd)
		return priv, pub, err
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
		if err != nil {
			return nil, nil, err
		}
		return k, &k.PublicKey, nil
	case "rsa":
		k, err := rsa.GenerateKey(rnd, RSABits)
		if err != nil {
			return nil, nil, err
		}
		return k, &k.PublicKey, nil
	}
	return nil, nil, fmt.Errorf("unknown key type %q", typ)
}

// validNode reports whether n is a node name as HCL allows it (a letter,
// then letters, digits, '_' and '-'), so it is one safe path element.
func validNode(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9') && c != '_' && c != '-') {
			return false
		}
	}
	return true
}
