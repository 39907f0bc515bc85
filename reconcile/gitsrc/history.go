package gitsrc

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// Between returns the commits on tip's first-parent line after since, up
// to max of them, newest first, not counting tip itself: the commits a
// push carried that were never evaluated on their own (superseded by
// tip). found is false when since is not on that line within max commits
// (a force-push, or since is ""): then nothing is returned.
func (s *Source) Between(since, tip string, max int) (hashes []string, found bool, err error) {
	if since == "" || since == tip {
		return nil, since == tip && since != "", nil
	}
	err = s.read(func() error {
		hashes, found = nil, false
		h := plumbing.NewHash(tip)
		for i := 0; i <= max; i++ {
			c, err := s.repo.CommitObject(h)
			if err != nil {
				return fmt.Errorf("reading commit %s: %w", h, err)
			}
			if len(c.ParentHashes) == 0 {
				return nil
			}
			h = c.ParentHashes[0]
			if h.String() == since {
				found = true
				return nil
			}
			if i < max {
				hashes = append(hashes, h.String())
			}
		}
		return nil
	})
	if err != nil || !found {
		return nil, false, err
	}
	return hashes, true, nil
}

// FirstParents returns tip and the commits on its first-parent line,
// newest first, at most max of them in all.
func (s *Source) FirstParents(tip string, max int) ([]string, error) {
	var out []string
	err := s.read(func() error {
		out = out[:0]
		h := plumbing.NewHash(tip)
		for len(out) < max {
			c, err := s.repo.CommitObject(h)
			if err != nil {
				return fmt.Errorf("reading commit %s: %w", h, err)
			}
			out = append(out, h.String())
			if len(c.ParentHashes) == 0 {
				return nil
			}
			h = c.ParentHashes[0]
		}
		return nil
	})
	return out, err
}
