package gitsrc

// Signature policy: only commits signed by a trusted key are applied.
//
// A Policy is read from one file holding armored OpenPGP public keys and/or
// SSH allowed_signers lines (the format of git's gpg.ssh.allowedSignersFile).
// A commit's gpgsig header is checked against it: an OpenPGP signature with
// go-git's Commit.Verify (ProtonMail/go-crypto), an SSH signature (git's
// gpg.format=ssh) with hiddeco/sshsig over the commit without its signature,
// in the "git" namespace, as Flux's source-controller does.
//
// VerifyRaw works on the bytes `git cat-file commit SHA` prints, so the
// pre-receive hook (which reads quarantined objects through git) and the
// server (Source.Verify) run the same code.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// sshNamespace is the namespace git signs commits in (ssh-keygen -Y sign -n git).
const sshNamespace = "git"

const (
	pgpKeyBegin     = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
	pgpKeyEnd       = "-----END PGP PUBLIC KEY BLOCK-----"
	pgpPrivateBegin = "-----BEGIN PGP PRIVATE KEY BLOCK-----"
	pgpSigBegin     = "-----BEGIN PGP SIGNATURE-----"
	sshSigBegin     = "-----BEGIN SSH SIGNATURE-----"
)

// Why a commit is refused; a *SignatureError wraps one of them.
var (
	ErrNotSigned      = errors.New("not signed")
	ErrUntrustedKey   = errors.New("signed by an untrusted key")
	ErrBadSignature   = errors.New("bad signature")
	ErrUnknownSigType = errors.New("signed in a format gitboot cannot verify")
)

// SignatureError is a commit the policy refuses. Only a new (signed) commit
// or a change of the trusted keys fixes it.
type SignatureError struct {
	Commit string // full hex hash
	Kind   error  // ErrNotSigned, ErrUntrustedKey, ErrBadSignature or ErrUnknownSigType
	Key    string // the signing key when known: "SHA256:…" or "OpenPGP key ID …"
	Detail string // more about why, or ""
}

func (e *SignatureError) Error() string {
	msg := fmt.Sprintf("commit %s is %s", shortHash(e.Commit), e.Kind)
	if e.Kind == ErrBadSignature {
		msg = fmt.Sprintf("commit %s has a %s", shortHash(e.Commit), e.Kind)
	}
	switch {
	case e.Key != "" && e.Detail != "":
		return fmt.Sprintf("%s (%s: %s)", msg, e.Key, e.Detail)
	case e.Key != "":
		return fmt.Sprintf("%s (%s)", msg, e.Key)
	case e.Detail != "":
		return fmt.Sprintf("%s (%s)", msg, e.Detail)
	}
	return msg
}

func (e *SignatureError) Unwrap() error { return e.Kind }

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Policy is a set of trusted signing keys, read by LoadPolicy. It is
// immutable and safe for concurrent use.
type Policy struct {
	path string
	pgp  []pgpBlock  // one per armored block: go-git reads one block per call
	ssh  []sshSigner // allowed_signers entries, in file order
}

type pgpBlock struct {
	armored string
	line    int
}

type sshSigner struct {
	principals string
	key        ssh.PublicKey
	namespaces []string // nil: any namespace
	line       int
}

// allows reports whether the entry lets its key sign in namespace ns.
func (s sshSigner) allows(ns string) bool {
	return s.namespaces == nil || slices.Contains(s.namespaces, ns)
}

// sshKeyTypes are the key types an allowed_signers line may name; a line
// starting with one has no principals.
var sshKeyTypes = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
}

// LoadPolicy reads the trusted keys in path: armored OpenPGP public key
// blocks (gpg --armor --export) and SSH allowed_signers lines
// (`principals [namespaces="git,..."] keytype base64key [comment]`), in
// any order; blank lines and lines starting with # are ignored. A malformed
// entry is an error naming the file and line, and so is a file with no key
// (it would trust nothing).
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading trusted keys: %w", err)
	}
	return ParsePolicy(path, data)
}

// ParsePolicy is LoadPolicy of keys already read; path names them in
// errors and String (the file they came from, or a copy's place).
func ParsePolicy(path string, data []byte) (*Policy, error) {
	p := &Policy{path: path}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSpace(lines[i])
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == pgpPrivateBegin:
			return nil, fmt.Errorf("%s:%d: an OpenPGP private key: give public keys only (gpg --armor --export KEYID)", path, n)
		case line == pgpKeyBegin:
			end := slices.IndexFunc(lines[i:], func(l string) bool { return strings.TrimSpace(l) == pgpKeyEnd })
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: OpenPGP key block has no %s line", path, n, pgpKeyEnd)
			}
			block := strings.Join(lines[i:i+end+1], "\n") + "\n"
			ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(block))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: OpenPGP key block: %v", path, n, err)
			}
			if len(ring) == 0 {
				return nil, fmt.Errorf("%s:%d: OpenPGP key block holds no key", path, n)
			}
			p.pgp = append(p.pgp, pgpBlock{armored: block, line: n})
			i += end
		case strings.HasPrefix(line, "-----BEGIN "):
			return nil, fmt.Errorf("%s:%d: %s: expected %s or allowed_signers lines", path, n, line, pgpKeyBegin)
		default:
			s, err := parseAllowedSigner(line)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n, err)
			}
			s.line = n
			p.ssh = append(p.ssh, s)
		}
	}
	if len(p.pgp) == 0 && len(p.ssh) == 0 {
		return nil, fmt.Errorf("%s: no trusted keys (expected armored OpenPGP public keys or SSH allowed_signers lines): it would trust nothing", path)
	}
	return p, nil
}

// parseAllowedSigner parses one allowed_signers line: principals (a
// comma-separated list, quoted if it holds spaces), options, key, comment.
// The only option understood is namespaces=; cert-authority and
// valid-after/valid-before are refused rather than ignored, since ignoring
// them would trust more than the file says.
func parseAllowedSigner(line string) (sshSigner, error) {
	var principals, rest string
	if strings.HasPrefix(line, `"`) {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return sshSigner{}, errors.New("unterminated quoted principals")
		}
		principals, rest = line[1:end+1], line[end+2:]
	} else if i := strings.IndexAny(line, " \t"); i >= 0 {
		principals, rest = line[:i], line[i:]
	} else {
		principals = line
	}
	if slices.Contains(sshKeyTypes, principals) {
		return sshSigner{}, fmt.Errorf("no principals before the key type %s (allowed_signers lines are `principals [options] keytype key`)", principals)
	}
	rest = strings.TrimSpace(rest)
	if principals == "" || rest == "" {
		return sshSigner{}, errors.New("expected an allowed_signers line: principals [options] keytype base64key [comment]")
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return sshSigner{}, fmt.Errorf("allowed_signers line for %s: no valid SSH public key after the principals and options (%v)", principals, err)
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return sshSigner{}, fmt.Errorf("allowed_signers line for %s: certificates are not supported; give the plain public key", principals)
	}
	s := sshSigner{principals: principals, key: key}
	for _, o := range options {
		name, value, _ := strings.Cut(o, "=")
		switch strings.ToLower(name) {
		case "namespaces":
			value = strings.Trim(value, `"`)
			s.namespaces = strings.Split(value, ",")
			for i := range s.namespaces {
				s.namespaces[i] = strings.TrimSpace(s.namespaces[i])
			}
		default:
			return sshSigner{}, fmt.Errorf("allowed_signers option %q is not supported (gitboot understands namespaces=)", o)
		}
	}
	return s, nil
}

// String says what the policy trusts, for logs.
func (p *Policy) String() string {
	return fmt.Sprintf("%s (%d OpenPGP key blocks, %d SSH keys)", p.path, len(p.pgp), len(p.ssh))
}

// VerifyRaw verifies a raw commit object, the bytes `git cat-file commit
// SHA` prints, and returns who signed it ("alice@example.org (SHA256:…)",
// "Alice <alice@example.org> (OpenPGP key ID …)"). The error is a
// *SignatureError when the commit is unsigned, signed by an untrusted key
// or badly signed.
func (p *Policy) VerifyRaw(raw []byte) (signer string, err error) {
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.CommitObject)
	if _, err := obj.Write(raw); err != nil {
		return "", err
	}
	var c object.Commit
	if err := c.Decode(obj); err != nil {
		return "", fmt.Errorf("reading commit %s: %w", shortHash(obj.Hash().String()), err)
	}
	return p.verify(&c)
}

// Verify verifies the signature of commit, a commit of s, against p; see
// VerifyRaw.
func (s *Source) Verify(commit *Commit, p *Policy) (signer string, err error) {
	hash := plumbing.NewHash(commit.Hash)
	var raw []byte
	err = s.read(func() error {
		o, err := s.store.EncodedObject(plumbing.CommitObject, hash)
		if err != nil {
			return fmt.Errorf("reading commit %s: %w", commit.Short(), err)
		}
		r, err := o.Reader()
		if err != nil {
			return fmt.Errorf("reading commit %s: %w", commit.Short(), err)
		}
		defer r.Close()
		raw, err = io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("reading commit %s: %w", commit.Short(), err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if got := plumbing.ComputeHash(plumbing.CommitObject, raw); got != hash {
		return "", fmt.Errorf("reading commit %s: its content hashes to %s", commit.Short(), got)
	}
	return p.VerifyRaw(raw)
}

// verify checks c's gpgsig header against p.
func (p *Policy) verify(c *object.Commit) (string, error) {
	sig := strings.TrimSpace(c.PGPSignature)
	fail := func(kind error, key, detail string) (string, error) {
		return "", &SignatureError{Commit: c.Hash.String(), Kind: kind, Key: key, Detail: detail}
	}
	switch {
	case sig == "":
		return fail(ErrNotSigned, "", "")
	case strings.HasPrefix(sig, pgpSigBegin):
		return p.verifyPGP(c, fail)
	case strings.HasPrefix(sig, sshSigBegin):
		return p.verifySSH(c, fail)
	}
	first, _, _ := strings.Cut(sig, "\n")
	return fail(ErrUnknownSigType, "", "only OpenPGP and SSH signatures are supported, not "+first)
}

type failFunc func(kind error, key, detail string) (string, error)

// verifyPGP checks an OpenPGP signature with go-git's Commit.Verify, block
// by block (it reads one armored block of keys per call).
func (p *Policy) verifyPGP(c *object.Commit, fail failFunc) (string, error) {
	keyID, err := pgpIssuer(c.PGPSignature)
	if err != nil {
		return fail(ErrBadSignature, "", "unreadable OpenPGP signature: "+err.Error())
	}
	for _, b := range p.pgp {
		e, err := c.Verify(b.armored)
		switch {
		case errors.Is(err, pgperrors.ErrUnknownIssuer):
			continue
		case err != nil:
			return fail(ErrBadSignature, keyID, err.Error())
		}
		name := ""
		if id := e.PrimaryIdentity(); id != nil {
			name = id.Name + " "
		}
		return name + "(" + keyID + ")", nil
	}
	return fail(ErrUntrustedKey, keyID, "")
}

// pgpIssuer returns "OpenPGP key ID …" of the key that made an armored
// signature.
func pgpIssuer(armored string) (string, error) {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "", err
	}
	pk, err := packet.Read(block.Body)
	if err != nil {
		return "", err
	}
	s, ok := pk.(*packet.Signature)
	if !ok {
		return "", fmt.Errorf("%T, not a signature", pk)
	}
	switch {
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("OpenPGP key ID %016X", *s.IssuerKeyId), nil
	case len(s.IssuerFingerprint) >= 8:
		fp := s.IssuerFingerprint
		return fmt.Sprintf("OpenPGP key ID %016X", binary.BigEndian.Uint64(fp[len(fp)-8:])), nil
	}
	return "", errors.New("it names no issuer")
}

// verifySSH checks an SSH signature: its key must be an allowed signer for
// namespace git, and the signature over the commit without its gpgsig
// header must verify in that namespace.
func (p *Policy) verifySSH(c *object.Commit, fail failFunc) (string, error) {
	if strings.Count(c.PGPSignature, sshSigBegin) > 1 {
		return fail(ErrBadSignature, "", "more than one SSH signature")
	}
	sig, err := sshsig.Unarmor([]byte(c.PGPSignature))
	if err != nil {
		return fail(ErrBadSignature, "", "unreadable SSH signature: "+err.Error())
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	var signer *sshSigner
	var excluded []int
	for i := range p.ssh {
		s := &p.ssh[i]
		if ssh.FingerprintSHA256(s.key) != fp {
			continue
		}
		if s.allows(sshNamespace) {
			signer = s
			break
		}
		excluded = append(excluded, s.line)
	}
	if signer == nil {
		detail := ""
		if len(excluded) > 0 {
			detail = fmt.Sprintf("its allowed_signers entry on line %d of %s does not allow namespace %q", excluded[0], p.path, sshNamespace)
		}
		return fail(ErrUntrustedKey, fp, detail)
	}
	if sig.Namespace != sshNamespace {
		return fail(ErrBadSignature, fp, fmt.Sprintf("signed in namespace %q, not %q", sig.Namespace, sshNamespace))
	}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return "", fmt.Errorf("encoding commit %s: %w", shortHash(c.Hash.String()), err)
	}
	r, err := payload.Reader()
	if err != nil {
		return "", err
	}
	defer r.Close()
	if err := sshsig.Verify(r, sig, signer.key, sig.HashAlgorithm, sshNamespace); err != nil {
		return fail(ErrBadSignature, fp, err.Error())
	}
	return signer.principals + " (" + fp + ")", nil
}
