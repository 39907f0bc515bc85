package reconcile

import "fmt"

// brancher is a source that can tell whether a commit is on a branch.
type brancher interface {
	Contains(ref, commit string) (bool, error)
}

// OffBranchError is a saved plan whose commit is not on the tracked ref:
// applying it would serve a commit the next push to the branch undoes
// (and one nobody merged). --force applies it anyway.
type OffBranchError struct{ Commit, Ref string }

func (e *OffBranchError) Error() string {
	return fmt.Sprintf("commit %s is not on %s, the tracked branch: merge it first, or apply with --force", Short(e.Commit), e.Ref)
}

// CheckOnBranch returns an *OffBranchError when commit is not the tracked
// ref's tip or an ancestor of it. A source that cannot tell (not a git
// repository) passes every commit.
func (r *Reconciler) CheckOnBranch(commit string) error {
	b, ok := r.cfg.Source.(brancher)
	if !ok {
		return nil
	}
	in, err := b.Contains(r.cfg.Ref, commit)
	if err != nil {
		return fmt.Errorf("checking that commit %s is on %s: %w", Short(commit), r.cfg.Ref, err)
	}
	if !in {
		return &OffBranchError{Commit: commit, Ref: r.cfg.Ref}
	}
	return nil
}
