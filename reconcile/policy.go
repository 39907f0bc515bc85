package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/gitboot/gitboot/internal/atomicfile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// PolicyFile is the signature policy's file in the state directory. It is
// never moved aside as damaged: a policy that cannot be read stops every
// command on the state directory (it fails closed), since reading it as
// absent would loosen it.
const PolicyFile = "policy.json"

// PolicyVersion is the version of PolicyFile's JSON format.
const PolicyVersion = 1

// StatePolicy is the signature policy bound to a state directory. Given
// once (serve or apply with --require-signed --trusted-keys), it is
// recorded with a copy of the trusted keys, so a keys file moved or emptied
// later cannot loosen it; from then on every command on the state directory
// enforces it, flags or not, and only `gitboot policy set` changes it.
type StatePolicy struct {
	Version       int  `json:"version"`
	RequireSigned bool `json:"require_signed"`
	// TrustedKeys is the content of the trusted keys file (armored OpenPGP
	// public keys and/or SSH allowed_signers lines); KeysFrom the file it
	// was copied from, KeysSHA256 the sha256 (hex) of TrustedKeys.
	TrustedKeys string    `json:"trusted_keys,omitempty"`
	KeysFrom    string    `json:"trusted_keys_from,omitempty"`
	KeysSHA256  string    `json:"trusted_keys_sha256,omitempty"`
	SetBy       string    `json:"set_by"`   // user@host (with the sudo user)
	SetAt       time.Time `json:"set_at"`   // UTC
	SetWith     string    `json:"set_with"` // the command, e.g. "gitboot policy set"
	// History holds the settings before this one, oldest first.
	History []PolicyChange `json:"history,omitempty"`
}

// PolicyChange is who set a policy, when, and with what.
type PolicyChange struct {
	RequireSigned bool      `json:"require_signed"`
	KeysSHA256    string    `json:"trusted_keys_sha256,omitempty"`
	SetBy         string    `json:"set_by"`   // user@host (with the sudo user)
	SetAt         time.Time `json:"set_at"`   // UTC
	SetWith       string    `json:"set_with"` // the command, e.g. "gitboot policy set"
}

// PolicyFlags are a command's --require-signed and --trusted-keys.
type PolicyFlags struct {
	Require  bool
	KeysFile string
	// Command names the command in the record ("gitboot serve").
	Command string
}

// ReadPolicy reads the policy recorded in stateDir; nil when none was ever
// recorded. Any other failure is an error: the caller must not go on as if
// there were no policy.
func ReadPolicy(stateDir string) (*StatePolicy, error) {
	path := filepath.Join(stateDir, PolicyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the signature policy: %w", err)
	}
	var p StatePolicy
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): restore it from a backup or record the policy again with gitboot policy set --state %s", path, err, stateDir)
	}
	if p.Version != PolicyVersion {
		return nil, fmt.Errorf("%s: version %d, this gitboot reads version %d", path, p.Version, PolicyVersion)
	}
	if p.RequireSigned {
		if _, err := p.Keys(stateDir); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// Keys parses the recorded trusted keys; nil when signatures are not
// required.
func (p *StatePolicy) Keys(stateDir string) (*gitsrc.Policy, error) {
	if p == nil || !p.RequireSigned {
		return nil, nil
	}
	if sum := keysDigest([]byte(p.TrustedKeys)); sum != p.KeysSHA256 {
		return nil, fmt.Errorf("%s: the recorded trusted keys do not match their digest (sha256 %s, recorded %s): the file was edited by hand; record the policy again with gitboot policy set",
			filepath.Join(stateDir, PolicyFile), sum, p.KeysSHA256)
	}
	keys, err := gitsrc.ParsePolicy(filepath.Join(stateDir, PolicyFile)+" (copy of "+p.KeysFrom+")", []byte(p.TrustedKeys))
	if err != nil {
		return nil, fmt.Errorf("the recorded signature policy: %w", err)
	}
	return keys, nil
}

// WritePolicy records p in stateDir atomically (mode 0600).
func WritePolicy(stateDir string, p *StatePolicy) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("recording the signature policy: %w", err)
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(stateDir, PolicyFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("recording the signature policy: %w", err)
	}
	return nil
}

// EnforcedPolicy returns the trusted keys a command on stateDir must
// enforce (nil: every commit is accepted) and the policy recorded there
// afterwards (nil: none). With --require-signed the keys file is read and,
// when record is set and the state records no policy yet, recorded; keys
// other than the recorded ones are refused (gitboot policy set changes
// them). Without it the recorded policy is enforced all the same.
func EnforcedPolicy(stateDir string, f PolicyFlags, record bool) (*gitsrc.Policy, *StatePolicy, error) {
	switch {
	case f.Require && f.KeysFile == "":
		return nil, nil, errors.New("--require-signed needs --trusted-keys FILE (armored OpenPGP public keys and/or SSH allowed_signers lines)")
	case !f.Require && f.KeysFile != "":
		return nil, nil, errors.New("--trusted-keys is only used with --require-signed: add it, or drop --trusted-keys")
	}
	rec, err := ReadPolicy(stateDir)
	if err != nil {
		return nil, nil, err
	}
	if !f.Require {
		keys, err := rec.Keys(stateDir)
		return keys, rec, err
	}
	next, keys, err := newStatePolicy(f.KeysFile, f.Command)
	if err != nil {
		return nil, nil, err
	}
	if rec != nil && rec.RequireSigned {
		if rec.KeysSHA256 != next.KeysSHA256 {
			return nil, nil, fmt.Errorf("--trusted-keys %s differs from the trusted keys recorded in %s (copied from %s by %s at %s): "+
				"drop the flags to use the recorded keys, or replace them with gitboot policy set --require-signed --trusted-keys %s --state %s",
				f.KeysFile, filepath.Join(stateDir, PolicyFile), rec.KeysFrom, rec.SetBy, rec.SetAt.Format(time.RFC3339), f.KeysFile, stateDir)
		}
		return keys, rec, nil
	}
	if !record {
		return keys, rec, nil
	}
	next.History = historyOf(rec)
	if err := WritePolicy(stateDir, next); err != nil {
		return nil, nil, err
	}
	return keys, next, nil
}

// SetPolicy records a new policy in stateDir (gitboot policy set): require
// with the keys in keysFile, or no signature requirement (keysFile "").
// It returns the policy recorded before (nil: none) and the new one.
func SetPolicy(stateDir string, require bool, keysFile, command string) (old, next *StatePolicy, err error) {
	old, err = ReadPolicy(stateDir)
	if err != nil && require {
		// A damaged policy may be replaced by a strict one.
		old, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w (to replace it, set --require-signed=true with --trusted-keys)", err)
	}
	switch {
	case require && keysFile == "":
		return nil, nil, errors.New("--require-signed=true needs --trusted-keys FILE")
	case !require && keysFile != "":
		return nil, nil, errors.New("--trusted-keys is only used with --require-signed=true")
	case require:
		if next, _, err = newStatePolicy(keysFile, command); err != nil {
			return nil, nil, err
		}
	default:
		next = &StatePolicy{Version: PolicyVersion, SetBy: Actor(), SetAt: time.Now().UTC(), SetWith: command}
	}
	next.History = historyOf(old)
	if err := WritePolicy(stateDir, next); err != nil {
		return nil, nil, err
	}
	return old, next, nil
}

// newStatePolicy reads and checks the keys in keysFile.
func newStatePolicy(keysFile, command string) (*StatePolicy, *gitsrc.Policy, error) {
	data, err := os.ReadFile(keysFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading trusted keys: %w", err)
	}
	keys, err := gitsrc.ParsePolicy(keysFile, data)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(keysFile)
	if err != nil {
		abs = keysFile
	}
	sum := keysDigest(data)
	return &StatePolicy{
		Version: PolicyVersion, RequireSigned: true, TrustedKeys: string(data), KeysFrom: abs, KeysSHA256: sum,
		SetBy: Actor(), SetAt: time.Now().UTC(), SetWith: command,
	}, keys, nil
}

func historyOf(old *StatePolicy) []PolicyChange {
	if old == nil {
		return nil
	}
	return append(old.History, PolicyChange{RequireSigned: old.RequireSigned, KeysSHA256: old.KeysSHA256, SetBy: old.SetBy, SetAt: old.SetAt, SetWith: old.SetWith})
}

func keysDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Actor names who runs this process for a record: user@host, and the user
// sudo ran it for ("root@head (sudo by alice)").
func Actor() string {
	name := fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	who := name + "@" + host
	if s := os.Getenv("SUDO_USER"); s != "" && s != name {
		who += " (sudo by " + s + ")"
	}
	return who
}

// UntrustedStateError is an applied state whose commit the signature
// policy refuses: it is not served (Restore, RebuildApplied).
type UntrustedStateError struct {
	Commit string
	Err    error
}

func (e *UntrustedStateError) Error() string {
	return fmt.Sprintf("the applied commit %s fails the signature policy and is not served: %v", Short(e.Commit), e.Err)
}

func (e *UntrustedStateError) Unwrap() error { return e.Err }

// verifyApplied checks the applied commit hash against the signature
// policy (Config.Verify) before it is served again.
func (r *Reconciler) verifyApplied(hash string) error {
	if r.cfg.Verify == nil {
		return nil
	}
	commit, err := r.cfg.Source.Resolve(hash)
	if err != nil {
		return &UntrustedStateError{Commit: hash, Err: fmt.Errorf("the commit cannot be read to check its signature: %w", err)}
	}
	if err := r.cfg.Verify(commit); err != nil {
		return &UntrustedStateError{Commit: hash, Err: err}
	}
	return nil
}
