package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"

	"github.com/gitboot/gitboot/internal/sshhostkeys"
	"golang.org/x/crypto/ssh"
)

// SSH host keys. `gitboot secrets ssh-host-keys` writes each node's keys
// under secrets/ssh/NODE/ (internal/sshhostkeys): the private keys
// age-encrypted, the .pub files in clear. Templates read the public keys
// with
//
//	sshPublicKey NODE TYPE   one key line ("ssh-ed25519 AAAA... root@NODE"); none is an error
//	sshPublicKeys NODE       the node's key lines, ed25519, ecdsa, rsa (none: an empty list)
//
// and the private keys with `secret`. The builtin overlay ssh_host_keys
// places them: /etc/ssh/ssh_host_*_key (0600, a secret: runtime overlays
// served in secure mode only, see secretPlacement) and .pub (0644), and
// /etc/ssh/ssh_known_hosts with every node's keys.
//
// An overlay whose templates name these functions hashes every .pub file
// under secrets/ssh/ into its own hash, so a new or changed key rebuilds
// the nodes that show it.

// builtinModes are the modes of builtin overlay files other than 0644
// (by builtin name and path in the node's root).
var builtinModes = map[string]uint32{
	"ssh_host_keys/etc/ssh/ssh_host_ed25519_key": 0o600,
	"ssh_host_keys/etc/ssh/ssh_host_ecdsa_key":   0o600,
	"ssh_host_keys/etc/ssh/ssh_host_rsa_key":     0o600,
}

// builtinMode returns the mode of file name of builtin overlay builtin.
func builtinMode(builtin, name string) uint32 {
	if m, ok := builtinModes[builtin+"/"+name]; ok {
		return m
	}
	return 0o644
}

// usesSSHKeyFuncs reports whether template text may call the functions
// of this file (a conservative test on the text: more only hashes more).
func usesSSHKeyFuncs(text string) bool {
	return strings.Contains(text, "sshPublicKey")
}

// bindSSHKeyFuncs binds the functions of this file to the repository fsys
// in t, and adds every public key file of the repository to the overlay's
// hash with write.
func bindSSHKeyFuncs(t *template.Template, fsys fs.FS, write func([]byte)) error {
	if fsys == nil {
		return errors.New("sshPublicKey: the cluster has no repository to read keys from")
	}
	var pubs []string
	err := fs.WalkDir(fsys, sshhostkeys.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(p, ".pub") {
			pubs = append(pubs, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", sshhostkeys.Root, err)
	}
	for _, p := range pubs {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		write([]byte("sshpub\x00" + p + "\x00"))
		write(data)
		write([]byte{0})
	}
	t.Funcs(template.FuncMap{
		"sshPublicKey": func(node, typ string) (string, error) {
			line, err := readPublicKey(fsys, node, typ)
			if err == nil && line == "" {
				err = fmt.Errorf("node %s has no %s SSH host key (%s): run `gitboot secrets ssh-host-keys`, commit and push", node, typ, sshhostkeys.PublicFile(node, typ))
			}
			return line, err
		},
		"sshPublicKeys": func(node string) ([]string, error) {
			var out []string
			for _, typ := range sshhostkeys.Types {
				line, err := readPublicKey(fsys, node, typ)
				if err != nil {
					return nil, err
				}
				if line != "" {
					out = append(out, line)
				}
			}
			return out, nil
		},
	})
	return nil
}

// readPublicKey returns node's public key of type typ as one line without
// its newline, "" when the file is not there. A file that is not one
// public key is an error naming it.
func readPublicKey(fsys fs.FS, node, typ string) (string, error) {
	if !validKeyName(node) || !validKeyName(typ) {
		return "", fmt.Errorf("sshPublicKey %q %q: not a node name and a key type", node, typ)
	}
	p := sshhostkeys.PublicFile(node, typ)
	data, err := fs.ReadFile(fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	key, comment, _, rest, err := ssh.ParseAuthorizedKey(data)
	if err != nil || len(strings.TrimSpace(string(rest))) != 0 {
		return "", fmt.Errorf("%s: not one SSH public key", p)
	}
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(key)), "\n")
	if comment != "" {
		line += " " + comment
	}
	return line, nil
}

// validKeyName reports whether s is one plain path element.
func validKeyName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\") && path.Clean(s) == s
}
