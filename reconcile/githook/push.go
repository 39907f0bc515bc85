package githook

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gitboot/gitboot/reconcile/gitsrc"
)

// PreReceive is the pre-receive hook's check of a push to the tracked
// branch: its deletion is refused, with a signing policy its signature is
// checked, then its tree is validated.
type PreReceive struct {
	Ref      string   // the tracked branch, in full (refs/heads/main)
	Validate []string // the validate command and its arguments (see ValidatePush)
	// Policy reads the trusted keys at every push (editing the file needs
	// no reinstall); it returns nil when signatures are not required.
	Policy   func() (*gitsrc.Policy, error)
	KeysFile string    // the trusted keys' file, named when a commit is refused
	Stderr   io.Writer // what git prints to the pusher
}

// Check reads the hook's "old new refname" lines from stdin and checks
// the update of p.Ref, if there is one; other refs pass unchecked. It
// reports whether the push is accepted; a refusal is explained on
// p.Stderr.
func (p PreReceive) Check(ctx context.Context, stdin io.Reader) (bool, error) {
	newID, err := ReadUpdate(stdin, p.Ref)
	if err != nil || newID == "" {
		return err == nil, err
	}
	if strings.Trim(newID, "0") == "" {
		fmt.Fprintf(p.Stderr, "gitboot: refusing to delete %s: gitboot serves this branch. Push a new commit to it instead.\n", p.Ref)
		return false, nil
	}
	if ok, err := p.signed(ctx, newID); !ok || err != nil {
		return false, err
	}
	short := newID[:min(len(newID), 12)]
	valid, err := ValidatePush(ctx, newID, p.Validate, p.Stderr)
	switch {
	case err != nil:
		return false, err
	case !valid:
		fmt.Fprintf(p.Stderr, "gitboot: refusing the push to %s: commit %s is not valid. Fix the errors above and push again.\n", p.Ref, short)
		return false, nil
	}
	fmt.Fprintf(p.Stderr, "gitboot: commit %s is valid; accepting the push to %s.\n", short, p.Ref)
	return true, nil
}

// signed checks commit id's signature when the policy asks for one. The
// commit is read with `git cat-file` (the pushed objects are quarantined,
// visible to git only).
func (p PreReceive) signed(ctx context.Context, id string) (bool, error) {
	if p.Policy == nil {
		return true, nil
	}
	policy, err := p.Policy()
	if err != nil {
		fmt.Fprintf(p.Stderr, "gitboot: refusing the push to %s: the trusted keys cannot be read: %v\n", p.Ref, err)
		return false, nil
	}
	if policy == nil {
		return true, nil
	}
	raw, err := gitsrc.CatCommit(ctx, id)
	if err != nil {
		return false, fmt.Errorf("pre-receive: %w", err)
	}
	signer, err := policy.VerifyRaw(raw)
	if err != nil {
		fmt.Fprintf(p.Stderr, "gitboot: refusing the push to %s: %v.\n", p.Ref, err)
		fmt.Fprintf(p.Stderr, "gitboot: sign it with a key in %s (git commit -S) and push again.\n", p.KeysFile)
		return false, nil
	}
	fmt.Fprintf(p.Stderr, "gitboot: commit %s is signed by %s.\n", id[:min(len(id), 12)], signer)
	return true, nil
}
