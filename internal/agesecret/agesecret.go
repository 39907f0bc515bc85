// Package agesecret holds the server's age identities and decrypts the
// repository's secrets (files ending in .age) with them; it also checks,
// without any key, that a file is a well-formed age file (the pre-receive
// hook and `gitboot validate` do). reconcile/artifact decrypts overlay
// secrets and `secret "PATH"` template calls through a Keyring; serve and
// cmd/gitboot open it from the state directory or --age-identity files.
package agesecret

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Suffix marks an encrypted file in the repository.
const Suffix = ".age"

// DefaultFile is the identity file created in the state directory when no
// --age-identity is given.
const DefaultFile = "age-identity.secret"

// MaxSecret bounds one decrypted secret (as an overlay file is bounded).
const MaxSecret = 64 << 20

// Keyring is the server's age identities (one or more files); the first
// identity's recipient is the one operators encrypt to. Safe for
// concurrent use.
type Keyring struct {
	ids       []age.Identity
	recipient string
	files     []string
}

// Load reads identities from files (the age identity file format: one
// AGE-SECRET-KEY-1... per line, # comments). At least one file is needed.
func Load(files ...string) (*Keyring, error) {
	if len(files) == 0 {
		return nil, errors.New("age identities: no identity file")
	}
	k := &Keyring{files: files}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("age identity %s: %w", f, err)
		}
		ids, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("age identity %s: %w", f, err)
		}
		k.ids = append(k.ids, ids...)
	}
	for _, id := range k.ids {
		if r, ok := id.(interface{ Recipient() *age.X25519Recipient }); ok {
			k.recipient = r.Recipient().String()
			break
		}
	}
	if k.recipient == "" {
		return nil, fmt.Errorf("age identities %s: no X25519 identity (AGE-SECRET-KEY-1...)", strings.Join(files, ", "))
	}
	return k, nil
}

// Open returns the server's keyring: the identity files given, or else
// stateDir/age-identity.secret, created (mode 0600, a new X25519 identity)
// when create is set and it does not exist. Without create a missing
// default file is (nil, nil): no identity, secrets are only checked for
// well-formedness (a plan away from the server).
func Open(stateDir string, files []string, create bool) (*Keyring, error) {
	if len(files) > 0 {
		return Load(files...)
	}
	if stateDir == "" {
		return nil, nil
	}
	p := filepath.Join(stateDir, DefaultFile)
	_, err := os.Stat(p)
	switch {
	case err == nil:
		return Load(p)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("age identity: %w", err)
	case !create:
		return nil, nil
	}
	if err := Generate(p); err != nil {
		return nil, err
	}
	return Load(p)
}

// Generate writes a new X25519 identity file at p (mode 0600), refusing
// to overwrite one.
func Generate(p string) error {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("generating age identity: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("age identity: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("age identity: %w", err)
	}
	content := fmt.Sprintf("# gitboot server identity: secrets in the repository are encrypted to\n# public key: %s\n%s\n", id.Recipient(), id)
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(p)
		return fmt.Errorf("age identity %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(p)
		return fmt.Errorf("age identity %s: %w", p, err)
	}
	return f.Close()
}

// Recipient is the public recipient ("age1...") operators encrypt to.
func (k *Keyring) Recipient() string { return k.recipient }

// Files are the identity files the keyring was read from.
func (k *Keyring) Files() []string { return k.files }

// Decrypt decrypts data, the content of the repository file path (named in
// errors). Binary and ASCII-armored age files are accepted.
func (k *Keyring) Decrypt(path string, data []byte) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("%s: no age identity to decrypt it with", path)
	}
	r, err := age.Decrypt(reader(data), k.ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, fmt.Errorf("%s: not encrypted to this server's age recipient %s (encrypt with: age -r %s)", path, k.recipient, k.recipient)
		}
		return nil, fmt.Errorf("%s: decrypting: %w", path, err)
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxSecret+1))
	if err != nil {
		return nil, fmt.Errorf("%s: decrypting: %w", path, err)
	}
	if len(out) > MaxSecret {
		return nil, fmt.Errorf("%s: decrypted secret larger than %d MiB", path, MaxSecret>>20)
	}
	return out, nil
}

// WellFormed reports whether data is an age file whose header parses
// (binary or ASCII-armored); it needs no key. The payload is not checked:
// only the recipient's key can authenticate it.
func WellFormed(data []byte) error {
	if _, err := age.ExtractHeader(reader(data)); err != nil {
		return fmt.Errorf("not a well-formed age file: %w", err)
	}
	return nil
}

// reader reads data, unwrapping ASCII armor.
func reader(data []byte) io.Reader {
	br := bufio.NewReader(bytes.NewReader(data))
	if start, _ := br.Peek(len(armor.Header)); string(start) == armor.Header {
		return armor.NewReader(br)
	}
	return br
}
