package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gitboot/gitboot/reconcile"
	"github.com/gitboot/gitboot/reconcile/gitsrc"
	"github.com/spf13/cobra"
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
func (f signingFlags) policy() (*gitsrc.Policy, error) {
	switch {
	case f.require && f.keys == "":
		return nil, errors.New("--require-signed needs --trusted-keys FILE (armored OpenPGP public keys and/or SSH allowed_signers lines)")
	case !f.require && f.keys != "":
		return nil, errors.New("--trusted-keys is only used with --require-signed: add it, or drop --trusted-keys")
	case !f.require:
		return nil, nil
	}
	return gitsrc.LoadPolicy(f.keys)
}

// absKeys returns the keys file's absolute path (for the hook, which runs
// elsewhere).
func (f signingFlags) absKeys() (string, error) {
	abs, err := filepath.Abs(f.keys)
	if err != nil {
		return "", fmt.Errorf("--trusted-keys: %w", err)
	}
	return abs, nil
}

// checkSigned resolves ref in src and verifies the commit's signature; it
// returns the commit's hash, so the caller uses the very commit checked.
// A refused commit is reported ("refusing to ACTION: why") and is exit
// status 1.
func checkSigned(cmd *cobra.Command, src *gitsrc.Source, p *gitsrc.Policy, ref, action string) (string, error) {
	commit, err := src.Resolve(ref)
	if err != nil {
		return "", err
	}
	if _, err := src.Verify(commit, p); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "gitboot: refusing to %s: %v\n", action, err)
		return "", exitError{1}
	}
	return commit.Hash, nil
}

// verifySavedPlan checks, with --require-signed or the policy bound to
// --state, the signature of the
// commit a saved plan was made from, in --repo: a plan is applied by
// commit hash, so the signature checked is the one applied.
func verifySavedPlan(cmd *cobra.Command, f planFlags, p *reconcile.Plan) error {
	policy, err := f.policy("gitboot apply", true)
	if policy == nil || err != nil {
		return err
	}
	src, err := gitsrc.Open(f.repo)
	if err != nil {
		return err
	}
	_, err = checkSigned(cmd, src, policy, p.Commit, "apply the plan of commit "+reconcile.Short(p.Commit))
	return err
}

// preReceiveSigned refuses (exit status 1) a push of commit id to ref that
// is not signed by a trusted key, when sign.require. The keys file is read
// at every push, so editing it needs no reinstall. The commit is read with
// `git cat-file` (the pushed objects are quarantined, visible to git only).
func preReceiveSigned(ctx context.Context, stderr io.Writer, ref, id string, sign signingFlags) error {
	policy, err := sign.policy()
	if err != nil {
		fmt.Fprintf(stderr, "gitboot: refusing the push to %s: the trusted keys cannot be read: %v\n", ref, err)
		return exitError{1}
	}
	if policy == nil {
		return nil
	}
	raw, err := gitsrc.CatCommit(ctx, id)
	if err != nil {
		return fmt.Errorf("pre-receive: %w", err)
	}
	signer, err := policy.VerifyRaw(raw)
	if err != nil {
		fmt.Fprintf(stderr, "gitboot: refusing the push to %s: %v.\n", ref, err)
		fmt.Fprintf(stderr, "gitboot: sign it with a key in %s (git commit -S) and push again.\n", sign.keys)
		return exitError{1}
	}
	fmt.Fprintf(stderr, "gitboot: commit %s is signed by %s.\n", reconcile.Short(id), signer)
	return nil
}
