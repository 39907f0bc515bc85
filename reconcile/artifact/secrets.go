package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"

	"github.com/gitboot/gitboot/hclspec"
	"github.com/gitboot/gitboot/internal/agesecret"
	"github.com/hashicorp/hcl/v2"
)

// Secrets. A repository file ending in .age is age-encrypted to the
// server's identity (Config.Secrets). In an overlay, x.age is delivered
// decrypted as x (mode 0600 root:root unless a file block says otherwise);
// a template may call `secret "PATH"` (a repository path to a .age file).
//
// Input keys hash the ciphertext, never the plaintext: a changed secret
// changes its file in git and so rebuilds the overlays that carry it,
// while nothing the server shows (plans, /inventory, notes) is a digest of
// a secret's content. Re-encrypting the same content (age's encryption is
// randomised) therefore rebuilds too, shown in a plan as a (sensitive)
// change only.
//
// A decrypted secret may reach a node only in a runtime overlay served in
// secure mode (server secure_runtime): anything in a system overlay is
// fetched over plain HTTP by iPXE, and a runtime overlay without secure
// mode is served to anyone who asks. Both are repository errors at the
// file (and template line).

// SensitiveValue is what plans, /inventory and `overlay render` show for
// a secret instead of its content or a digest of it.
const SensitiveValue = "(sensitive)"

// secretFunc is the template function's name (hclspec.TemplateFuncs has
// an unbound one so templates parse).
const secretFunc = "secret"

// secretUse is what one overlay template reads through `secret`.
type secretUse struct {
	paths   []string // repository paths given as literals, sorted
	dynamic bool     // a call whose path is computed: every .age file counts
	line    int      // the first call's line, for placement errors
}

// templateSecrets finds the `secret` calls of a parsed template (nil when
// there is none).
func templateSecrets(t *template.Template) *secretUse {
	if t == nil || t.Tree == nil {
		return nil
	}
	var u *secretUse
	seen := map[string]bool{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for i, a := range n.Args {
				if id, ok := a.(*parse.IdentifierNode); ok && id.Ident == secretFunc {
					if u == nil {
						line, _ := lineOf(t, n)
						u = &secretUse{line: line}
					}
					s, lit := parse.Node(nil), false
					if i+1 < len(n.Args) {
						s = n.Args[i+1]
						_, lit = s.(*parse.StringNode)
					}
					if lit && i == 0 && len(n.Args) == 2 {
						p := s.(*parse.StringNode).Text
						if !seen[p] {
							seen[p] = true
							u.paths = append(u.paths, p)
						}
					} else {
						u.dynamic = true
					}
					continue
				}
				walk(a)
			}
		case *parse.ChainNode:
			walk(n.Node)
		}
	}
	walk(t.Tree.Root)
	if u != nil {
		sort.Strings(u.paths)
	}
	return u
}

// lineOf is the template line of node n.
func lineOf(t *template.Template, n parse.Node) (int, error) {
	loc, _ := t.Tree.ErrorContext(n)
	// loc is "NAME:LINE:COL"
	parts := strings.Split(loc, ":")
	if len(parts) < 3 {
		return 0, errors.New("no position")
	}
	var line int
	_, err := fmt.Sscan(parts[len(parts)-2], &line)
	return line, err
}

// secretPath cleans a `secret` argument: a repository path ending in .age.
func secretPath(p string) (string, error) {
	c := strings.TrimPrefix(path.Clean(p), "/")
	if !fs.ValidPath(c) || c == "." {
		return "", fmt.Errorf("secret %q: not a path inside the repository", p)
	}
	if !strings.HasSuffix(c, agesecret.Suffix) {
		return "", fmt.Errorf("secret %q: a secret is an age-encrypted file whose name ends in %s", p, agesecret.Suffix)
	}
	return c, nil
}

// hashSecretInputs adds what template f reads through `secret` to an
// overlay's hash h: each literal path's ciphertext (checked to be a
// well-formed age file), or every .age file of the repository for a
// computed path.
func hashSecretInputs(fsys fs.FS, f *ovFile, write func([]byte)) error {
	u := f.secrets
	if u == nil {
		return nil
	}
	if fsys == nil {
		return errors.New("secret: the cluster has no repository to read secrets from")
	}
	paths := u.paths
	if u.dynamic {
		all, err := repoSecrets(fsys)
		if err != nil {
			return err
		}
		paths = append(append([]string(nil), paths...), all...)
	}
	for _, p := range paths {
		c, err := secretPath(p)
		if err != nil {
			return &locError{file: f.src, line: u.line, atFile: true, err: err}
		}
		data, err := fs.ReadFile(fsys, c)
		if err != nil {
			return &locError{file: f.src, line: u.line, atFile: true, err: fmt.Errorf("secret %q: %w", p, err)}
		}
		if err := agesecret.WellFormed(data); err != nil {
			return &locError{file: c, atFile: true, err: fmt.Errorf("%s: %w", c, err)}
		}
		sum := sha256.Sum256(data)
		write([]byte("secret\x00" + c + "\x00"))
		write(sum[:])
	}
	return nil
}

// repoSecrets lists every .age file of the repository.
func repoSecrets(fsys fs.FS) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == ".git" {
			return fs.SkipDir
		}
		if d.Type().IsRegular() && strings.HasSuffix(p, agesecret.Suffix) {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// CheckSecretFiles reports, as diagnostics, every .age file of the
// repository that is not a well-formed age file, naming the file (the
// pre-receive hook and `gitboot validate` check it without any key).
func CheckSecretFiles(c *hclspec.Cluster) hcl.Diagnostics {
	if c.FS == nil {
		return nil
	}
	paths, err := repoSecrets(c.FS)
	if err != nil {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot list the repository's secrets", Detail: err.Error() + "."}}
	}
	var diags hcl.Diagnostics
	for _, p := range paths {
		data, err := fs.ReadFile(c.FS, p)
		if err == nil {
			err = agesecret.WellFormed(data)
		}
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Malformed secret",
				Detail:  fmt.Sprintf("%s: %v (files ending in %s must be encrypted with age, e.g. age -r RECIPIENT -o %s FILE; see gitboot secrets recipient).", p, err, agesecret.Suffix, p),
				Subject: &hcl.Range{Filename: c.FileName(p), Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 2}}})
		}
	}
	return diags
}

// secretBox decrypts the secrets of one build, each once.
type secretBox struct {
	keys *agesecret.Keyring // nil: no identity (decrypting is an error)
	// placeholder, when not nil, is every secret's content: nothing is
	// decrypted (Check, which has no key and checked well-formedness when
	// loading; Render, which shows SensitiveValue).
	placeholder []byte
	fsys        fs.FS
	mu          sync.Mutex
	plain       map[string][]byte // by repository path
}

func newSecretBox(fsys fs.FS, keys *agesecret.Keyring, placeholder []byte) *secretBox {
	return &secretBox{keys: keys, placeholder: placeholder, fsys: fsys, plain: map[string][]byte{}}
}

// decrypt returns the plaintext of the repository file p (content data).
func (s *secretBox) decrypt(p string, data []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%s: secrets cannot be decrypted here", p)
	}
	if s.placeholder != nil {
		return s.placeholder, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.plain[p]; ok {
		return b, nil
	}
	b, err := s.keys.Decrypt(p, data)
	if err != nil {
		return nil, err
	}
	s.plain[p] = b
	return b, nil
}

// readSecret is `secret "PATH"`.
func (s *secretBox) readSecret(p string) (string, error) {
	c, err := secretPath(p)
	if err != nil {
		return "", err
	}
	if s == nil || s.fsys == nil {
		return "", fmt.Errorf("secret %q: no repository to read it from", p)
	}
	data, err := fs.ReadFile(s.fsys, c)
	if err != nil {
		return "", fmt.Errorf("secret %q: %w", p, err)
	}
	b, err := s.decrypt(c, data)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// bind returns t with `secret` bound to s (t itself when it calls none).
func (s *secretBox) bind(f *ovFile) (*template.Template, error) {
	if f.secrets == nil {
		return f.tmpl, nil
	}
	t, err := f.tmpl.Clone()
	if err != nil {
		return nil, err
	}
	return t.Funcs(template.FuncMap{secretFunc: s.readSecret}), nil
}

// hasSecret reports whether f carries a secret (an .age file or a
// template calling secret).
func (f *ovFile) hasSecret() bool { return f.secret || f.secrets != nil }

// secretPlacement refuses a secret where a neighbour could read it: in a
// system overlay, or in a runtime overlay of a server without
// secure_runtime (secure: the server serves in secure mode).
func secretPlacement(sys, rt []*overlay, secure bool, server string) error {
	for _, ov := range sys {
		if f := ov.firstSecret(); f != nil {
			return ov.secretError(f, "a secret may not be in a system overlay (iPXE fetches it over plain HTTP, any neighbour can): put it in a runtime overlay served with secure_runtime = true")
		}
	}
	if secure {
		return nil
	}
	for _, ov := range rt {
		if f := ov.firstSecret(); f != nil {
			who := "no server block"
			if server != "" {
				who = "server " + server
			}
			return ov.secretError(f, fmt.Sprintf("a secret may be in a runtime overlay only when it is served in secure mode (%s does not set secure_runtime = true), else any neighbour can fetch it", who))
		}
	}
	return nil
}

func (ov *overlay) firstSecret() *ovFile {
	for i := range ov.files {
		if ov.files[i].hasSecret() {
			return &ov.files[i]
		}
	}
	return nil
}

func (ov *overlay) secretError(f *ovFile, msg string) error {
	what := f.src
	le := &locError{overlay: ov.decl, file: f.src, atFile: true, err: fmt.Errorf("overlay %s: %s: %s", ov.name, what, msg)}
	if f.secrets != nil {
		le.line = f.secrets.line
		le.err = fmt.Errorf("overlay %s: %s:%d: secret: %s", ov.name, what, f.secrets.line, msg)
	}
	if !ov.repo {
		// a builtin's file is not in the repository: the overlay block is the place
		le.file, le.line, le.atFile = "", 0, false
	}
	return le
}

// secretDigest is an overlay file's value in Inputs.Overlays when it is a
// secret: SensitiveValue and a digest of the ciphertext (which git holds
// anyway), so a plan notices a changed secret and shows it as
// (sensitive) only (see reconcile's plan).
func secretDigest(ciphertext []byte) string {
	sum := sha256.Sum256(ciphertext)
	return SensitiveValue + " age:" + hex.EncodeToString(sum[:])[:16]
}

// CheckDecrypt decrypts every secret the nodes server srv serves would
// get (their overlays' .age files and the literal paths of their `secret`
// calls) with keys, so a plan made on the server's state refuses what its
// build would: a *RepoError naming the file. Nothing is kept.
func CheckDecrypt(c *hclspec.Cluster, srv *hclspec.Server, keys *agesecret.Keyring) error {
	box := newSecretBox(c.FS, keys, nil)
	done := map[string]bool{}
	for _, n := range servedNodes(c, srv) {
		for _, name := range n.RuntimeOverlays {
			if done[name] {
				continue
			}
			done[name] = true
			ov, err := loadOverlay(c, name)
			if err != nil {
				return &RepoError{err}
			}
			for i := range ov.files {
				f := &ov.files[i]
				if f.secret {
					if _, err := box.decrypt(f.src, f.data); err != nil {
						return &RepoError{&locError{overlay: ov.decl, file: f.src, atFile: true, err: err}}
					}
				}
				if f.secrets != nil {
					for _, p := range f.secrets.paths {
						if _, err := box.readSecret(p); err != nil {
							return &RepoError{&locError{overlay: ov.decl, file: f.src, line: f.secrets.line, atFile: true, err: err}}
						}
					}
				}
			}
		}
	}
	return checkPasswordFiles(c, srv, box) // accounts.go: password_hash_file
}
