package main

import (
	"fmt"
	"path/filepath"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/spf13/pflag"
)

// signingFlags are --require-signed and --trusted-keys, which serve, plan,
// apply and hooks install share.
type signingFlags struct {
	require bool
	keys    string
}

func (f *signingFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.require, "require-signed", false, "only commits signed by a key in --trusted-keys are accepted")
	fl.StringVar(&f.keys, "trusted-keys", "", "file of trusted keys for --require-signed: armored OpenPGP public keys and/or SSH allowed_signers lines")
}

// policy reads the trusted keys; nil when signatures are not required.
func (f signingFlags) policy() (*gitsrc.Policy, error) { return gitsrc.FlagPolicy(f.require, f.keys) }

// absKeys returns the keys file's absolute path (for the hook, which runs
// elsewhere).
func (f signingFlags) absKeys() (string, error) {
	abs, err := filepath.Abs(f.keys)
	if err != nil {
		return "", fmt.Errorf("--trusted-keys: %w", err)
	}
	return abs, nil
}
