package gitsrc

import (
	"errors"
	"fmt"
	"io"

	"github.com/gitboot/gitboot/internal/clio"
)

// FlagPolicy is the policy of the flags --require-signed (require) and
// --trusted-keys (keys): the keys read, or nil when signatures are not
// required; keys without require is an error.
func FlagPolicy(require bool, keys string) (*Policy, error) {
	switch {
	case require && keys == "":
		return nil, errors.New("--require-signed needs --trusted-keys FILE (armored OpenPGP public keys and/or SSH allowed_signers lines)")
	case !require && keys != "":
		return nil, errors.New("--trusted-keys is only used with --require-signed: add it, or drop --trusted-keys")
	case !require:
		return nil, nil
	}
	return LoadPolicy(keys)
}

// CheckSigned resolves ref in s and verifies the commit's signature; it
// returns the commit's hash, so the caller uses the very commit checked.
// A refused commit is reported on stderr ("refusing to ACTION: why") and
// is exit status 1.
func (s *Source) CheckSigned(stderr io.Writer, p *Policy, ref, action string) (string, error) {
	commit, err := s.Resolve(ref)
	if err != nil {
		return "", err
	}
	if _, err := s.Verify(commit, p); err != nil {
		fmt.Fprintf(stderr, "gitboot: refusing to %s: %v\n", action, err)
		return "", clio.Exit{Code: 1}
	}
	return commit.Hash, nil
}
