package gitsrc

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// Contains reports whether commit (a full hash) is ref's tip or one of its
// ancestors: on the branch, not on another branch or unreachable.
func (s *Source) Contains(ref, commit string) (bool, error) {
	var in bool
	err := s.read(func() error {
		s.refreshLocked()
		tip, _, err := s.resolveHash(ref)
		if err != nil {
			return err
		}
		if tip.String() == commit {
			in = true
			return nil
		}
		if !plumbing.IsHash(commit) {
			return fmt.Errorf("%q is not a full commit hash", commit)
		}
		c, err := s.repo.CommitObject(plumbing.NewHash(commit))
		if err != nil {
			return fmt.Errorf("reading commit %s: %w", commit, err)
		}
		t, err := s.repo.CommitObject(tip)
		if err != nil {
			return fmt.Errorf("reading commit %s: %w", tip, err)
		}
		in, err = c.IsAncestor(t)
		return err
	})
	return in, err
}
